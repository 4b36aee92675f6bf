"""The TemCoCo network (Gong et al., ICCV 2025), with an exact finite temporal receptive field.

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
   of IR and VI luma whose per-level weights the decoder steers (:mod:`temcoco.model.pyramid`),
   plus a residual; the chroma is VI's plus a residual; returned as RGB. Clean inputs need
   only the blend (faithful fusion); degraded ones also the residual (recovery).

So the output at frame t depends on input frames t-(3+w) .. t+(1+w): temporal_radius is
r = 3 + w; the 2 extra frames on the right are dropped on entry.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from temcoco.model.align import TemporalCooperativeModule
from temcoco.model.blocks import (
    SeparableConv3d,
    TemporalEnhancedMechanism,
    WindowCrossAttention,
    check_shape,
    conv,
    crop_time,
    from_windows,
    pad_to_multiple,
    to_windows,
)
from temcoco.errors import TemcocoError
from temcoco.model.color import rgb_to_ycbcr, ycbcr_to_rgb
from temcoco.model.pyramid import soft_pyramid_blend

VGG_DIM = 256  # VGG19 features[:12] (relu3_1) channels, at 1/4 scale


@dataclass(frozen=True)
class NetworkConfig:
    """Hyper-parameters of a TemCoCo network (stored in the weights file's metadata)."""

    name: str = "small"
    channels: tuple[int, int, int] = (8, 16, 32)  # full, 1/2, 1/4 scale
    heads: int = 2
    window: int = 4  # attention window at 1/4 scale
    mlp_ratio: int = 1  # hidden width of the attention MLPs, in multiples of the channels
    temporal_window: int = 1  # w: temporal attention over t-w .. t+w
    align_channels: int = 16
    dino_dim: int = 384  # DINOv2 token width the semantic head predicts
    pyramid_levels: int = 4  # detail levels of the output blend (base at 1 / 2**levels)
    blend_temperature: float = 1.0 / 255  # softness of the max-magnitude choice between detail coefficients

    @property
    def temporal_radius(self) -> int:
        return 3 + self.temporal_window

    @property
    def spatial_multiple(self) -> int:
        """Input H and W are padded to a multiple of this inside the network: windows tile
        the 1/4 scale, whose half is the coarse alignment level; the blend's pyramid halves it
        ``pyramid_levels`` times."""
        return math.lcm(4 * math.lcm(self.window, 2), 2**self.pyramid_levels)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict, source: str = "network config") -> "NetworkConfig":
        """From a dict (a weights file's metadata, a TOML table); unknown keys are an error naming ``source``."""
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise TemcocoError(f"unknown network config key {unknown[0]!r} in {source}")
        kw = dict(d)
        if "channels" in kw:
            kw["channels"] = tuple(int(c) for c in kw["channels"])
        return cls(**kw)


CONFIGS = {
    "small": NetworkConfig(),
}


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


class TemCoCoNet(nn.Module):
    """TemCoCo fusion network.

    forward(ir (B, T + 2r, 1, H, W), vi (B, T + 2r, 3, H, W), both in 0..1)
        -> fused RGB (B, T, 3, H, W) in 0..1, and with ``aux=True`` also a dict of the core
        frames' degradation gate ``gate`` (B, T) and distillation predictions: ``vis_ir``/``vis_vi``
        (B, T, 256, H/4, W/4) and ``sem_ir``/``sem_vi`` (B, T, dino_dim, H/4, W/4).

    Frame bookkeeping (every temporal op is valid in time): encoder index j is input frame j + 1;
    after the temporal-enhanced mechanism, j + 1 + w; after the temporal cooperative module,
    j + 3 + w = j + r. The first core frame (input r) is encoder index r - 1.
    """

    def __init__(self, config: NetworkConfig) -> None:
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
        x = pad_to_multiple(x.flatten(0, 1), self.config.spatial_multiple)[0]
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
