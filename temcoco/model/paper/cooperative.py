"""Temporal cooperative module: deformable alignment of each frame to its two predecessors,
guided by both encoders' skip features, at 1/2 and then full scale.

For frame i the reference is [fused_i, ir_i, vi_i]; its neighbours are frames i-1 and i-2
(the first two frames of a window use themselves). Offsets (8 deformable groups) are
predicted per neighbour; the full-scale stage adds the 1/2-scale offsets, upsampled by
nearest neighbour and not rescaled, as the published network does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from temcoco.model.layers import DeformConv
from temcoco.model.paper.layers import SepConv3d, conv2d_act

DEFORM_GROUPS = 8  # offset groups
GROUP_WIDTH = 8  # input channels per convolution group (the published groups = channels / 8)


class TemporalCooperation(nn.Module):
    """One alignment stage.

    forward(x (B, C, T, H, W), ir (B, T, C/2, 2H, 2W), vi (B, T, C/2, 2H, 2W), prior offsets or None)
        -> (B, C/2, T, 2H, 2W) and this stage's offsets, per frame a pair (N, 144, 2H, 2W).
    """

    def __init__(self, embed_dim: int) -> None:
        super().__init__()
        c = embed_dim // 2
        self.ConvTrans = nn.Conv3d(embed_dim, c, 1)
        self.cross_modality = conv2d_act(3 * c, c)
        self.cross_frame, self.cross_frame2 = conv2d_act(3 * c, c), conv2d_act(3 * c, c)
        self.temporary_cat, self.temporary_cat2 = conv2d_act(2 * c, c), conv2d_act(2 * c, c)
        self.before_offsets, self.before_offsets2 = nn.Conv2d(c, c, 3, padding=1), nn.Conv2d(c, c, 3, padding=1)
        self.off2d_1 = nn.Conv2d(c, 18 * DEFORM_GROUPS, 3, padding=1)
        self.off2d_2 = nn.Conv2d(c, 18 * DEFORM_GROUPS, 3, padding=1)
        self.dconv_1 = DeformConv(c, GROUP_WIDTH, bias=False)  # DCN v1 as published: no bias, no mask
        self.dconv_2 = DeformConv(c, GROUP_WIDTH, bias=False)
        self.fuse_neighb = conv2d_act(2 * c, c)
        self.fuse_feature = SepConv3d(embed_dim, c)

    def _path(self, k: int) -> tuple[nn.Module, ...]:
        """The layers that align neighbour k (0: frame i-1, 1: frame i-2)."""
        if k == 0:
            return self.cross_frame, self.temporary_cat, self.before_offsets, self.off2d_1, self.dconv_1
        return self.cross_frame2, self.temporary_cat2, self.before_offsets2, self.off2d_2, self.dconv_2

    def _align(self, k: int, own: torch.Tensor, neighbour: torch.Tensor, prior: torch.Tensor | None):
        """Neighbour k's features aligned to the reference (N, C, H, W), and the offsets used."""
        cross, mix, pre, head, dconv = self._path(k)
        n = cross(neighbour)
        offset = head(pre(mix(torch.cat([own, n], 1))))
        if prior is not None:
            offset = offset + F.interpolate(prior, scale_factor=2.0, mode="nearest")
        return dconv(n, offset), offset

    def forward(self, x: torch.Tensor, ir: torch.Tensor, vi: torch.Tensor, prior: list | None = None):
        b, _, t = x.shape[:3]
        x = F.interpolate(self.ConvTrans(x).transpose(1, 2).flatten(0, 1), scale_factor=2.0, mode="nearest")
        x = x.unflatten(0, (b, t))  # (B, T, C/2, 2H, 2W)
        refs = torch.cat([x, ir, vi], 2)
        aligned, offsets = [], []
        for i in range(t):
            ref = refs[:, i]
            own = self.cross_modality(ref)
            n1, n2 = (ref, ref) if i < 2 else (refs[:, i - 1], refs[:, i - 2])
            f1, o1 = self._align(0, own, n1, prior[i][0] if prior else None)
            f2, o2 = self._align(1, own, n2, prior[i][1] if prior else None)
            aligned.append(self.fuse_neighb(torch.cat([f1, f2], 1)))
            offsets.append((o1, o2))
        y = torch.stack(aligned, 1)
        out = self.fuse_feature(torch.cat([x, y], 2).transpose(1, 2)) + x.transpose(1, 2)
        return out, offsets
