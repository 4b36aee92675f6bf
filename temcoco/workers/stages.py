"""The work of one clip, stage by stage. Plain functions: Ray actors run them for `submit`.

Every stage is idempotent: it writes deterministic keys and a marker last, and finds its
own earlier result by that marker, so a retried, duplicated or resumed stage rewrites the
same bytes or skips.
"""

from __future__ import annotations

import logging
import posixpath
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import zarr
from zarr.errors import ContainsArrayError

from temcoco.errors import ClipError, TemcocoError
from temcoco.metrics.policy import MetricPolicy
from temcoco.model.base import FusionMethod
from temcoco.overlap import ChunkSpec, fuse_window, gather, plan_chunks
from temcoco.storage.archive import ClipSource
from temcoco.storage.frames import create_frames, create_inputs, open_frames, open_inputs, read_window, stored_chunks
from temcoco.storage.fs import filesystem, join, read_json, remove_tree, write_json
from temcoco.storage.lease import is_held
from temcoco.storage.video import DEFAULT_MAX_PIXELS
from temcoco.storage.layout import ClipLayout

log = logging.getLogger(__name__)


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


Inputs = Mapping[str, "np.ndarray | zarr.Array"]  # "ir" (T, H, W, 1) and "vi" (T, H, W, 3), uint8

PIPELINE_VERSION = "2"  # bump when ingest, pairing, fusion or encoding semantics change: --incremental redoes every clip


@dataclass(frozen=True)
class InMemory:
    """A clip of at most one chunk, decoded whole and not staged: ir (T, H, W, 1), vi (T, H, W, 3) uint8."""

    ingested: Ingested
    ir: np.ndarray
    vi: np.ndarray

    @property
    def inputs(self) -> dict[str, np.ndarray]:
        return {"ir": self.ir, "vi": self.vi}


def ingest(source: ClipSource, layout: ClipLayout, fingerprint: str, chunk: int,
           storage_options: dict | None = None, limits: Limits = Limits(), halo: int = 0,
           keep_short: bool = False) -> Ingested | InMemory:
    """Decode and align the pair, append it to the clip's input zarr ``chunk`` frames at a time.

    With ``keep_short``, a clip that ends within its first ``chunk`` frames is returned in memory
    instead (nothing is staged: the clip is fused where it was decoded). Frames above
    ``limits.max_pixels``, or a window of ``chunk + 2 * halo`` frames that would not fit
    ``limits.memory``, are a ClipError before anything is decoded.
    """
    from temcoco.storage.pairing import PairStats, iter_pairs, probe_pair

    done = read_json(layout.ingest_marker, storage_options)
    if done and done.get("fingerprint") == fingerprint and done.get("chunk") == chunk:
        return Ingested(**done)
    began = time.perf_counter()
    info = probe_pair(source.ir, source.vi, storage_options, limits.max_pixels)
    limits.check_chunk(chunk + 2 * halo, info.height, info.width)
    stats = PairStats(0, 0, 0, "")
    group, block_ir, block_vi = None, [], []

    def flush() -> None:  # the staged inputs are made with the first full chunk
        nonlocal group
        group = group or create_inputs(layout.staged_inputs, info.height, info.width, chunk, storage_options)
        group["ir"].append(np.stack(block_ir), axis=0)
        group["vi"].append(np.stack(block_vi), axis=0)
        block_ir.clear()
        block_vi.clear()

    for ir, vi in iter_pairs(source.ir, source.vi, storage_options, stats=stats, max_pixels=limits.max_pixels,
                             info=info):
        if len(block_ir) == chunk:  # a full chunk and one frame more: this clip is staged
            flush()
        block_ir.append(ir)
        block_vi.append(vi)
    frames = (group["vi"].shape[0] if group is not None else 0) + len(block_vi)
    if frames == 0:
        raise ClipError("no frame pairs: one of the streams has no frames")
    result = Ingested(fingerprint, frames, info.height, info.width, info.fps, chunk, stats.note,
                      time.perf_counter() - began)
    if group is None and keep_short:
        return InMemory(result, np.stack(block_ir), np.stack(block_vi))
    if block_ir:
        flush()
    write_json(layout.ingest_marker, asdict(result), storage_options)
    return result


def prepare_output(layout: ClipLayout, ingested: Ingested, depth: int,
                   storage_options: dict | None = None) -> list[ChunkSpec]:
    """Open the clip's fused array for these inputs (made by an interrupted or concurrent job of the
    same variant, whose chunking it keeps), or create it, and plan its chunks with ``depth`` halo frames.

    Returns the chunks still to fuse: those without a commit marker for these inputs.
    """
    array = _fused_array(layout, ingested, storage_options)
    done = committed_chunks(layout, ingested.fingerprint, array.chunks[0], storage_options)
    return [s for s in plan_chunks(ingested.frames, array.chunks[0], depth) if s.start not in done]


def _fused_array(layout: ClipLayout, ingested: Ingested, storage_options: dict | None) -> zarr.Array:
    """The fused array of ``layout`` for ``ingested``'s inputs. One made from other inputs is replaced,
    unless the job that made it is still running (then this clip fails, and a later job does it)."""
    shape = (ingested.frames, ingested.height, ingested.width, 3)
    identity = {"fingerprint": ingested.fingerprint, "variant": layout.variant}
    try:
        array = open_frames(layout.fused_frames, storage_options)
    except (FileNotFoundError, KeyError, ValueError):
        try:  # never overwrite here: a concurrent job of this variant may have just made it
            return create_frames(layout.fused_frames, shape, ingested.chunk, storage_options,
                                 attributes={**identity, "job_id": layout.job_id}, overwrite=False)
        except ContainsArrayError:
            array = open_frames(layout.fused_frames, storage_options)
    if array.shape == shape and all(array.attrs.get(k) == v for k, v in identity.items()):
        return array
    owner = array.attrs.get("job_id")
    if owner and owner != layout.job_id and is_held(layout.out, owner, storage_options):
        raise ClipError(f"the running job {owner} is fusing other inputs of this clip with {layout.variant}: "
                        "run this clip again when that job has ended")
    remove_tree(layout.chunk_commits, storage_options)  # markers first: none may vouch for replaced frames
    return create_frames(layout.fused_frames, shape, ingested.chunk, storage_options,
                         attributes={**identity, "job_id": layout.job_id})


def commit_name(start: int, fingerprint: str, chunk: int) -> str:
    """A commit marker's name says which chunk of which inputs it vouches for: ``<start>-<fingerprint>-<chunk>``."""
    return f"{start:012d}-{fingerprint}-{chunk}"


def committed_chunks(layout: ClipLayout, fingerprint: str, chunk: int, storage_options: dict | None) -> set[int]:
    """Starts of the chunks committed for these inputs and chunk length (other and temp files are ignored)."""
    fs, path = filesystem(layout.chunk_commits, storage_options)
    try:
        names = [posixpath.basename(n) for n in fs.ls(path, detail=False)]
    except FileNotFoundError:
        return set()
    suffix = f"-{fingerprint}-{chunk}"
    return {int(n[: -len(suffix)]) for n in names if n.endswith(suffix) and n[: -len(suffix)].isdigit()}


def fuse_chunk(layout: ClipLayout, spec: ChunkSpec, fingerprint: str, method: FusionMethod,
               storage_options: dict | None = None, inputs: Inputs | None = None) -> int:
    """Fuse core frames [spec.start, spec.stop) with the spec's halo; returns frames written (0: already done).

    ``inputs`` are the clip's frames when it is :class:`InMemory`; by default its staged inputs."""
    array = open_frames(layout.fused_frames, storage_options, mode="r+")
    chunk = array.chunks[0]
    marker = join(layout.chunk_commits, commit_name(spec.start, fingerprint, chunk))
    fs, path = filesystem(marker, storage_options)
    if fs.exists(path):
        return 0
    if array.attrs.get("fingerprint") != fingerprint:
        raise ClipError(f"the fused array of {layout.clip_id} was replaced by a job with other inputs")
    inputs = open_inputs(layout.staged_inputs, storage_options) if inputs is None else inputs
    ir, vi = (gather(lambda lo, hi, a=inputs[name]: read_window(a, lo, hi), spec) for name in ("ir", "vi"))
    array[spec.start : spec.stop] = fuse_window(method, spec, ir, vi)
    write_json(marker, {"start": spec.start, "stop": spec.stop, "fingerprint": fingerprint,
                        "variant": layout.variant, "chunk": chunk}, storage_options)
    return spec.stop - spec.start


def check_complete(layout: ClipLayout, ingested: Ingested, storage_options: dict | None = None) -> zarr.Array:
    """The fused array, once every chunk is committed for these inputs and stored; else a ClipError
    naming the frames (missing data is never read as black)."""
    array = open_frames(layout.fused_frames, storage_options)
    chunk = array.chunks[0]
    committed = committed_chunks(layout, ingested.fingerprint, chunk, storage_options)
    stored = stored_chunks(layout.fused_frames, storage_options)
    for spec in plan_chunks(ingested.frames, chunk, 0):
        if spec.start not in committed or spec.start // chunk not in stored:
            what = "were never committed" if spec.start not in committed else "are committed but their data is missing"
            raise ClipError(f"fused frames {spec.start}-{spec.stop - 1} {what}")
    return array


def finish(layout: ClipLayout, ingested: Ingested, storage_options: dict | None = None,
           inputs: Inputs | None = None, policy: MetricPolicy = MetricPolicy()) -> dict:
    """Encode the fused video, compute the clip's metrics under ``policy`` and its report preview, in one
    pass (``inputs`` as for :func:`fuse_chunk`); the metrics run on this worker's torch device.

    Returns the clip metrics, the policy's columns and ``metrics_seconds`` (time spent measuring); the
    preview (frame strips at three moments, per-frame series) is written to ``layout.preview`` (a failure
    there is only logged). Policy ``off``: no metric, null metric columns and series.
    """
    from temcoco.device import resolve_device
    from temcoco.metrics import ClipMetrics
    from temcoco.preview import moments, reduce_series, strip
    from temcoco.storage.video import VideoWriter

    began = time.perf_counter()
    fused = check_complete(layout, ingested, storage_options)
    inputs = open_inputs(layout.staged_inputs, storage_options) if inputs is None else inputs
    metrics = None if policy.mode == "off" else ClipMetrics(policy=policy, device=resolve_device())
    shown, strips, measuring = set(moments(ingested.frames)), [], 0.0
    with VideoWriter(layout.fused_video, ingested.fps, storage_options) as writer:
        for spec in plan_chunks(ingested.frames, fused.chunks[0], 0):
            f = read_window(fused, spec.start, spec.stop)
            ir = read_window(inputs["ir"], spec.start, spec.stop)
            vi = read_window(inputs["vi"], spec.start, spec.stop)
            writer.write(f)
            for t in range(len(f)):
                if metrics is not None:
                    mark = time.perf_counter()
                    metrics.update(ir[t], vi[t], f[t], chunk_start=(t == 0 and spec.start > 0))
                    measuring += time.perf_counter() - mark
                if spec.start + t in shown:
                    strips.append({"frame": spec.start + t, "image": strip(ir[t], vi[t], f[t])})
    mark = time.perf_counter()
    result = metrics.result() if metrics is not None else policy.columns()
    series = metrics.per_frame if metrics is not None else {}
    measuring += time.perf_counter() - mark
    try:  # the preview is a view for the report (which does without it): losing it fails nothing
        write_json(layout.preview, {"clip_id": layout.clip_id, "strips": strips, "chunk": fused.chunks[0],
                                    "series": {k: reduce_series(v) for k, v in series.items()},
                                    "fps": ingested.fps}, storage_options)
    except (OSError, TemcocoError) as e:
        log.warning("clip %s: no report preview: %s", layout.clip_id, e)
    return {**result, "metrics_seconds": measuring, "finish_seconds": time.perf_counter() - began}
