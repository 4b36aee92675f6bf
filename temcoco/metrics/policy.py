"""Which frames a job scores: every one (``full``), every K-th (``sampled``) or none (``off``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from temcoco.errors import TemcocoError
from temcoco.options import check_minimums, option

MODES = ("full", "sampled", "off")
DEFAULT_STRIDE = 8  # divides the default chunk (64): every chunk seam is a scored pair


@dataclass(frozen=True)
class MetricPolicy:
    """``--metrics MODE --metric-stride K`` (DESIGN.md 'Metric policy'); the default is chosen there by measurement.

    ``sampled`` scores frames t with t % K == 0 and the frame pairs (t - 1, t) ending at them;
    ``full`` is stride 1; ``off`` scores nothing (the row keeps status, frames and timings).
    """

    mode: str = field(default="sampled", metadata=option(
        "full, sampled (every --metric-stride-th frame and frame pair) or off (rows keep status, frames, timings)",
        "--metrics"))
    stride: int = field(default=DEFAULT_STRIDE, metadata=option("K of --metrics sampled", "--metric-stride", min=1))

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise TemcocoError(f"unknown --metrics {self.mode!r}: choose {', '.join(MODES)}")
        check_minimums(self)

    @property
    def step(self) -> int:
        """Frames between scored frames: the stride when sampled, 1 when full."""
        return self.stride if self.mode == "sampled" else 1

    def scores(self, t: int) -> bool:
        """Whether frame t (and the pair (t - 1, t), for t >= 1) is scored."""
        return self.mode != "off" and t % self.step == 0

    def columns(self) -> dict:
        """The row's record of it: ``metrics_policy`` and ``metric_stride`` (1 when full, null when off)."""
        return {"metrics_policy": self.mode, "metric_stride": None if self.mode == "off" else self.step}


FULL = MetricPolicy("full")
