"""The small TemCoCo network (``small``; after Gong et al., ICCV 2025), with an exact finite temporal
receptive field: the CPU default.

Pipeline, for a window of frames (B, T + 2r, ., H, W) -> fused core frames (B, T, 3, H, W):

1. per-modality encoders: separable 3-D convs (1x3x3 then 3x1x1, valid in time) at full,
   1/2 and 1/4 scale (each scale's temporal conv sees the same frames, so the encoder
   shrinks T by 2);
2. the paper's *visual-semantic interaction module* at 1/4 scale: per modality a visual and
   a semantic branch (heads distilled to VGG19 relu3_1 and DINOv2 patch tokens of the clean
   frame), windowed cross-attention IR<->VI in each branch, then semantic<->visual, then a merge;
3. the paper's *temporal-enhanced mechanism*: attention across frames t-w .. t+w at each
   position (T shrinks by 2w);
4. the paper's *temporal cooperative module* (recovery of weak, degraded detail from
   neighbouring frames): two-level deformable alignment to frames t-1 and t-2 (T shrinks by 2);
5. decoder with skips from the encoders to YCbCr: the luma is a soft Laplacian-pyramid blend
   of IR and VI luma whose per-level weights the decoder steers (:mod:`temcoco.model.small.pyramid`),
   plus a residual; the chroma is VI's plus a residual; returned as RGB. Clean inputs need
   only the blend (faithful fusion); degraded ones also the residual (recovery).

So the output at frame t depends on input frames t-(3+w) .. t+(1+w): temporal_radius is
r = 3 + w; the 2 extra frames on the right are dropped on entry.
"""

from __future__ import annotations

import torch
from torch import nn

from temcoco.model.color import rgb_to_ycbcr, ycbcr_to_rgb
from temcoco.model.layers import pad_to_multiple
from temcoco.model.small.config import SmallConfig
from temcoco.model.small.cooperative import TemporalCooperativeModule
from temcoco.model.small.layers import Decoder, DegradationGate, Encoder, check_shape, crop_time
from temcoco.model.small.pyramid import soft_pyramid_blend
from temcoco.model.small.temporal import TemporalEnhancedMechanism
from temcoco.model.small.visual_semantic import VisualSemanticInteraction

VGG_DIM = 256  # VGG19 features[:12] (relu3_1) channels, at 1/4 scale


class SmallNet(nn.Module):
    """The small TemCoCo fusion network.

    forward(ir (B, T + 2r, 1, H, W), vi (B, T + 2r, 3, H, W), both in 0..1)
        -> fused RGB (B, T, 3, H, W) in 0..1, and with ``aux=True`` also a dict of the core
        frames' degradation gate ``gate`` (B, T) and distillation predictions: ``vis_ir``/``vis_vi``
        (B, T, 256, H/4, W/4) and ``sem_ir``/``sem_vi`` (B, T, dino_dim, H/4, W/4).

    Frame bookkeeping (every temporal op is valid in time): encoder index j is input frame j + 1;
    after the temporal-enhanced mechanism, j + 1 + w; after the temporal cooperative module,
    j + 3 + w = j + r. The first core frame (input r) is encoder index r - 1.
    """

    def __init__(self, config: SmallConfig = SmallConfig()) -> None:
        super().__init__()
        self.config = config
        c0, c1, c2 = config.channels
        self.enc_ir, self.enc_vi = Encoder(1, config.channels), Encoder(3, config.channels)
        self.visual_semantic_interaction = VisualSemanticInteraction(c2, config.heads, config.window, config.mlp_ratio)
        self.temporal_enhanced = TemporalEnhancedMechanism(c2, config.heads, config.temporal_window)
        self.temporal_cooperative = TemporalCooperativeModule(c2, config.align_channels)
        self.skip1, self.skip0 = nn.Conv2d(2 * c1, c1, 1), nn.Conv2d(2 * c0, c0, 1)
        self.decoder = Decoder(config.channels, config.pyramid_levels)
        self.gate = DegradationGate(c2)
        self.vis_head = nn.Conv2d(c2, VGG_DIM, 1)
        self.sem_head = nn.Conv2d(c2, config.dino_dim, 1)

    @property
    def temporal_radius(self) -> int:
        return self.config.temporal_radius

    @property
    def first_core(self) -> int:
        """Encoder time index of the first core frame (input frame r)."""
        return self.temporal_radius - 1

    def forward(self, ir: torch.Tensor, vi: torch.Tensor, aux: bool = False):
        b, n, _, h, w = check_shape(vi, "B N 3 H W", "vi")
        check_shape(ir, f"{b} {n} 1 {h} {w}", "ir")
        t = n - 2 * self.temporal_radius
        if t < 1:
            raise ValueError(f"need at least {2 * self.temporal_radius + 1} frames "
                             f"(temporal radius {self.temporal_radius}), got {n}")
        ir, vi = self._prepare(ir), self._prepare(vi)
        e_ir, e_vi = self.enc_ir(ir), self.enc_vi(vi)  # 3 scales of (B, n - 4, C_s, ., .)
        f2, branches = self.visual_semantic_interaction(e_ir[2].flatten(0, 1), e_vi[2].flatten(0, 1))
        f2 = self.temporal_enhanced(f2.unflatten(0, (b, n - 4)))  # (B, n - 4 - 2w, C, ., .)
        f2 = self.temporal_cooperative(f2)  # (B, T, C, ., .): index j is input frame j + r
        core = self.first_core
        gate = self.gate(crop_time(e_ir[2], core, t).flatten(0, 1), crop_time(e_vi[2], core, t).flatten(0, 1))
        rgb = self._decode(f2, e_ir, e_vi, ir, vi, gate)[..., :h, :w].unflatten(0, (b, t))
        if not aux:
            return rgb
        return rgb, {"gate": gate.view(b, t), **self._distillation_heads(branches, b, n, t, h, w)}

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n, C, H, W) -> (B, n - 2, C, H', W'): padded to the spatial multiple, channels-last; the
        2 rightmost frames are dropped (the right side of the receptive field needs only 1 + w)."""
        b, n = x.shape[:2]
        x = pad_to_multiple(x, self.config.spatial_multiple).flatten(0, 1)
        return x.contiguous(memory_format=torch.channels_last).unflatten(0, (b, n))[:, : n - 2]

    def _decode(self, f2: torch.Tensor, e_ir: list[torch.Tensor], e_vi: list[torch.Tensor], ir: torch.Tensor,
                vi: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        """Coordinated features (B, T, C2, H/4, W/4), encoder skips and the gate (B * T, 1, 1, 1)
        -> (B * T, 3, H', W') RGB in 0..1."""
        core, r, t = self.first_core, self.temporal_radius, f2.shape[1]
        f1 = self.skip1(torch.cat([crop_time(e_ir[1], core, t), crop_time(e_vi[1], core, t)], 2).flatten(0, 1))
        f0 = self.skip0(torch.cat([crop_time(e_ir[0], core, t), crop_time(e_vi[0], core, t)], 2).flatten(0, 1))
        out = gate * self.decoder(f2.flatten(0, 1), f1, f0)
        delta, logits = out[:, :3], out[:, 3:]
        ycc_vi = rgb_to_ycbcr(crop_time(vi, r, t).flatten(0, 1))
        y_ir = crop_time(ir, r, t).flatten(0, 1)
        luma = soft_pyramid_blend(y_ir, ycc_vi[:, :1], logits, self.config.blend_temperature)
        return ycbcr_to_rgb(torch.cat([luma, ycc_vi[:, 1:]], 1) + delta).clamp(0, 1)

    def _distillation_heads(self, branches: dict[str, torch.Tensor], b: int, n: int, t: int, h: int,
                            w: int) -> dict[str, torch.Tensor]:
        """Branch maps (B * (n - 4), C2, H'/4, W'/4) -> core-frame predictions (B, T, C_teacher, H/4, W/4)."""
        heads = {}
        for key, feat in branches.items():
            core_feat = crop_time(feat.unflatten(0, (b, n - 4)), self.first_core, t).flatten(0, 1)
            head = self.vis_head if key.startswith("vis") else self.sem_head
            heads[key] = head(core_feat)[..., : -(-h // 4), : -(-w // 4)].unflatten(0, (b, t))
        return heads
