"""Temporal-enhanced mechanism: global attention across the frames of a window at each position.

Every output frame attends to every frame of the window, so the network's temporal receptive
field is its whole window (see :mod:`temcoco.model.paper.inference` for how windows are placed).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class TemporalAttention(nn.Module):
    """(B, C, T, H, W) -> (B, C, T, H, W): pre-norm multi-head self-attention over T, residual."""

    def __init__(self, dim: int = 128, heads: int = 8, head_dim: int = 64) -> None:
        super().__init__()
        self.heads = heads
        inner = heads * head_dim
        self.norm = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_k = nn.Linear(dim, inner, bias=False)
        self.to_v = nn.Linear(dim, inner, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(inner, dim)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        seq = x.permute(0, 3, 4, 2, 1).reshape(b * h * w, t, c)  # one sequence of T tokens per position
        normed = self.norm(seq)
        q, k, v = (f(normed).view(b * h * w, t, self.heads, -1).transpose(1, 2) for f in (self.to_q, self.to_k, self.to_v))
        out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b * h * w, t, -1)
        out = self.to_out[0](out) + seq
        return out.view(b, h, w, t, c).permute(0, 4, 3, 1, 2)
