"""Building blocks of the TemCoCo network: separable 3-D convs, windowed cross-attention,
temporal attention and spatial padding.

Layout everywhere: video features are (B, T, C, H, W); spatial ops fold T into the batch.
Every temporal op is "valid" in time: it never pads, and returns fewer frames than it gets.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def check_shape(x: torch.Tensor, spec: str, name: str = "tensor") -> tuple[int, ...]:
    """Check ``x`` against a shape like ``"B T 3 H W"`` (letters: any size, numbers: that size); return its shape.

    Raises ValueError naming ``name``, the expected and the actual shape (cf. kornia's KORNIA_CHECK_SHAPE).
    """
    dims = spec.split()
    if x.ndim != len(dims) or any(d.isdigit() and int(d) != s for d, s in zip(dims, x.shape)):
        raise ValueError(f"{name} must have shape ({', '.join(dims)}), got {tuple(x.shape)}")
    return tuple(x.shape)


def per_frame(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a 2-D module to every frame: (B, T, C, H, W) -> (B, T, C', H', W')."""
    b, t = x.shape[:2]
    y = module(x.flatten(0, 1))
    return y.unflatten(0, (b, t))


def crop_time(x: torch.Tensor, start: int, length: int) -> torch.Tensor:
    """Frames start .. start + length - 1 of (B, T, ...)."""
    return x[:, start : start + length]


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad the last two dims of (N, C, H, W) up to a multiple (replicate when too small).

    Returns the padded tensor and the original (H, W) to crop back to.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


def conv(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)


class SeparableConv3d(nn.Module):
    """Spatial 1x3x3 conv then temporal 3x1x1 conv (valid in time), with a residual.

    (B, T, Cin, H, W) -> (B, T - 2, Cout, H / stride, W / stride). The temporal conv is
    computed as one 1x1 conv to 3 x Cout channels (one group per tap) and a shifted sum,
    which keeps the channels-last layout fast on CPU.
    """

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.spatial = nn.Sequential(conv(cin, cout, 3, stride), nn.LeakyReLU(0.1, inplace=True))
        self.temporal = nn.Conv2d(cout, 3 * cout, 1)

    def spatial_part(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, Cin, H, W) -> (B, T, Cout, H', W'), frame by frame."""
        return per_frame(self.spatial, x)

    def temporal_part(self, s: torch.Tensor) -> torch.Tensor:
        """(B, T, C, H, W) -> (B, T - 2, C, H, W): taps on frames t, t + 1, t + 2."""
        c = s.shape[2]
        z = per_frame(self.temporal, s)
        t = z[:, :-2, :c] + z[:, 1:-1, c : 2 * c] + z[:, 2:, 2 * c :]
        return F.leaky_relu(t, 0.1) + s[:, 1:-1]


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
