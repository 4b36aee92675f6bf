"""3-D window cross-attention with relative position bias (the published cross-modal blocks).

Tokens are (B, T, H, W, C). A block normalises its query and context streams, zero-pads both
to whole (2, 8, 8) windows (the padded tokens take part in attention, unmasked, as in the
published network), attends query -> context inside each window, and adds an MLP.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

WINDOW = (2, 8, 8)


def relative_position_index(window: tuple[int, int, int]) -> torch.Tensor:
    """(N, N) int64 index into the (2wd-1)(2wh-1)(2ww-1) bias table, N = wd*wh*ww."""
    wd, wh, ww = window
    grid = torch.meshgrid(torch.arange(wd), torch.arange(wh), torch.arange(ww), indexing="ij")
    coords = torch.stack(grid).flatten(1)  # (3, N)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)  # (N, N, 3)
    rel = rel + torch.tensor([wd - 1, wh - 1, ww - 1])
    return (rel * torch.tensor([(2 * wh - 1) * (2 * ww - 1), 2 * ww - 1, 1])).sum(-1)


def to_windows(x: torch.Tensor, window: tuple[int, int, int]) -> torch.Tensor:
    """(B, D, H, W, C) with D, H, W multiples of the window -> (B * nW, wd*wh*ww, C)."""
    b, d, h, w, c = x.shape
    wd, wh, ww = window
    x = x.view(b, d // wd, wd, h // wh, wh, w // ww, ww, c).permute(0, 1, 3, 5, 2, 4, 6, 7)
    return x.reshape(-1, wd * wh * ww, c)


def from_windows(x: torch.Tensor, window: tuple[int, int, int], shape: tuple[int, int, int, int]) -> torch.Tensor:
    """Inverse of :func:`to_windows`: (B * nW, N, C) -> (B, D, H, W, C) for shape (B, D, H, W)."""
    b, d, h, w = shape
    wd, wh, ww = window
    x = x.view(b, d // wd, h // wh, w // ww, wd, wh, ww, -1).permute(0, 1, 4, 2, 5, 3, 6, 7)
    return x.reshape(b, d, h, w, -1)


class WindowAttention(nn.Module):
    """Multi-head attention of query windows onto context windows, (M, N, C) x 2 -> (M, N, C)."""

    def __init__(self, dim: int, heads: int, window: tuple[int, int, int] = WINDOW) -> None:
        super().__init__()
        self.heads = heads
        wd, wh, ww = window
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * wd - 1) * (2 * wh - 1) * (2 * ww - 1), heads))
        self.register_buffer("relative_position_index", relative_position_index(window))
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        m, n, c = x.shape
        q = self.q(x).view(m, n, self.heads, -1).transpose(1, 2)
        k, v = self.kv(context).view(m, n, 2, self.heads, -1).permute(2, 0, 3, 1, 4)
        bias = self.relative_position_bias_table[self.relative_position_index[:n, :n].reshape(-1)]
        bias = bias.view(n, n, self.heads).permute(2, 0, 1).to(q.dtype)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return self.proj(out.transpose(1, 2).reshape(m, n, c))


class Mlp(nn.Module):
    """fc1, GELU, fc2: (..., C) -> (..., C)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class WindowCrossBlock(nn.Module):
    """x + WindowAttention(norm1(x) -> norm1y(context)), then + MLP; tokens (B, T, H, W, C)."""

    def __init__(self, dim: int, heads: int, window: tuple[int, int, int] = WINDOW, mlp_ratio: int = 4) -> None:
        super().__init__()
        self.window = window
        self.norm1, self.norm1y = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads, window)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, mlp_ratio * dim)

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        _, t, h, w, _ = x.shape
        wd, wh, ww = self.window
        return F.pad(x, (0, 0, 0, (-w) % ww, 0, (-h) % wh, 0, (-t) % wd))

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, t, h, w, _ = x.shape
        q, kv = self._pad(self.norm1(x)), self._pad(self.norm1y(context))
        out = self.attn(to_windows(q, self.window), to_windows(kv, self.window))
        out = from_windows(out, self.window, tuple(q.shape[:4]))[:, :t, :h, :w]
        x = x + out
        return x + self.mlp(self.norm2(x))


class CrossModalAttention(nn.Module):
    """Two streams attend to each other, (B, C, T, H, W) x 2 -> same: x from y, then y from the new x."""

    def __init__(self, dim: int, heads: int = 4) -> None:
        super().__init__()
        self.blocks_CAx = WindowCrossBlock(dim, heads)
        self.blocks_CAy = WindowCrossBlock(dim, heads)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = x.permute(0, 2, 3, 4, 1), y.permute(0, 2, 3, 4, 1)
        x = self.blocks_CAx(x, y)
        y = self.blocks_CAy(y, x)
        return x.permute(0, 4, 1, 2, 3), y.permute(0, 4, 1, 2, 3)
