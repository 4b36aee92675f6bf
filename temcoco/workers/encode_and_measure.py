"""Encode a fused clip's video and measure it in one pass over its frames; write its report preview."""

from __future__ import annotations

import logging
import time

from temcoco.errors import TemcocoError
from temcoco.metrics.policy import MetricPolicy
from temcoco.overlap import plan_chunks
from temcoco.storage.frames import open_inputs, read_window
from temcoco.storage.fs import write_json
from temcoco.storage.layout import ClipLayout
from temcoco.workers.fused_array import check_complete
from temcoco.workers.ingest import Ingested, Inputs

log = logging.getLogger(__name__)


def encode_and_measure(layout: ClipLayout, ingested: Ingested, storage_options: dict | None = None,
                       inputs: Inputs | None = None, policy: MetricPolicy = MetricPolicy()) -> dict:
    """Encode the fused video, compute the clip's metrics under ``policy`` and its report preview, in one
    pass (``inputs`` as for :func:`~temcoco.workers.fuse_chunk.fuse_chunk`); the metrics run on this
    worker's torch device.

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
