"""Temporal-enhanced mechanism of the small network: attention across the frames t - w .. t + w at
each position, so the temporal receptive field stays finite (exact seams with a finite halo)."""

from __future__ import annotations

import torch
from torch import nn

from temcoco.model.small.layers import crop_time, per_frame


class TemporalEnhancedMechanism(nn.Module):
    """The paper's temporal-enhanced mechanism: attention across frames at each spatial position,
    restricted to t - w .. t + w (a bounded receptive field, so chunks are exact with a finite halo).

    Valid in time: (B, T, C, H, W) -> (B, T - 2w, C, H, W), output i is input frame i + w.
    """

    def __init__(self, dim: int, heads: int, radius: int) -> None:
        super().__init__()
        self.heads, self.radius = heads, radius
        self.norm = nn.GroupNorm(1, dim)
        self.qkv = nn.Conv2d(dim, 3 * dim, 1)
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c, h, w = x.shape
        r, out_t = self.radius, t - 2 * self.radius
        q, k, v = per_frame(self.qkv, per_frame(self.norm, x)).chunk(3, dim=2)
        d = c // self.heads
        q = crop_time(q, r, out_t).reshape(b, out_t, 1, self.heads, d, h, w)
        # neighbours j = 0 .. 2r of output frame i are input frames i + j
        k = torch.stack([crop_time(k, j, out_t) for j in range(2 * r + 1)], dim=2)
        v = torch.stack([crop_time(v, j, out_t) for j in range(2 * r + 1)], dim=2)
        k = k.reshape(b, out_t, 2 * r + 1, self.heads, d, h, w)
        v = v.reshape(b, out_t, 2 * r + 1, self.heads, d, h, w)
        attn = torch.softmax((q * k).sum(4, keepdim=True) / d**0.5, dim=2)  # (B, T', 2r+1, heads, 1, H, W)
        out = (attn * v).sum(2).reshape(b, out_t, c, h, w)
        return crop_time(x, r, out_t) + per_frame(self.proj, out)
