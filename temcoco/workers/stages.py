"""The work of one clip, stage by stage. Plain functions: Ray actors run them for `submit`.

Every stage is idempotent: it writes deterministic keys and a marker last, and finds its
own earlier result by that marker, so a retried, duplicated or resumed stage rewrites the
same bytes or skips.
"""

from __future__ import annotations

import hashlib
import posixpath
import time
from dataclasses import asdict, dataclass

import numpy as np
from zarr.errors import ContainsArrayError

from temcoco.errors import ClipError
from temcoco.model.base import FusionMethod
from temcoco.overlap import ChunkSpec, fuse_window, gather, plan_chunks
from temcoco.storage.archive import ClipSource
from temcoco.storage.frames import create_frames, create_inputs, open_frames, open_inputs, read_window
from temcoco.storage.fs import filesystem, read_json, write_json
from temcoco.storage.layout import ClipLayout


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


def fingerprint(source: ClipSource, storage_options: dict | None = None) -> str:
    """Content fingerprint of a clip's two sources: BLAKE2b over names and bytes of every file."""
    digest = hashlib.blake2b(digest_size=16)
    for side, url in (("ir", source.ir), ("vi", source.vi)):
        fs, path = filesystem(url, storage_options)
        try:
            files = sorted(fs.find(path)) if fs.isdir(path) else [path]
        except OSError as e:
            raise ClipError(f"cannot list {url}: {e}") from e
        for name in files:
            digest.update(f"{side}:{posixpath.relpath(name, path)}\0".encode())
            try:
                with fs.open(name, "rb") as f:
                    while block := f.read(1 << 22):
                        digest.update(block)
            except FileNotFoundError as e:
                raise ClipError(f"{url} disappeared while reading it") from e
    return digest.hexdigest()


def ingest(source: ClipSource, layout: ClipLayout, fingerprint: str, chunk: int,
           storage_options: dict | None = None) -> Ingested:
    """Decode and align the pair, append it to the clip's input zarr ``chunk`` frames at a time."""
    from temcoco.storage.pairing import PairStats, iter_pairs, probe_pair

    done = read_json(layout.ingest_marker, storage_options)
    if done and done.get("fingerprint") == fingerprint and done.get("chunk") == chunk:
        return Ingested(**done)
    began = time.perf_counter()
    info = probe_pair(source.ir, source.vi, storage_options)
    group = create_inputs(layout.staged_inputs, info.height, info.width, chunk, storage_options)
    stats = PairStats(0, 0, 0, "")
    block_ir, block_vi = [], []

    def flush() -> None:
        if block_ir:
            group["ir"].append(np.stack(block_ir), axis=0)
            group["vi"].append(np.stack(block_vi), axis=0)
            block_ir.clear()
            block_vi.clear()

    for ir, vi in iter_pairs(source.ir, source.vi, storage_options, stats=stats):
        block_ir.append(ir)
        block_vi.append(vi)
        if len(block_ir) == chunk:
            flush()
    flush()
    frames = group["vi"].shape[0]
    if frames == 0:
        raise ClipError("no frame pairs: one of the streams has no frames")
    result = Ingested(fingerprint, frames, info.height, info.width, info.fps, chunk, stats.note,
                      time.perf_counter() - began)
    write_json(layout.ingest_marker, asdict(result), storage_options)
    return result


def prepare_output(layout: ClipLayout, ingested: Ingested, version: str, depth: int,
                   storage_options: dict | None = None) -> list[ChunkSpec]:
    """Create the fused array, or keep one made for the same inputs and model version (by an
    interrupted or concurrent job), and plan its chunks with ``depth`` halo frames.

    Returns the chunks still to fuse: those without a commit marker.
    """
    identity = {"fingerprint": ingested.fingerprint, "model_version": version, "chunk": ingested.chunk}
    shape = (ingested.frames, ingested.height, ingested.width, 3)
    fs, commits = filesystem(layout.chunk_commits, storage_options)

    def existing() -> bool | None:
        """True: a matching array exists; False: another one exists; None: none exists."""
        try:
            array = open_frames(layout.fused_frames, storage_options)
        except (FileNotFoundError, KeyError, ValueError):
            return None
        return array.shape == shape and {k: array.attrs.get(k) for k in identity} == identity

    state = existing()
    if state is None:
        try:  # never overwrite here: a concurrent job may have created it and be writing chunks
            create_frames(layout.fused_frames, shape, ingested.chunk, storage_options, attributes=identity, overwrite=False)
        except ContainsArrayError:
            state = existing()
    if state is False:  # made for other inputs or another model: replace it and forget its commits
        if fs.exists(commits):
            fs.rm(commits, recursive=True)
        create_frames(layout.fused_frames, shape, ingested.chunk, storage_options, attributes=identity)
    done = {int(posixpath.basename(p)) for p in fs.ls(commits, detail=False)} if fs.exists(commits) else set()
    return [s for s in plan_chunks(ingested.frames, ingested.chunk, depth) if s.start not in done]


def fuse_chunk(layout: ClipLayout, spec: ChunkSpec, method: FusionMethod,
               storage_options: dict | None = None) -> int:
    """Fuse core frames [spec.start, spec.stop) with the spec's halo; returns frames written (0: already done)."""
    marker = layout.commit_marker(spec.start)
    fs, path = filesystem(marker, storage_options)
    if fs.exists(path):
        return 0
    inputs = open_inputs(layout.staged_inputs, storage_options)
    ir, vi = (gather(lambda lo, hi, a=inputs[name]: read_window(a, lo, hi), spec) for name in ("ir", "vi"))
    fused = fuse_window(method, spec, ir, vi)
    open_frames(layout.fused_frames, storage_options, mode="r+")[spec.start : spec.stop] = fused
    write_json(marker, {"start": spec.start, "stop": spec.stop}, storage_options)
    return spec.stop - spec.start


def finish(layout: ClipLayout, ingested: Ingested, storage_options: dict | None = None) -> dict:
    """Encode the fused video, compute the clip's metrics and its report preview, in one pass.

    Returns the clip metrics; the preview (frame strips at three moments, per-frame series)
    is written to ``layout.preview``.
    """
    from temcoco.metrics import ClipMetrics
    from temcoco.preview import moments, strip
    from temcoco.storage.video import VideoWriter

    began = time.perf_counter()
    inputs = open_inputs(layout.staged_inputs, storage_options)
    fused = open_frames(layout.fused_frames, storage_options)
    metrics = ClipMetrics()
    shown, strips = set(moments(ingested.frames)), []
    with VideoWriter(layout.fused_video, ingested.fps, storage_options) as writer:
        for spec in plan_chunks(ingested.frames, ingested.chunk, 0):
            f = read_window(fused, spec.start, spec.stop)
            ir = read_window(inputs["ir"], spec.start, spec.stop)
            vi = read_window(inputs["vi"], spec.start, spec.stop)
            writer.write(f)
            for t in range(len(f)):
                metrics.update(ir[t], vi[t], f[t], chunk_start=(t == 0 and spec.start > 0))
                if spec.start + t in shown:
                    strips.append({"frame": spec.start + t, "image": strip(ir[t], vi[t], f[t])})
    result = metrics.result()
    write_json(layout.preview, {"clip_id": layout.clip_id, "strips": strips, "per_frame": metrics.per_frame,
                                "chunk": ingested.chunk, "fps": ingested.fps}, storage_options)
    return {**result, "finish_seconds": time.perf_counter() - began}
