"""Visual-semantic interaction: per modality a semantic and a visual branch, cross-modal
window attention inside each branch, semantic <-> visual attention, a merge, then the
temporal-enhanced mechanism.

The semantic branch goes down to 1/16 scale with 1,024 channels (the features distilled to
DINOv2 ViT-L/14 patch tokens) and back up inside the inference path; the visual branch widens
to 256 channels at 1/4 scale (distilled to VGG19 relu3_1).
"""

from __future__ import annotations

import torch
from torch import nn

from temcoco.model.paper.layers import conv_stack
from temcoco.model.paper.temporal import TemporalAttention
from temcoco.model.paper.window_attention import CrossModalAttention

SEMANTIC_DIM = 1024  # DINOv2 ViT-L/14 token width
VISUAL_DIM = 256  # VGG19 relu3_1 channels


class SemanticBranch(nn.Module):
    """(B, C, T, H, W) at 1/4 scale -> features (B, C, T, H, W) and semantic tokens
    (B*T, 1024, H/4, W/4) at 1/16 scale (H, W multiples of 4 here)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(conv_stack(dim, dim))
        self.down = nn.Conv2d(dim, SEMANTIC_DIM, kernel_size=3, stride=4)
        self.up = nn.ConvTranspose2d(SEMANTIC_DIM, dim, kernel_size=3, stride=4, output_padding=1)
        self.conv2 = nn.Sequential(conv_stack(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.conv1(x)
        semantic = self.down(f.transpose(1, 2).flatten(0, 1))  # frames on the batch: (B*T, 1024, h, w)
        back = self.up(semantic)  # (B*T, C, H, W)
        # The published network reshapes the (B*T, C, H, W) result straight to (B, C, T, H, W),
        # which mixes the time and channel axes; its weights were trained that way, so keep it.
        back = back.reshape(f.shape)
        return self.conv2(torch.cat([back, f], 1)), semantic


class VisualBranch(nn.Module):
    """(B, C, T, H, W) -> features (B, C, T, H, W) and visual features (B, 256, T, H, W)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv1 = conv_stack(dim, VISUAL_DIM)
        self.conv2 = conv_stack(VISUAL_DIM, dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        visual = self.conv1(x)
        return self.conv2(visual), visual


class VisualSemanticInteraction(nn.Module):
    """IR and VI 1/4-scale features (B, C, T, H, W) -> fused features (B, C, T, H, W) and the
    distillation features ``sem_ir``, ``sem_vi`` (B*T, 1024, H/4, W/4) and ``vis_ir``,
    ``vis_vi`` (B, 256, T, H, W)."""

    def __init__(self, dim: int = 128) -> None:
        super().__init__()
        self.Branch_s1, self.Branch_v1 = SemanticBranch(dim), VisualBranch(dim)  # VI
        self.Branch_s2, self.Branch_v2 = SemanticBranch(dim), VisualBranch(dim)  # IR
        self.combine_seg = CrossModalAttention(dim)
        self.combine_vis = CrossModalAttention(dim)
        self.SegVisAttn = CrossModalAttention(2 * dim)
        self.combine = conv_stack(4 * dim, dim)
        self.attn_temp = TemporalAttention(dim)

    def forward(self, ir: torch.Tensor, vi: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        sem_vi_f, sem_vi = self.Branch_s1(vi)
        vis_vi_f, vis_vi = self.Branch_v1(vi)
        sem_ir_f, sem_ir = self.Branch_s2(ir)
        vis_ir_f, vis_ir = self.Branch_v2(ir)
        semantic = torch.cat(self.combine_seg(sem_vi_f, sem_ir_f), 1)
        visual = torch.cat(self.combine_vis(vis_vi_f, vis_ir_f), 1)
        fused = self.combine(torch.cat(self.SegVisAttn(semantic, visual), 1))
        feats = {"sem_ir": sem_ir, "vis_ir": vis_ir, "sem_vi": sem_vi, "vis_vi": vis_vi}
        return self.attn_temp(fused), feats
