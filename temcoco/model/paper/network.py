"""The published TemCoCo network (Gong et al., ICCV 2025; public code ``Fusion()``).

forward(ir (B, T, 3, H, W), vi (B, T, 3, H, W), RGB in 0..1; IR as three equal channels)
    -> fused RGB (B, T, 3, H, W), unclamped, and the distillation features.

Pipeline: two encoders (full, 1/2, 1/4 scale) -> visual-semantic interaction and the
temporal-enhanced mechanism at 1/4 scale -> temporal cooperative module at 1/2 and full
scale on the encoders' skip features -> a separable-conv decoder. Every output frame depends
on every input frame. H and W are padded (reflect) to multiples of 16 inside and the output
cropped back; the distillation features are those of the padded frame.
"""

from __future__ import annotations

import torch
from torch import nn

from temcoco.model.layers import pad_to_multiple
from temcoco.model.paper.config import SPATIAL_MULTIPLE, PaperConfig
from temcoco.model.paper.cooperative import TemporalCooperation
from temcoco.model.paper.layers import Decoder, Encoder
from temcoco.model.paper.visual_semantic import VisualSemanticInteraction

WIDTH = 32  # channels at full scale; 64 at 1/2, 128 at 1/4


class PaperNet(nn.Module):
    """The published network; attribute names are the published state_dict keys. ``config`` says
    how it is run over a clip (it is stored in its weights file, not in its state_dict)."""

    def __init__(self, config: PaperConfig = PaperConfig()) -> None:
        super().__init__()
        self.config = config
        self.Enc_ir, self.Enc_vis = Encoder(3, WIDTH), Encoder(3, WIDTH)
        self.SegBranchCombine = VisualSemanticInteraction(4 * WIDTH)
        self.DCN_1 = TemporalCooperation(4 * WIDTH)
        self.DCN_2 = TemporalCooperation(2 * WIDTH)
        self.dec = Decoder(WIDTH, 3)

    def forward(self, ir: torch.Tensor, vi: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Returns fused (B, T, 3, H, W) and ``sem_ir``, ``sem_vi`` (B*T, 1024, H'/16, W'/16),
        ``vis_ir``, ``vis_vi`` (B, 256, T, H'/4, W'/4) for the padded size H', W'."""
        if ir.ndim != 5 or ir.shape != vi.shape or ir.shape[2] != 3:
            raise ValueError(f"PaperNet needs ir and vi of one shape (B, T, 3, H, W), got {tuple(ir.shape)} and {tuple(vi.shape)}")
        h, w = ir.shape[-2:]
        x_ir = pad_to_multiple(ir.transpose(1, 2), SPATIAL_MULTIPLE)  # (B, 3, T, H', W')
        x_vi = pad_to_multiple(vi.transpose(1, 2), SPATIAL_MULTIPLE)
        e_ir, e_vi = self.Enc_ir(x_ir), self.Enc_vis(x_vi)
        f, feats = self.SegBranchCombine(e_ir[2], e_vi[2])
        f, offsets = self.DCN_1(f, e_ir[1].transpose(1, 2), e_vi[1].transpose(1, 2))
        f, _ = self.DCN_2(f, e_ir[0].transpose(1, 2), e_vi[0].transpose(1, 2), offsets)
        fused = self.dec(f)[..., :h, :w].transpose(1, 2)
        return fused, feats
