"""Training the published network with ``temcoco train`` (config ``network = "paper"``).

:class:`PaperTrainee` is :class:`PaperNet` with the interface the trainer uses for every
network: IR (B, T, 1, H, W) in, distillation heads as (B, T, C, h, w). As in the official
training, every frame of a sampled window is a loss frame (``temporal_radius = 0``: no halo),
and the distillation targets are the paper's: the semantic features (1,024 channels at 1/16
scale) learn DINOv2 ViT-L/14 patch tokens of the clean frame resized so that one token
covers 16x16 pixels, the visual features (256 channels at 1/4 scale) learn VGG19 relu3_1.

The official training's slips are fixed (see the model card): its IR visual-distillation
term was dropped by a line break (both modalities count here), and its VGG19 and DINOv2
inputs were not ImageNet-normalised (here they are, as the teachers expect).
"""

from __future__ import annotations

import torch

from temcoco.model.paper.network import PaperNet

SEMANTIC_STRIDE = 16  # input pixels per semantic token


class PaperTrainee(PaperNet):
    """The published network for training; its state_dict and weights file are PaperNet's."""

    temporal_radius = 0  # trained on whole windows: every frame is a loss frame

    def forward(self, ir: torch.Tensor, vi: torch.Tensor, aux: bool = False):
        """ir (B, T, 1, H, W), vi (B, T, 3, H, W) in 0..1 -> fused RGB (B, T, 3, H, W) (unclamped,
        as trained) and with ``aux`` the heads ``sem_*`` (B, T, 1024, H/16, W/16), ``vis_*`` (B, T, 256, H/4, W/4)."""
        if ir.ndim != 5 or ir.shape[2] != 1:
            raise ValueError(f"PaperTrainee needs ir (B, T, 1, H, W), got {tuple(ir.shape)}")
        fused, feats = super().forward(ir.expand(-1, -1, 3, -1, -1), vi)
        if not aux:
            return fused
        b, t = fused.shape[:2]
        return fused, {k: v.unflatten(0, (b, t)) if k.startswith("sem") else v.transpose(1, 2) for k, v in feats.items()}

