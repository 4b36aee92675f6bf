"""Visual-semantic interaction of the small network, at 1/4 scale: per modality a visual and a
semantic branch, windowed cross-attention IR <-> VI in each branch, then semantic <-> visual,
then a merge. The branches' maps feed the distillation heads (VGG19 relu3_1, DINOv2 tokens),
used only in training."""

from __future__ import annotations

import torch
from torch import nn

from temcoco.model.small.window_attention import WindowCrossAttention, from_windows, to_windows


class VisualSemanticInteraction(nn.Module):
    """Visual and semantic branches of both modalities, cross-attended and merged, in
    window-token space (see :func:`to_windows`).

    forward: IR and VI features (N, C, H, W) -> fused (N, C, H, W) and the four branch maps
    ``vis_ir``, ``vis_vi``, ``sem_ir``, ``sem_vi`` (N, C, H, W).
    """

    def __init__(self, dim: int, heads: int, window: int, mlp_ratio: int) -> None:
        super().__init__()
        self.window = window

        def branch() -> nn.Module:
            return nn.Sequential(nn.Linear(dim, dim), nn.LeakyReLU(0.1, inplace=True), nn.Linear(dim, dim))

        def attention() -> WindowCrossAttention:
            return WindowCrossAttention(dim, heads, mlp_ratio)

        self.vis_ir, self.vis_vi, self.sem_ir, self.sem_vi = branch(), branch(), branch(), branch()
        self.vis_cross, self.sem_cross = attention(), attention()
        self.sem_to_vis, self.vis_to_sem = attention(), attention()
        self.merge = nn.Sequential(nn.Linear(4 * dim, dim), nn.LeakyReLU(0.1, inplace=True), nn.Linear(dim, dim))

    def forward(self, ir: torch.Tensor, vi: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        n, _, h, w = ir.shape
        t_ir, t_vi = to_windows(ir, self.window), to_windows(vi, self.window)
        v_ir, v_vi, s_ir, s_vi = self.vis_ir(t_ir), self.vis_vi(t_vi), self.sem_ir(t_ir), self.sem_vi(t_vi)
        m = t_ir.shape[0]
        # IR <-> VI inside each branch (both directions stacked on the batch: one call each)
        vis = self.vis_cross(torch.cat([v_ir, v_vi]), torch.cat([v_vi, v_ir]))
        sem = self.sem_cross(torch.cat([s_ir, s_vi]), torch.cat([s_vi, s_ir]))
        # semantic <-> visual
        vis, sem = self.sem_to_vis(vis, sem), self.vis_to_sem(sem, vis)
        merged = self.merge(torch.cat([vis[:m], vis[m:], sem[:m], sem[m:]], -1))
        fused = ir + vi + from_windows(merged, n, h, w)
        branches = {"vis_ir": v_ir, "vis_vi": v_vi, "sem_ir": s_ir, "sem_vi": s_vi}
        return fused, {k: from_windows(v, n, h, w) for k, v in branches.items()}
