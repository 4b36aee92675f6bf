"""Fuse one chunk of a clip into its fused array, then commit it (see :mod:`temcoco.storage.commits`)."""

from __future__ import annotations

from temcoco.errors import ClipError
from temcoco.model.base import FusionMethod
from temcoco.overlap import ChunkSpec, fuse_window, gather
from temcoco.storage.commits import commit, is_committed
from temcoco.storage.frames import open_frames, open_inputs, read_window
from temcoco.storage.layout import ClipLayout
from temcoco.workers.ingest import Inputs


def fuse_chunk(layout: ClipLayout, spec: ChunkSpec, fingerprint: str, method: FusionMethod,
               storage_options: dict | None = None, inputs: Inputs | None = None) -> int:
    """Fuse core frames [spec.start, spec.stop) with the spec's halo; returns frames written (0: already done).

    ``inputs`` are the clip's frames when it was decoded in memory; by default its staged inputs."""
    array = open_frames(layout.fused_frames, storage_options, mode="r+")
    chunk = array.chunks[0]
    if is_committed(layout, spec.start, fingerprint, chunk, storage_options):
        return 0
    if array.attrs.get("fingerprint") != fingerprint:
        raise ClipError(f"the fused array of {layout.clip_id} was replaced by a job with other inputs")
    inputs = open_inputs(layout.staged_inputs, storage_options) if inputs is None else inputs
    ir, vi = (gather(lambda lo, hi, a=inputs[name]: read_window(a, lo, hi), spec) for name in ("ir", "vi"))
    array[spec.start : spec.stop] = fuse_window(method, spec, ir, vi)
    commit(layout, spec.start, spec.stop, fingerprint, chunk, storage_options)
    return spec.stop - spec.start
