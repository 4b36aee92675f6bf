"""Differentiable BT.601 full-range RGB <-> YCbCr on tensors in 0..1 (same matrix as
``temcoco.model.classical``), channel axis given by ``dim``."""

from __future__ import annotations

import torch

CHROMA_OFFSET = 128.0 / 255.0


def rgb_to_ycbcr(rgb: torch.Tensor, dim: int = -3) -> torch.Tensor:
    """(..., 3, ...) RGB in 0..1 -> YCbCr in 0..1 (chroma centred at 128/255)."""
    r, g, b = rgb.unbind(dim)
    y = 0.299 * r + 0.587 * g + 0.114 * b
    return torch.stack([y, (b - y) * 0.564 + CHROMA_OFFSET, (r - y) * 0.713 + CHROMA_OFFSET], dim)


def ycbcr_to_rgb(ycc: torch.Tensor, dim: int = -3) -> torch.Tensor:
    """Inverse of :func:`rgb_to_ycbcr` (not clipped)."""
    y, cb, cr = ycc.unbind(dim)
    cb, cr = cb - CHROMA_OFFSET, cr - CHROMA_OFFSET
    return torch.stack([y + 1.403 * cr, y - 0.714 * cr - 0.344 * cb, y + 1.773 * cb], dim)
