"""Differentiable BT.601 full-range RGB <-> YCbCr on tensors in 0..1 (same matrix as
``temcoco.model.classical``), channel axis given by ``dim``."""

from __future__ import annotations

import torch


def rgb_to_ycbcr(rgb: torch.Tensor, dim: int = -3) -> torch.Tensor:
    """(..., 3, ...) RGB in 0..1 -> YCbCr in 0..1 (chroma centred at 0.5)."""
    r, g, b = rgb.unbind(dim)
    y = 0.299 * r + 0.587 * g + 0.114 * b
    return torch.stack([y, (b - y) * 0.564 + 0.5, (r - y) * 0.713 + 0.5], dim)


def ycbcr_to_rgb(ycc: torch.Tensor, dim: int = -3) -> torch.Tensor:
    """Inverse of :func:`rgb_to_ycbcr` (not clipped)."""
    y, cb, cr = ycc.unbind(dim)
    cb, cr = cb - 0.5, cr - 0.5
    return torch.stack([y + 1.403 * cr, y - 0.714 * cr - 0.344 * cb, y + 1.773 * cb], dim)
