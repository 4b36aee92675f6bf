"""Temporal cooperative module of the small network: two-level deformable alignment of each frame to its
previous two, which lets weak (noisy, blurred) detail be recovered from neighbouring frames.

The coarse level (half the resolution of the fine one) predicts offsets from the pair of
features, aligns the neighbour with ``torchvision.ops.deform_conv2d``; its offsets are
upsampled (x2 in size and value) and refined at the fine level, where the neighbour is
aligned again. The current frame and its two aligned neighbours are then merged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from temcoco.model.layers import KERNEL, DeformConv
from temcoco.model.small.layers import conv, per_frame


class OffsetHead(nn.Module):
    """Offsets from (current, neighbour[, previous offsets]): -> (N, 2*3*3, H, W), zero at init."""

    def __init__(self, cin: int, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv(cin, c), nn.LeakyReLU(0.1, inplace=True))
        self.out = conv(c, 2 * KERNEL * KERNEL)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x))


class TemporalCooperativeModule(nn.Module):
    """Align each frame to frames t-1 and t-2 and merge.

    Valid in time: (B, T, C, H, W) -> (B, T - 2, C, H, W); output i is input frame i + 2.
    H and W must be even (the coarse level is at half size).
    """

    def __init__(self, dim: int, channels: int) -> None:
        super().__init__()
        self.fine = nn.Conv2d(dim, channels, 1)
        self.coarse = nn.Sequential(conv(channels, channels, 3, 2), nn.LeakyReLU(0.1, inplace=True))
        self.offset_coarse = OffsetHead(2 * channels, channels)
        self.offset_fine = OffsetHead(2 * channels + 2 * KERNEL * KERNEL, channels)
        self.dcn_coarse = DeformConv(channels)
        self.dcn_fine = DeformConv(channels)
        self.merge = nn.Sequential(conv(3 * channels, dim), nn.LeakyReLU(0.1, inplace=True), conv(dim, dim))

    def align(self, cur: torch.Tensor, nb: torch.Tensor) -> torch.Tensor:
        """Fine features (N, c, H, W) of current and neighbour -> aligned neighbour (N, c, H, W)."""
        cur_c, nb_c = self.coarse(cur), self.coarse(nb)
        off_c = self.offset_coarse(torch.cat([cur_c, nb_c], 1))
        aligned_c = self.dcn_coarse(nb_c, off_c)
        off_up = 2.0 * F.interpolate(off_c, size=cur.shape[-2:], mode="bilinear", align_corners=False)
        off_f = off_up + self.offset_fine(torch.cat([cur, nb, off_up], 1))
        up = F.interpolate(aligned_c, size=cur.shape[-2:], mode="bilinear", align_corners=False)
        return self.dcn_fine(nb, off_f) + up

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[:2]
        n = t - 2
        f = per_frame(self.fine, x)  # (B, T, c, H, W)
        cur = f[:, 2:]
        # both neighbours in one batch: t-1 then t-2
        cur2 = torch.cat([cur, cur], 0).flatten(0, 1)
        nb2 = torch.cat([f[:, 1 : 1 + n], f[:, :n]], 0).flatten(0, 1)
        aligned = self.align(cur2, nb2).unflatten(0, (2 * b, n))
        a1, a2 = aligned[:b], aligned[b:]
        merged = per_frame(self.merge, torch.cat([cur, a1, a2], 2))
        return x[:, 2:] + merged
