"""Convolution blocks of the small network, in its (B, T, C, H, W) layout: separable 3-D convs
valid in time, the encoder, the decoder and the degradation gate that scales the decoder's output.

Spatial ops fold T into the batch. Every temporal op is "valid" in time: it never pads, and
returns fewer frames than it gets.
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


class Encoder(nn.Module):
    """(B, T, Cin, H, W) -> three scales of (B, T - 2, C_s, H / 2^s, W / 2^s)."""

    def __init__(self, cin: int, channels: tuple[int, int, int]) -> None:
        super().__init__()
        c0, c1, c2 = channels
        self.scales = nn.ModuleList(
            [SeparableConv3d(cin, c0), SeparableConv3d(c0, c1, stride=2), SeparableConv3d(c1, c2, stride=2)]
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for block in self.scales:
            x = block.spatial_part(x)
            out.append(block.temporal_part(x))
        return out


class Decoder(nn.Module):
    """Coordinated 1/4-scale features and 1/2, full-scale skips (N, C_s, ...) -> (N, 3 + L + 1, H, W):
    the YCbCr residual and the L + 1 logits of the pyramid blend; zero at init (the plain soft blend)."""

    def __init__(self, channels: tuple[int, int, int], levels: int) -> None:
        super().__init__()
        c0, c1, c2 = channels
        self.up2 = nn.Conv2d(c2, c1, 1)
        self.dec1 = nn.Sequential(conv(2 * c1, c1), nn.LeakyReLU(0.1, inplace=True))
        self.up1 = nn.Conv2d(c1, c0, 1)
        self.dec0 = nn.Sequential(conv(2 * c0, c0), nn.LeakyReLU(0.1, inplace=True))
        self.head = conv(c0, 3 + levels + 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, f2: torch.Tensor, f1: torch.Tensor, f0: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(self.up2(f2), size=f1.shape[-2:], mode="bilinear", align_corners=False)
        x = self.dec1(torch.cat([x, f1], 1))
        x = F.interpolate(self.up1(x), size=f0.shape[-2:], mode="bilinear", align_corners=False)
        return self.head(self.dec0(torch.cat([x, f0], 1)))


class DegradationGate(nn.Module):
    """Per-frame gate in 0..1: IR and VI 1/4-scale features (N, C, h, w) each -> (N, 1, 1, 1).

    Global average pooling sees the whole frame (noise, stripes, blur are global properties of a
    camera); starts near 1 (the decoder's output passes).
    """

    def __init__(self, dim: int, hidden: int = 16) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(2 * dim, hidden), nn.LeakyReLU(0.1, inplace=True), nn.Linear(hidden, 1))
        nn.init.zeros_(self.mlp[2].weight)
        nn.init.constant_(self.mlp[2].bias, 3.0)

    def forward(self, ir: torch.Tensor, vi: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([ir.mean(dim=(-2, -1)), vi.mean(dim=(-2, -1))], 1)
        return torch.sigmoid(self.mlp(pooled))[..., None, None]
