"""Overlapping chunks along time: the halo, stated once (as ``dask.array.map_overlap`` does).

depth
    To fuse core frames [start, stop) a method of temporal radius r reads frames
    [start - depth, stop + depth) with ``depth >= r`` (the pipeline uses ``depth = r``).
boundary
    Where that window runs past the clip's true ends, the first (or last) frame is
    repeated ("replicate"): the same frames whatever the chunking.
trim
    The method returns only the core frames; extra halo beyond its radius is dropped
    before it is called (:func:`fuse_window`).

Core ranges are aligned to multiples of the chunk size, which is also the zarr chunk
length along time, so every zarr chunk of the fused array has exactly one writer.
Every caller (the archive flow's actors, in-process ``fuse``) goes through
:func:`plan_chunks` or :func:`stream_windows`, then :func:`fuse_window`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from temcoco.model.base import FusionMethod


@dataclass(frozen=True)
class ChunkSpec:
    """One work item: core frames [start, stop) of a clip of ``frames`` frames, read with ``depth`` halo frames."""

    start: int
    stop: int
    depth: int
    frames: int

    @property
    def read_start(self) -> int:
        return max(0, self.start - self.depth)

    @property
    def read_stop(self) -> int:
        return min(self.frames, self.stop + self.depth)

    @property
    def pad(self) -> tuple[int, int]:
        """Replicated frames needed before and after the read range."""
        return self.read_start - (self.start - self.depth), (self.stop + self.depth) - self.read_stop


def plan_chunks(frames: int, chunk: int, depth: int) -> list[ChunkSpec]:
    """Split ``frames`` frames into aligned core ranges of ``chunk`` frames (the last may be shorter)."""
    if chunk < 1:
        raise ValueError("chunk must be at least 1 frame")
    if depth < 0:
        raise ValueError("depth must be >= 0")
    return [ChunkSpec(start, min(start + chunk, frames), depth, frames) for start in range(0, frames, chunk)]


def replicate_edges(window: np.ndarray, pad: tuple[int, int]) -> np.ndarray:
    """(T, ...) -> (pad[0] + T + pad[1], ...) by repeating the first and last frames."""
    before, after = pad
    if before == 0 and after == 0:
        return window
    return np.concatenate([window[:1].repeat(before, 0), window, window[-1:].repeat(after, 0)])


def gather(read: Callable[[int, int], np.ndarray], spec: ChunkSpec) -> np.ndarray:
    """The window of ``spec``: ``read(lo, hi)`` gives frames [lo, hi) (T, ...); edges are replicated.

    Returns (stop - start + 2 * depth, ...).
    """
    return replicate_edges(read(spec.read_start, spec.read_stop), spec.pad)


def stream_windows(
    frames: Iterator[tuple[np.ndarray, ...]], chunk: int, depth: int
) -> Iterator[tuple[ChunkSpec, tuple[np.ndarray, ...]]]:
    """:func:`plan_chunks` + :func:`gather` for a stream of unknown length.

    Args:
        frames: per time step a tuple of arrays (e.g. (ir (H, W, 1), vi (H, W, 3))).
        chunk: core frames per window.
        depth: halo frames each side.

    Yields:
        (spec, windows): the work item and, per stream, a (stop - start + 2 * depth, ...) array,
        exactly as :func:`gather` makes it. At most ``chunk + 2 * depth`` frames per stream are held.
    """
    buffer: list[tuple[np.ndarray, ...]] = []  # frames [first, first + len(buffer))
    first, start, ended = 0, 0, False
    it = iter(frames)
    while not ended or start < first + len(buffer):
        while not ended and first + len(buffer) < start + chunk + depth:
            try:
                buffer.append(next(it))
            except StopIteration:
                ended = True
        total = first + len(buffer)
        if start >= total:
            return
        stop = min(start + chunk, total)
        spec = ChunkSpec(start, stop, depth, total if ended else stop + depth)
        window = buffer[spec.read_start - first : spec.read_stop - first]
        arrays = tuple(replicate_edges(np.stack([f[i] for f in window]), spec.pad) for i in range(len(window[0])))
        del window
        start = stop
        drop = max(0, start - depth - first)  # frames no later window reads, freed before the caller fuses
        del buffer[:drop]
        first += drop
        yield spec, arrays


def fuse_window(method: FusionMethod, spec: ChunkSpec, ir: np.ndarray, vi: np.ndarray) -> np.ndarray:
    """Fuse the core frames of one window; trims halo beyond the method's radius first.

    Args:
        spec: the window's work item (``spec.depth >= method.temporal_radius``).
        ir: (T + 2 * depth, H, W, 1) uint8; vi: (T + 2 * depth, H, W, 3) uint8, T = stop - start.

    Returns:
        (T, H, W, 3) uint8 fused core frames.
    """
    extra = spec.depth - method.temporal_radius
    if extra < 0:
        raise ValueError(f"a halo of {spec.depth} frames is below {method.name}'s temporal radius "
                         f"{method.temporal_radius}: chunks would not match one-pass fusion")
    if extra:
        ir, vi = ir[extra: len(ir) - extra], vi[extra: len(vi) - extra]
    fused = method.fuse(ir, vi, spec.start)
    if fused.shape != (spec.stop - spec.start, *vi.shape[1:3], 3):
        raise RuntimeError(f"method {method.name} returned {fused.shape} for core frames {spec.start}:{spec.stop}")
    return fused
