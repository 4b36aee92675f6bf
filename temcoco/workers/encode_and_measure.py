"""A fused clip's video encoded, its metrics measured and its report preview made, as its chunks arrive.

:class:`ClipOutput` takes a clip's chunks in order (IR, VI and fused frames) and hands them to an
encoder thread and a measuring thread (PyAV, OpenCV and torch release the GIL), so encoding and
measuring run beside whatever produces the chunks: the fusion of a streamed clip
(:mod:`temcoco.workers.stream_clip`), or the reading of a staged one (:func:`encode_and_measure`).
"""

from __future__ import annotations

import logging
import time

import numpy as np

from temcoco.errors import TemcocoError
from temcoco.metrics.policy import MetricPolicy
from temcoco.overlap import plan_chunks
from temcoco.storage.frames import open_inputs, read_window
from temcoco.storage.fs import write_json
from temcoco.storage.layout import ClipLayout
from temcoco.threads import Consumer
from temcoco.workers.fused_array import check_complete
from temcoco.workers.ingest import Ingested, Inputs

log = logging.getLogger(__name__)


class ClipOutput:
    """The fused video at ``layout.fused_video`` and the clip's metrics under ``policy`` (on this worker's
    torch device), fed chunk by chunk with :meth:`add`; :meth:`close` returns the metrics and writes the
    report preview: frame strips at three moments of a clip of about ``frames`` frames (the count a
    stream's probe gave, when its end is not known yet), per-frame series. A context manager: leaving it
    by an error discards the video.

    Policy ``off``: no metric, null metric columns and series.
    """

    def __init__(self, layout: ClipLayout, fps: float, frames: int, chunk: int, storage_options: dict | None = None,
                 policy: MetricPolicy = MetricPolicy()) -> None:
        from temcoco.device import resolve_device
        from temcoco.metrics import ClipMetrics
        from temcoco.preview import moments
        from temcoco.storage.video import VideoWriter

        self.layout, self.fps, self.chunk, self.policy = layout, fps, chunk, policy
        self.storage_options = storage_options
        self.began = time.perf_counter()
        self.measuring = 0.0  # seconds
        self.strips: list[dict] = []
        self._shown = set(moments(frames))
        self._metrics = None if policy.mode == "off" else ClipMetrics(policy=policy, device=resolve_device())
        self._writer = VideoWriter(layout.fused_video, fps, storage_options)
        self._encoder = Consumer(self._writer.write, name="encoder")
        self._measurer = Consumer(self._measure, depth=2, name="measurer")

    def add(self, start: int, ir: np.ndarray, vi: np.ndarray, fused: np.ndarray) -> None:
        """Frames [start, start + T) of the clip: ir (T, H, W, 1), vi and fused (T, H, W, 3) uint8."""
        self._encoder.put(fused)
        self._measurer.put((start, ir, vi, fused))

    def _measure(self, item: tuple[int, np.ndarray, np.ndarray, np.ndarray]) -> None:
        from temcoco.preview import strip

        start, ir, vi, fused = item
        mark = time.perf_counter()
        for t in range(len(fused)):
            if self._metrics is not None:
                self._metrics.update(ir[t], vi[t], fused[t], chunk_start=(t == 0 and start % self.chunk == 0
                                                                          and start > 0))
            if start + t in self._shown:
                self.strips.append({"frame": start + t, "image": strip(ir[t], vi[t], fused[t])})
        self.measuring += time.perf_counter() - mark

    def close(self) -> dict:
        """Wait for the encoder and the measurer; the video is published, the preview written. Returns the
        clip metrics, the policy's columns, ``metrics_seconds`` and ``finish_seconds`` (since creation)."""
        self._measurer.close()
        self._encoder.close()
        self._writer.close()
        mark = time.perf_counter()
        result = self._metrics.result() if self._metrics is not None else self.policy.columns()
        series = self._metrics.per_frame if self._metrics is not None else {}
        self._close_metrics()
        self.measuring += time.perf_counter() - mark
        self._write_preview(series)
        return {**result, "metrics_seconds": self.measuring, "finish_seconds": time.perf_counter() - self.began}

    def _write_preview(self, series: dict) -> None:
        from temcoco.preview import reduce_series

        try:  # the preview is a view for the report (which does without it): losing it fails nothing
            write_json(self.layout.preview, {
                "clip_id": self.layout.clip_id, "strips": self.strips, "chunk": self.chunk,
                "series": {k: reduce_series(v) for k, v in series.items()}, "fps": self.fps,
            }, self.storage_options)
        except (OSError, TemcocoError) as e:
            log.warning("clip %s: no report preview: %s", self.layout.clip_id, e)

    def __enter__(self) -> ClipOutput:
        return self

    def __exit__(self, error_type, error, traceback) -> None:
        if error_type is not None:
            self._measurer.cancel()
            self._encoder.cancel()
            self._close_metrics()
            self._writer.__exit__(error_type, error, traceback)  # discarded

    def _close_metrics(self) -> None:
        if self._metrics is not None:
            self._metrics.close()


def encode_and_measure(layout: ClipLayout, ingested: Ingested, storage_options: dict | None = None,
                       inputs: Inputs | None = None, policy: MetricPolicy = MetricPolicy()) -> dict:
    """Encode and measure a clip whose fused frames are all committed (see :class:`ClipOutput`), reading
    them and its inputs (``inputs``: the frames of a clip decoded in memory; by default its staged
    inputs) a chunk at a time."""
    fused = check_complete(layout, ingested, storage_options)
    inputs = open_inputs(layout.staged_inputs, storage_options) if inputs is None else inputs
    chunk = fused.chunks[0]
    with ClipOutput(layout, ingested.fps, ingested.frames, chunk, storage_options, policy) as output:
        for spec in plan_chunks(ingested.frames, chunk, 0):
            output.add(spec.start, *(read_window(a, spec.start, spec.stop)
                                     for a in (inputs["ir"], inputs["vi"], fused)))
        return output.close()
