"""Differentiable Laplacian pyramids and the per-level soft blend of two images.

The network's luma output starts from this blend: at each detail level the coefficient of
larger magnitude wins softly (``sigmoid((|a| - |b|) / temperature + logit)``), the base
level is blended by ``sigmoid(logit)``. With zero logits it is a soft version of the
classical Laplacian-pyramid rule (``temcoco.model.classical``); the network predicts the
logits, i.e. where to deviate from it.

Shapes: images (N, 1, H, W) with H and W multiples of 2**levels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _down_w(x: torch.Tensor) -> torch.Tensor:
    """(..., W) -> (..., W/2): 5-tap binomial (1 4 6 4 1) / 16 blur along W, even samples only."""
    first, last = x[..., :1], x[..., -1:]
    p, w = torch.cat([first, first, x, last, last], -1), x.shape[-1]  # replicate by 2: any size
    tap = lambda i: p[..., i : i + w : 2]  # noqa: E731
    return (tap(0) + tap(4) + 4 * (tap(1) + tap(3)) + 6 * tap(2)) / 16


def _up_w(x: torch.Tensor) -> torch.Tensor:
    """(..., w) -> (..., 2w): zeros between samples, then the same blur with gain 2, in polyphase
    form (even outputs (1 6 1) / 8 of the neighbours, odd outputs (1 1) / 2)."""
    p, w = torch.cat([x[..., :1], x, x[..., -1:]], -1), x.shape[-1]  # replicate by 1
    prev, cur, nxt = p[..., :w], p[..., 1 : w + 1], p[..., 2:]
    return torch.stack([(prev + 6 * cur + nxt) / 8, (cur + nxt) / 2], -1).flatten(-2)


def down(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, H/2, W/2): blur, keep even pixels (H, W even)."""
    return _down_w(_down_w(x).transpose(-1, -2)).transpose(-1, -2)


def up(x: torch.Tensor) -> torch.Tensor:
    """(N, C, h, w) -> (N, C, 2h, 2w): the binomial interpolation of Burt & Adelson's pyramid."""
    return _up_w(_up_w(x).transpose(-1, -2)).transpose(-1, -2)


def laplacian_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """(N, C, H, W) -> ``levels`` detail images (full size first) and the base (H / 2**levels)."""
    out = []
    for _ in range(levels):
        low = down(x)
        out.append(x - up(low))
        x = low
    out.append(x)
    return out


def collapse(pyramid: list[torch.Tensor]) -> torch.Tensor:
    """Inverse of :func:`laplacian_pyramid`."""
    x = pyramid[-1]
    for detail in reversed(pyramid[:-1]):
        x = up(x) + detail
    return x


def soft_pyramid_blend(a: torch.Tensor, b: torch.Tensor, logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Blend images a, b (N, 1, H, W) level by level.

    ``logits`` (N, L + 1, H, W): channel l < L steers detail level l (average-pooled to that
    level's size), channel L the base (H / 2**L). Returns (N, 1, H, W).
    """
    levels = logits.shape[1] - 1
    pa, pb = laplacian_pyramid(a, levels), laplacian_pyramid(b, levels)
    blended = []
    for level, (da, db) in enumerate(zip(pa, pb)):
        logit = F.avg_pool2d(logits[:, level : level + 1], 2**level) if level else logits[:, :1]
        if level < levels:
            logit = logit + (da.abs() - db.abs()) / temperature
        w = torch.sigmoid(logit)
        blended.append(db + w * (da - db))
    return collapse(blended)
