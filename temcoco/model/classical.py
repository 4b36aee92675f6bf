"""Classical per-frame fusion baselines: average, max and Laplacian-pyramid fusion.

All three fuse luminance only: the IR frame with the Y channel of the visible frame
(BT.601 full-range YCbCr); the visible chroma (Cb, Cr) is kept. They look at one frame
at a time, so ``temporal_radius`` is 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB -> (..., 3) float32 YCbCr in 0..255 (BT.601 full range)."""
    x = rgb.astype(np.float32)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = (b - y) * 0.564 + 128.0
    cr = (r - y) * 0.713 + 128.0
    return np.stack([y, cb, cr], axis=-1)


def ycbcr_to_rgb(ycc: np.ndarray) -> np.ndarray:
    """(..., 3) float YCbCr in 0..255 -> (..., 3) uint8 RGB (rounded, clipped)."""
    y, cb, cr = ycc[..., 0], ycc[..., 1] - 128.0, ycc[..., 2] - 128.0
    r = y + 1.403 * cr
    g = y - 0.714 * cr - 0.344 * cb
    b = y + 1.773 * cb
    return np.clip(np.rint(np.stack([r, g, b], axis=-1)), 0, 255).astype(np.uint8)


def _average(ir: np.ndarray, y: np.ndarray) -> np.ndarray:
    return 0.5 * (ir + y)


def _maximum(ir: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.maximum(ir, y)


def _laplacian_pyramid(img: np.ndarray, levels: int) -> list[np.ndarray]:
    pyr, cur = [], img
    for _ in range(levels):
        down = cv2.pyrDown(cur)
        up = cv2.pyrUp(down, dstsize=(cur.shape[1], cur.shape[0]))
        pyr.append(cur - up)
        cur = down
    pyr.append(cur)
    return pyr


def _laplacian(ir: np.ndarray, y: np.ndarray, levels: int = 4) -> np.ndarray:
    """Detail levels: coefficient of larger magnitude; base level: mean."""
    levels = max(0, min(levels, int(np.log2(max(1, min(ir.shape[:2])))) - 2))
    pa, pb = _laplacian_pyramid(ir, levels), _laplacian_pyramid(y, levels)
    fused = [np.where(np.abs(a) >= np.abs(b), a, b) for a, b in zip(pa[:-1], pb[:-1])]
    cur = 0.5 * (pa[-1] + pb[-1])
    for detail in reversed(fused):
        cur = cv2.pyrUp(cur, dstsize=(detail.shape[1], detail.shape[0])) + detail
    return cur


RULES = {"average": _average, "max": _maximum, "laplacian": _laplacian}


@dataclass(frozen=True)
class ClassicalFusion:
    """A per-frame luminance fusion rule (``average``, ``max`` or ``laplacian``)."""

    name: str
    temporal_radius: int = 0

    def __post_init__(self) -> None:
        if self.name not in RULES:
            raise ValueError(f"unknown classical method {self.name!r}; choose from {sorted(RULES)}")

    @property
    def version(self) -> str:
        return f"{self.name}-1"

    def fuse(self, ir: np.ndarray, vi: np.ndarray, first: int = 0) -> np.ndarray:
        """ir (T, H, W, 1) uint8, vi (T, H, W, 3) uint8 -> (T, H, W, 3) uint8 (``first`` is not needed)."""
        rule = RULES[self.name]
        out = np.empty(vi.shape, np.uint8)
        for t in range(vi.shape[0]):
            ycc = rgb_to_ycbcr(vi[t])
            ycc[..., 0] = np.clip(rule(ir[t, ..., 0].astype(np.float32), ycc[..., 0]), 0, 255)
            out[t] = ycbcr_to_rgb(ycc)
        return out
