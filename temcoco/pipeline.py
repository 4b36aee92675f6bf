"""In-process fusion of one IR/VI pair (``temcoco fuse``): decode -> fuse -> encode, streamed.

Decoding and encoding run in their own threads (PyAV releases the GIL), connected to the
fusion loop by small bounded queues, so memory holds a few chunks whatever the clip length.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass

from temcoco.model.base import FusionMethod
from temcoco.device import resolve_device
from temcoco.metrics.policy import MetricPolicy
from temcoco.overlap import ChunkSpec, fuse_window, stream_windows
from temcoco.storage.pairing import PairStats, iter_pairs, probe_pair
from temcoco.storage.video import VideoWriter
from temcoco.threads import Consumer, threaded


@dataclass(frozen=True)
class FuseResult:
    frames: int
    width: int
    height: int
    fps: float
    seconds: float
    note: str
    metrics: dict | None = None  # ClipMetrics.result() under the policy asked for; None when off
    metrics_seconds: float = 0.0  # of ``seconds``, the time spent measuring


def fuse_pair(
    ir_url: str, vi_url: str, out_url: str, method: FusionMethod, chunk: int = 64, depth: int | None = None,
    storage_options: dict | None = None, on_frames: Callable[[int], None] | None = None,
    policy: MetricPolicy = MetricPolicy("off"),
) -> FuseResult:
    """Fuse a pair into an H.264 video at ``out_url``, ``chunk`` core frames at a time, reading ``depth``
    halo frames each side (default: the method's temporal radius; see :mod:`temcoco.overlap`), and
    measure the fused frames under ``policy`` (on the method's torch device)."""
    began = time.perf_counter()
    depth = method.temporal_radius if depth is None else depth
    info = probe_pair(ir_url, vi_url, storage_options)
    stats = PairStats(0, 0, 0, "")
    frames, meter = 0, _Meter(policy, resolve_device())
    with (closing(threaded(iter_pairs(ir_url, vi_url, storage_options, stats=stats, info=info), depth=chunk)) as pairs,
          VideoWriter(out_url, info.fps, storage_options) as writer, Consumer(writer.write, name="encoder") as encoder):
        for spec, window in stream_windows(pairs, chunk, depth):
            fused = fuse_window(method, spec, *window)
            meter.update(spec, window, fused)
            del window  # freed before the next window is gathered, not after
            encoder.put(fused)
            del fused  # the encoder frees it once encoded
            frames += spec.stop - spec.start
            if on_frames:
                on_frames(spec.stop - spec.start)
    metrics = meter.result()
    return FuseResult(frames, info.width, info.height, info.fps, time.perf_counter() - began, stats.note,
                      metrics, meter.seconds)


class _Meter:
    """The metric suite of ``fuse``: ClipMetrics over each window's core frames, timed."""

    def __init__(self, policy: MetricPolicy, device) -> None:
        from temcoco.metrics import ClipMetrics

        self.seconds = 0.0
        self._metrics = None if policy.mode == "off" else ClipMetrics(policy=policy, device=device)

    def update(self, spec: ChunkSpec, window: tuple, fused) -> None:
        """window: (ir, vi) with ``spec.depth`` halo frames each side; fused (T, H, W, 3) its core frames."""
        if self._metrics is None:
            return
        began = time.perf_counter()
        ir, vi = (w[spec.depth : spec.depth + len(fused)] for w in window)
        for t in range(len(fused)):
            self._metrics.update(ir[t], vi[t], fused[t], chunk_start=(t == 0 and spec.start > 0))
        self.seconds += time.perf_counter() - began

    def result(self) -> dict | None:
        if self._metrics is None:
            return None
        began = time.perf_counter()
        result = self._metrics.result()
        self._metrics.close()
        self.seconds += time.perf_counter() - began
        return result
