"""Ingest: decode and align a clip's pair, then keep a short clip in memory or stage it to zarr.

A clip's pair is opened once (:func:`open_pair`: both sources probed, the limits checked before
anything is decoded) and read in one pass. :func:`decode_in_memory` reads its first chunk and
keeps it whole when the clip ends there (it is fused where it was decoded, nothing staged);
:func:`stage_to_zarr` appends every frame not yet staged to the clip's staged inputs and writes the
ingest marker last. :func:`ingest` stages a clip, or finds it staged by its marker.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass

import numpy as np
import zarr

from temcoco.errors import ClipError
from temcoco.storage.archive import ClipSource
from temcoco.storage.frames import create_inputs
from temcoco.storage.fs import read_json, write_json
from temcoco.storage.layout import ClipLayout
from temcoco.storage.pairing import PairInfo, PairStats, iter_pairs, probe_pair
from temcoco.storage.video import DEFAULT_MAX_PIXELS

Inputs = Mapping[str, "np.ndarray | zarr.Array"]  # "ir" (T, H, W, 1) and "vi" (T, H, W, 3), uint8
Pair = tuple[np.ndarray, np.ndarray]  # ir (H, W, 1), vi (H, W, 3) uint8


@dataclass(frozen=True)
class Limits:
    """What one worker may take on: the largest frame, and the memory for one chunk in flight."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    memory: int = 8 << 30  # bytes
    BYTES_PER_PIXEL = 64  # estimate per frame pixel of a window in flight: staged IR+VI, fused RGB, float features

    def check_chunk(self, frames: int, height: int, width: int) -> None:
        """ClipError when a window of ``frames`` frames of height x width would not fit :attr:`memory`."""
        need = frames * height * width * self.BYTES_PER_PIXEL
        if need > self.memory:
            raise ClipError(f"a window of {frames} frames at {width}x{height} needs about {need / 2**30:.1f} GiB, "
                            f"above this worker's {self.memory / 2**30:.1f} GiB: use a smaller --chunk or more "
                            "--cpus-per-worker")


@dataclass(frozen=True)
class Ingested:
    """What ingest learned about a clip; also the content of its ingest marker."""

    fingerprint: str
    frames: int
    height: int
    width: int
    fps: float
    chunk: int
    note: str
    seconds: float


@dataclass(frozen=True)
class InMemory:
    """A clip of at most one chunk, decoded whole and not staged: ir (T, H, W, 1), vi (T, H, W, 3) uint8."""

    ingested: Ingested
    ir: np.ndarray
    vi: np.ndarray

    @property
    def inputs(self) -> dict[str, np.ndarray]:
        return {"ir": self.ir, "vi": self.vi}


@dataclass
class OpenPair:
    """A clip's pair being decoded, in one pass: ``pairs`` yields the frames not read yet."""

    fingerprint: str
    chunk: int
    info: PairInfo
    stats: PairStats  # final once ``pairs`` is exhausted
    pairs: Iterator[Pair]
    began: float  # perf_counter

    def ingested(self, frames: int) -> Ingested:
        """The record of the pair decoded to its end, ``frames`` pairs long."""
        if frames == 0:
            raise ClipError("no frame pairs: one of the streams has no frames")
        return Ingested(self.fingerprint, frames, self.info.height, self.info.width, self.info.fps, self.chunk,
                        self.stats.note, time.perf_counter() - self.began)


def staged(layout: ClipLayout, fingerprint: str, chunk: int, storage_options: dict | None = None) -> Ingested | None:
    """The clip's ingest record when this job already staged these inputs in chunks of ``chunk`` frames."""
    done = read_json(layout.ingest_marker, storage_options)
    if done and done.get("fingerprint") == fingerprint and done.get("chunk") == chunk:
        return Ingested(**done)
    return None


def open_pair(source: ClipSource, fingerprint: str, chunk: int, storage_options: dict | None = None,
              limits: Limits = Limits(), halo: int = 0) -> OpenPair:
    """Probe both sources once. Frames above ``limits.max_pixels``, or a window of ``chunk + 2 * halo``
    frames that would not fit ``limits.memory``, are a ClipError before anything is decoded."""
    began = time.perf_counter()
    info = probe_pair(source.ir, source.vi, storage_options, limits.max_pixels)
    limits.check_chunk(chunk + 2 * halo, info.height, info.width)
    stats = PairStats(0, 0, 0, "")
    pairs = iter_pairs(source.ir, source.vi, storage_options, stats=stats, max_pixels=limits.max_pixels, info=info)
    return OpenPair(fingerprint, chunk, info, stats, pairs, began)


def decode_in_memory(pair: OpenPair) -> InMemory | None:
    """The whole clip when it ends within its first chunk; None when it is longer (the frames read stay
    in ``pair``, for :func:`stage_to_zarr`)."""
    head = list(itertools.islice(pair.pairs, pair.chunk + 1))
    if len(head) > pair.chunk:
        pair.pairs = itertools.chain(head, pair.pairs)
        return None
    ingested = pair.ingested(len(head))
    ir, vi = zip(*head)
    return InMemory(ingested, np.stack(ir), np.stack(vi))


def stage_to_zarr(pair: OpenPair, layout: ClipLayout, storage_options: dict | None = None) -> Ingested:
    """Append the pair's frames to the clip's staged inputs ``pair.chunk`` frames at a time (made with the
    first chunk), then write the ingest marker."""
    group, frames = None, 0
    while block := list(itertools.islice(pair.pairs, pair.chunk)):
        ir, vi = zip(*block)
        group = group or create_inputs(layout.staged_inputs, pair.info.height, pair.info.width, pair.chunk,
                                       storage_options)
        group["ir"].append(np.stack(ir), axis=0)
        group["vi"].append(np.stack(vi), axis=0)
        frames += len(block)
    ingested = pair.ingested(frames)
    write_json(layout.ingest_marker, asdict(ingested), storage_options)
    return ingested


def ingest(source: ClipSource, layout: ClipLayout, fingerprint: str, chunk: int,
           storage_options: dict | None = None, limits: Limits = Limits(), halo: int = 0) -> Ingested:
    """Stage the clip's aligned pair to zarr (see :func:`open_pair` for the limits), or find it staged."""
    return (staged(layout, fingerprint, chunk, storage_options)
            or stage_to_zarr(open_pair(source, fingerprint, chunk, storage_options, limits, halo), layout,
                             storage_options))
