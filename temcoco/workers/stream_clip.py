"""A long clip streamed through one actor: decoded, fused, written, encoded and measured in one pass.

What ``temcoco fuse`` does for one pair, on the archive path: the pair is decoded on a thread ahead
of the fusion loop (:func:`temcoco.overlap.stream_windows` makes the windows with their halo, as
:func:`temcoco.overlap.gather` makes them from staged inputs), each chunk's fused core frames are
written to the clip's fused array and committed, and handed to :class:`ClipOutput`'s encoder and
measurer threads. Nothing is staged: the inputs are read once. The fused array grows chunk by chunk
(the clip's length is known at its end); chunks an interrupted run committed for these inputs are
read back, not fused again. The pool streams a clip when another clip waits to begin, so fanning its
chunks out over the pool would only add staging (see :mod:`temcoco.flows.fuse_archive`).
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass

import numpy as np
import zarr

from temcoco.metrics.policy import MetricPolicy
from temcoco.model.base import FusionMethod
from temcoco.overlap import ChunkSpec, fuse_window, stream_windows
from temcoco.storage.commits import commit, committed_chunks
from temcoco.storage.frames import grow, read_window, stored_chunks
from temcoco.storage.layout import ClipLayout
from temcoco.threads import threaded
from temcoco.workers.encode_and_measure import ClipOutput
from temcoco.workers.fused_array import fused_array
from temcoco.workers.ingest import Ingested, OpenPair


@dataclass(frozen=True)
class Streamed:
    """A streamed clip: its ingest record, its metrics (see :meth:`ClipOutput.close`) and the chunks and
    frames this call fused (chunks committed earlier are read back)."""

    ingested: Ingested
    metrics: dict
    chunks: int
    frames_fused: int


def stream_clip(pair: OpenPair, layout: ClipLayout, method: FusionMethod, policy: MetricPolicy,
                storage_options: dict | None = None) -> Streamed:
    """Fuse the clip of ``pair`` (its first frames may have been read already: they are in ``pair.pairs``)
    into its fused array, encode its video and measure it under ``policy``, in one pass."""
    so, info = storage_options, pair.info
    array = fused_array(layout, pair.fingerprint, (None, info.height, info.width, 3), pair.chunk, so)
    chunk = array.chunks[0]
    done = committed_chunks(layout, pair.fingerprint, chunk, so) & {i * chunk for i in stored_chunks(
        layout.fused_frames, so)}
    frames = chunks = fused_frames = 0
    with (ClipOutput(layout, info.fps, info.vi.frames or chunk, chunk, so, policy) as output,
          closing(threaded(pair.pairs, chunk)) as decoded):
        for spec, (ir, vi) in stream_windows(decoded, chunk, method.temporal_radius):
            if spec.start in done and array.shape[0] >= spec.stop:
                fused = read_window(array, spec.start, spec.stop)
            else:
                fused = _fuse_and_commit(array, spec, method, ir, vi, layout, pair.fingerprint, so)
                chunks, fused_frames = chunks + 1, fused_frames + len(fused)
            core = slice(spec.depth, spec.depth + len(fused))
            output.add(spec.start, ir[core], vi[core], fused)
            frames = spec.stop
        ingested = pair.ingested(frames)
        return Streamed(ingested, output.close(), chunks, fused_frames)


def _fuse_and_commit(array: zarr.Array, spec: ChunkSpec, method: FusionMethod, ir: np.ndarray, vi: np.ndarray,
                     layout: ClipLayout, fingerprint: str, storage_options: dict | None) -> np.ndarray:
    """The window's fused core frames (T, H, W, 3), written to ``array`` (grown to hold them) and committed."""
    fused = fuse_window(method, spec, ir, vi)
    grow(array, spec.stop)
    array[spec.start : spec.stop] = fused
    commit(layout, spec.start, spec.stop, fingerprint, array.chunks[0], storage_options)
    return fused
