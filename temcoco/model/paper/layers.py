"""Convolution blocks of the published network, in its (B, C, T, H, W) layout.

Every 3-D conv is followed by LeakyReLU(0.2); a separable conv is a 1x3x3 spatial conv then
a 3x1x1 temporal conv zero-padded in time (so T is kept, and a frame sees its neighbours).
Attribute names follow the published state_dict keys.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvAct3d(nn.Module):
    """Conv3d with a 1xkxk (spatial) or kx1x1 (temporal) kernel + LeakyReLU(0.2):
    (B, Cin, T, H, W) -> (B, Cout, T', H', W').

    The weights are a Conv3d's; the convolution runs as a 2-D one (frames on the batch for a
    spatial kernel, H*W flattened for a temporal one), the same sums, several times faster
    than the 3-D kernel on CPU.
    """

    def __init__(self, cin: int, cout: int, kernel: tuple[int, int, int], stride: tuple[int, int, int], padding: tuple[int, int, int]) -> None:
        super().__init__()
        if kernel[0] != 1 and kernel[1:] != (1, 1):
            raise ValueError(f"kernel {kernel} is neither spatial (1, k, k) nor temporal (k, 1, 1)")
        self.conv3d = nn.Conv3d(cin, cout, kernel, stride, padding)
        self.act = nn.LeakyReLU(0.2, inplace=True)  # on the conv's fresh output: saves a copy

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, t, h, w = x.shape
        c = self.conv3d
        if c.kernel_size[0] == 1:
            frames = x.transpose(1, 2).flatten(0, 1)  # (B*T, Cin, H, W)
            y = F.conv2d(frames, c.weight[:, :, 0], c.bias, c.stride[1:], c.padding[1:])
            y = y.unflatten(0, (b, t)).transpose(1, 2)
        else:
            y = F.conv2d(x.flatten(3), c.weight[..., 0], c.bias, c.stride[:2], c.padding[:2])
            y = y.unflatten(3, (h, w))
        return self.act(y)


class SepConv3d(nn.Module):
    """(B, Cin, T, H, W) -> (B, Cout, T, H / stride, W / stride): 1x3x3 conv, then 3x1x1 conv."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.spatial_conv = ConvAct3d(cin, cout, (1, 3, 3), (1, stride, stride), (0, 1, 1))
        self.depth_conv = ConvAct3d(cout, cout, (3, 1, 1), (1, 1, 1), (1, 0, 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.depth_conv(self.spatial_conv(x))


class Residual(nn.Module):
    """x + SepConv3d(x), channels kept."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.main_branch = nn.Sequential(SepConv3d(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.main_branch(x)


def conv_stack(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """A separable conv (with the stride) and two residual separable convs."""
    return nn.Sequential(SepConv3d(cin, cout, stride), Residual(cout), Residual(cout))


def conv2d_act(cin: int, cout: int) -> nn.Sequential:
    """3x3 Conv2d + LeakyReLU(0.2), as a one-layer Sequential (keys ``.0.weight``)."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.LeakyReLU(0.2, inplace=True))


class Encoder(nn.Module):
    """One modality's encoder: (B, 3, T, H, W) -> features at full, 1/2 and 1/4 scale,
    (B, 32, T, H, W), (B, 64, T, H/2, W/2), (B, 128, T, H/4, W/4)."""

    def __init__(self, cin: int = 3, width: int = 32) -> None:
        super().__init__()
        self.conv0 = SepConv3d(cin, width)
        self.conv1 = conv_stack(width, width)
        self.conv2 = conv_stack(width, 2 * width, stride=2)
        self.conv3 = conv_stack(2 * width, 4 * width, stride=2)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        f0 = self.conv1(self.conv0(x))
        f1 = self.conv2(f0)
        return [f0, f1, self.conv3(f1)]


class Decoder(nn.Module):
    """(B, 32, T, H, W) -> (B, 3, T, H, W): one separable conv (its LeakyReLU included)."""

    def __init__(self, width: int = 32, cout: int = 3) -> None:
        super().__init__()
        self.conv0 = SepConv3d(width, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv0(x)
