"""The validation split and its scores: what training reports as it goes and ``bench/quality.py`` tables.

Two parts, never trained on:

- **clean pairs**: held-out image pairs, each fused as a static clip (the pair repeated over the
  window), scored against its sources;
- **degraded sequences**: held-out M3SVD sequences, degraded inputs fused as the chunk planner
  gives them (edge frames replicated), scored against the CLEAN sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from temcoco.metrics.clip import ClipMetrics, MetricConfig
from temcoco.model.base import FusionMethod
from temcoco.model.data import Clip, Pair, load_clips, load_pairs, pair_names, split_pairs


@dataclass(frozen=True)
class ValidationSplit:
    """Which data is held out (a training config carries it, so the split is on record)."""

    pairs_root: Path
    sequences_root: Path
    pair_every: int = 8  # every 8th pair of the sorted list is held out
    sequences: tuple[str, ...] = ("0115_1834",)  # held-out M3SVD sequences

    def train_pairs(self) -> list[str]:
        return split_pairs(pair_names(self.pairs_root), self.pair_every)[0]

    def val_pairs(self) -> list[str]:
        return split_pairs(pair_names(self.pairs_root), self.pair_every)[1]


def fuse_clip(method: FusionMethod, ir: np.ndarray, vi: np.ndarray) -> np.ndarray:
    """A whole clip (T, H, W, C) uint8 with its edge frames replicated r times, as the chunk planner does."""
    r = method.temporal_radius
    idx = np.clip(np.arange(-r, ir.shape[0] + r), 0, ir.shape[0] - 1)
    return method.fuse(ir[idx], vi[idx])


def score_clip(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray, feacd: bool = False) -> dict:
    """The metric suite of a fused clip (T, H, W, 3) against clean sources ir (T, H, W, 1), vi (T, H, W, 3)."""
    m = ClipMetrics(MetricConfig(flow="dis", feacd=feacd))
    for t in range(fused.shape[0]):
        m.update(ir[t], vi[t], fused[t])
    return m.result()


def score_pair(method: FusionMethod, pair: Pair, frames: int = 1) -> dict:
    """A pair fused as a static clip of ``frames`` frames, scored against its sources."""
    ir, vi = np.repeat(pair.ir[None], frames, 0), np.repeat(pair.vi[None], frames, 0)
    return score_clip(fuse_clip(method, ir, vi), ir, vi)


def score_sequence(method: FusionMethod, clip: Clip) -> dict:
    """Degraded inputs in, clean sources as references."""
    return score_clip(fuse_clip(method, clip.ir_in, clip.vi_in), clip.ir_gt, clip.vi_gt)


def mean_scores(rows: list[dict], names: tuple[str, ...]) -> dict[str, float | None]:
    """Mean of each named metric over the rows where it is defined."""
    out = {}
    for name in names:
        values = [r[name] for r in rows if r.get(name) is not None]
        out[name] = float(np.mean(values)) if values else None
    return out


class Validator:
    """The quick validation training reports: ``pairs`` clean held-out pairs and the held-out sequences."""

    PAIR_METRICS = ("VIF", "Qabf", "SSIM")
    SEQUENCE_METRICS = ("VIF", "Qabf", "SSIM", "flowD")

    def __init__(self, split: ValidationSplit, pairs: int = 8) -> None:
        self.pairs = load_pairs(split.pairs_root, split.val_pairs()[:pairs])
        self.clips = load_clips(split.sequences_root, names=set(split.sequences)) if split.sequences else []

    def __call__(self, method: FusionMethod) -> dict[str, float | None]:
        """``clean_<metric>`` and ``degraded_<metric>`` means."""
        clean = mean_scores([score_pair(method, p) for p in self.pairs], self.PAIR_METRICS)
        degraded = mean_scores([score_sequence(method, c) for c in self.clips], self.SEQUENCE_METRICS)
        return {**{f"clean_{k}": v for k, v in clean.items()}, **{f"degraded_{k}": v for k, v in degraded.items()}}
