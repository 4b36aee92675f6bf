"""Layers both networks use: the deformable convolution and the spatial padding to a multiple."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import deform_conv2d

KERNEL = 3  # the deformable convolution's kernel size


class DeformConv(nn.Module):
    """A 3x3 deformable convolution (DCN v1: no mask) whose offsets are given.

    (N, C, H, W), offsets (N, 2 * 3 * 3 * G, H, W) -> (N, C, H, W), for G offset groups. The
    convolution has C / ``group_width`` groups (one, by default) and a bias unless ``bias=False``.
    Offsets, weight and bias are cast to the input's dtype.
    """

    def __init__(self, channels: int, group_width: int | None = None, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(channels, group_width or channels, KERNEL, KERNEL))
        if bias:
            self.bias = nn.Parameter(torch.zeros(channels))
        else:
            self.register_parameter("bias", None)
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)

    def forward(self, x: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return deform_conv2d(x, offset.to(x.dtype), self.weight.to(x.dtype), bias, padding=KERNEL // 2)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad H and W of (..., C, H, W) at the bottom and right up to a multiple of ``multiple``:
    reflect, or replicate where a side is too small to reflect."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if not (ph or pw):
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x.flatten(0, -4), (0, pw, 0, ph), mode=mode).unflatten(0, x.shape[:-3])
