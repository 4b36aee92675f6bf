"""Fusion and temporal metrics of fused videos (see ``clip`` for the per-clip suite)."""

from temcoco.metrics.clip import METRIC_COLUMNS, ClipMetrics, MetricConfig, SeamRatio, evaluate_streams
from temcoco.metrics.fusion import fusion_batch, fusion_metrics, luminance
from temcoco.metrics.policy import MetricPolicy
from temcoco.metrics.temporal import feacd, flowd, make_flows

__all__ = [
    "METRIC_COLUMNS", "ClipMetrics", "MetricConfig", "MetricPolicy", "SeamRatio", "evaluate_streams",
    "fusion_batch", "fusion_metrics", "luminance", "feacd", "flowd", "make_flows",
]
