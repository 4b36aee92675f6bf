"""2-D window cross-attention of the small network: tokens of non-overlapping ws x ws windows of
a (N, C, H, W) map, attended window by window, without position bias."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def to_windows(x: torch.Tensor, window: int) -> torch.Tensor:
    """(N, C, H, W) -> (N * H/ws * W/ws, ws*ws, C) tokens of non-overlapping windows."""
    n, c, h, w = x.shape
    x = x.reshape(n, c, h // window, window, w // window, window)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(-1, window * window, c)


def from_windows(x: torch.Tensor, n: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`to_windows`: -> (N, C, H, W) in channels-last memory."""
    window = int(round(x.shape[1] ** 0.5))
    c = x.shape[2]
    x = x.reshape(n, h // window, w // window, window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(n, h, w, c).permute(0, 3, 1, 2)


class WindowCrossAttention(nn.Module):
    """Multi-head attention of query tokens to context tokens of the same window, then an
    MLP; both pre-norm with residuals.

    Tokens (M, L, C), (M, L, C) -> (M, L, C), M windows of L = ws*ws tokens (see :func:`to_windows`).
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm_q, self.norm_kv, self.norm_mlp = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """(M, L, C) -> (M, heads, L, C / heads)."""
        m, length, c = x.shape
        return x.view(m, length, self.heads, c // self.heads).transpose(1, 2)

    def forward(self, query: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        q = self._heads(self.q(self.norm_q(query)))
        k, v = self.kv(self.norm_kv(context)).chunk(2, dim=-1)
        out = F.scaled_dot_product_attention(q, self._heads(k), self._heads(v))
        x = query + self.proj(out.transpose(1, 2).flatten(2))
        return x + self.mlp(self.norm_mlp(x))
