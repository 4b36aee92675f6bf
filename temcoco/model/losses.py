"""The TemCoCo training losses, on BT.601 YCbCr in 0..1.

Fused frames are compared with the (clean) source frames: SSIM to both, max-intensity,
pixel consistency, colour (CbCr to VI), max-gradient (Sobel), the temporal loss (cosine
similarity of fused and IR frame differences), and distillation of the visual and
semantic branches to VGG19 relu3_1 and DINOv2 patch tokens. Default weights follow the
paper's public code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from temcoco.model.color import rgb_to_ycbcr


@dataclass(frozen=True)
class LossWeights:
    ssim: float = 1.0
    ssim_ir: float = 1.0  # weight of the IR SSIM term relative to the VI one
    intensity_max: float = 10.0
    consist: float = 1.0
    consist_ir: float = 1.0  # weight of the IR consistency term relative to the VI one
    color: float = 20.0
    grad: float = 10.0
    temporal: float = 2.0
    vgg: float = 1.0
    dino: float = 1.0
    vif: float = 0.0  # 1 - mean VIF to the two sources (not in the paper: the metric's own definition)
    edge: float = 0.0  # 1 - edge-strength transfer (Qabf's strength term; not in the paper)
    gate: float = 0.0  # binary cross-entropy of the degradation gate to whether the input was degraded


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    g = torch.tensor([math.exp(-((i - size // 2) ** 2) / (2 * sigma**2)) for i in range(size)])
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 11) -> torch.Tensor:
    """Mean SSIM of (N, 1, H, W) images in 0..1 (Gaussian window, valid region)."""
    win = _gaussian_window(min(window, a.shape[-2], a.shape[-1])).to(a)
    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = F.conv2d(a, win), F.conv2d(b, win)
    var_a = F.conv2d(a * a, win) - mu_a**2
    var_b = F.conv2d(b * b, win) - mu_b**2
    cov = F.conv2d(a * b, win) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.mean()


def ssim_loss(y_f: torch.Tensor, y_vi: torch.Tensor, y_ir: torch.Tensor, ir_weight: float = 1.0) -> torch.Tensor:
    """(1 - SSIM to VI) + ir_weight (1 - SSIM to IR); luma (N, 1, H, W)."""
    return (1 - ssim(y_f, y_vi)) + ir_weight * (1 - ssim(y_f, y_ir))


def intensity_max_loss(y_f: torch.Tensor, y_vi: torch.Tensor, y_ir: torch.Tensor) -> torch.Tensor:
    """L1 between the fused luma and the pixel-wise max of the sources."""
    return F.l1_loss(y_f, torch.maximum(y_vi, y_ir))


def consist_loss(y_f: torch.Tensor, y_vi: torch.Tensor, y_ir: torch.Tensor, ir_weight: float = 1.0) -> torch.Tensor:
    """Pixel consistency: L1 to VI luma + ir_weight L1 to IR."""
    return F.l1_loss(y_f, y_vi) + ir_weight * F.l1_loss(y_f, y_ir)


def color_loss(cbcr_f: torch.Tensor, cbcr_vi: torch.Tensor) -> torch.Tensor:
    """L1 of the fused chroma (N, 2, H, W) to the VI chroma (sum of the Cb and Cr terms)."""
    return 2 * F.l1_loss(cbcr_f, cbcr_vi)


def sobel(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """|d/dx|, |d/dy| Sobel magnitudes of (N, 1, H, W), replicate-padded."""
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]).to(x)[None, None]
    xp = F.pad(x, (1, 1, 1, 1), mode="replicate")
    return F.conv2d(xp, kx).abs(), F.conv2d(xp, kx.transpose(-1, -2)).abs()


def grad_loss(y_f: torch.Tensor, y_vi: torch.Tensor, y_ir: torch.Tensor) -> torch.Tensor:
    """L1 of the fused Sobel gradients to the max of the sources' gradients, x and y."""
    (fx, fy), (vx, vy), (ix, iy) = sobel(y_f), sobel(y_vi), sobel(y_ir)
    return F.l1_loss(fx, torch.maximum(vx, ix)) + F.l1_loss(fy, torch.maximum(vy, iy))


def _gaussian_1d(n: int, sigma: float, like: torch.Tensor) -> torch.Tensor:
    x = torch.arange(n, dtype=like.dtype, device=like.device) - (n - 1) / 2
    g = torch.exp(-(x * x) / (2 * sigma * sigma))
    return g / g.sum()


def _filter_valid(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Separable filter of (N, 1, H, W) with 1-D kernel k, valid part only."""
    return F.conv2d(F.conv2d(x, k.view(1, 1, 1, -1)), k.view(1, 1, -1, 1))


VIF_NOISE = 2.0  # the metric's visual-noise variance, in 0..255 units
VIF_EPS = 1e-10


def vif_index(f: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Differentiable VIFp of fused f against reference ref, (N, 1, H, W) in 0..1 -> (N,).

    The definition of ``temcoco.metrics.fusion.vif`` (4 scales, Gaussian windows of 2^(5-s)+1
    taps, sigma_n^2 = 2 on 0..255, the same edge cases); scales smaller than their window are skipped.
    """
    f, ref = 255.0 * f, 255.0 * ref
    num, den = f.new_zeros(f.shape[0]), f.new_zeros(f.shape[0])
    for scale in range(1, 5):
        n = 2 ** (5 - scale) + 1
        k = _gaussian_1d(n, n / 5.0, f)
        if scale > 1:
            if min(f.shape[-2:]) < 2 * n:
                break
            f, ref = _filter_valid(f, k)[..., ::2, ::2], _filter_valid(ref, k)[..., ::2, ::2]
        if min(f.shape[-2:]) < n:
            break
        mu1, mu2 = _filter_valid(ref, k), _filter_valid(f, k)
        s1 = (_filter_valid(ref * ref, k) - mu1 * mu1).clamp(min=0)
        s2 = (_filter_valid(f * f, k) - mu2 * mu2).clamp(min=0)
        s12 = _filter_valid(ref * f, k) - mu1 * mu2
        g = s12 / (s1 + VIF_EPS)
        sv = s2 - g * s12
        keep = (s1 >= VIF_EPS) & (s2 >= VIF_EPS) & (g >= 0)
        sv = torch.where(keep, sv, torch.where(s2 >= VIF_EPS, s2, torch.zeros_like(s2))).clamp(min=VIF_EPS)
        g = torch.where(keep, g, torch.zeros_like(g))
        s1 = torch.where(s1 >= VIF_EPS, s1, torch.zeros_like(s1))
        num = num + torch.log10(1 + g * g * s1 / (sv + VIF_NOISE)).flatten(1).sum(1)
        den = den + torch.log10(1 + s1 / VIF_NOISE).flatten(1).sum(1)
    return torch.where(den > 0, num / den.clamp(min=VIF_EPS), torch.ones_like(num))


def vif_loss(y_f: torch.Tensor, y_vi: torch.Tensor, y_ir: torch.Tensor) -> torch.Tensor:
    """1 - the mean over frames of (VIF to IR + VIF to VI) / 2; luma (N, 1, H, W)."""
    return 1 - 0.5 * (vif_index(y_f, y_ir) + vif_index(y_f, y_vi)).mean()


def _edge_strength(x: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude of (N, 1, H, W), zero-padded (Qabf's convention), on 0..255."""
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]).to(x)[None, None]
    x = 255.0 * x
    return torch.sqrt(F.conv2d(x, kx, padding=1) ** 2 + F.conv2d(x, kx.transpose(-1, -2), padding=1) ** 2 + 1e-6)


def edge_loss(y_f: torch.Tensor, y_vi: torch.Tensor, y_ir: torch.Tensor) -> torch.Tensor:
    """1 - Qabf's edge-strength transfer: sum over both sources of Qg(g_S, g_F) g_S / sum of g_S, where
    Qg = 0.9994 sigmoid(15 (min(g_S, g_F) / max(g_S, g_F) - 0.5)); luma (N, 1, H, W)."""
    g_f = _edge_strength(y_f)
    num = den = 0.0
    for src in (y_ir, y_vi):
        g_s = _edge_strength(src)
        ratio = torch.minimum(g_s, g_f) / torch.maximum(g_s, g_f)
        num = num + (0.9994 * torch.sigmoid(15 * (ratio - 0.5)) * g_s).sum()
        den = den + g_s.sum()
    return 1 - num / den


def temporal_loss(y_f: torch.Tensor, y_ir: torch.Tensor) -> torch.Tensor:
    """Mean over consecutive frames of 1 - cos(fused difference, IR difference); (B, T, H, W), T >= 2."""
    d_f = (y_f[:, 1:] - y_f[:, :-1]).flatten(2)
    d_ir = (y_ir[:, 1:] - y_ir[:, :-1]).flatten(2)
    return (1 - F.cosine_similarity(d_f, d_ir, dim=2, eps=1e-6)).mean()


def distill_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE of a predicted feature map (N, C, h, w), resampled to the target's grid, to the target (N, C, h', w')."""
    if pred.shape[-2:] != target.shape[-2:]:
        pred = F.interpolate(pred, size=target.shape[-2:], mode="bilinear", align_corners=False)
    return F.mse_loss(pred, target)


class FusionLoss:
    """All terms and their weighted total.

    ``__call__(fused (B, T, 3, H, W) RGB, ir (B, T, 1, H, W), vi (B, T, 3, H, W) RGB, heads, targets, degraded)``
    -> dict of each weighted term and ``total``. ``degraded`` (B,) says which samples had degraded
    inputs (for the gate term, with ``heads["gate"]`` (B, T)). ``heads`` are the network's distillation
    predictions (B, T, C, h, w) and ``targets`` the teachers' features of the clean frames
    (``vis_ir``, ``vis_vi``, ``sem_ir``, ``sem_vi``, each (B*T, C, h', w')); missing keys are skipped.
    """

    def __init__(self, weights: LossWeights = LossWeights()) -> None:
        self.w = weights

    def __call__(
        self,
        fused: torch.Tensor,
        ir: torch.Tensor,
        vi: torch.Tensor,
        heads: dict[str, torch.Tensor] | None = None,
        targets: dict[str, torch.Tensor] | None = None,
        degraded: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        b, t = fused.shape[:2]
        ycc_f = rgb_to_ycbcr(fused.float().flatten(0, 1))
        ycc_vi = rgb_to_ycbcr(vi.float().flatten(0, 1))
        y_f, y_vi, y_ir = ycc_f[:, :1], ycc_vi[:, :1], ir.float().flatten(0, 1)
        w = self.w
        terms = {
            "ssim": w.ssim * ssim_loss(y_f, y_vi, y_ir, w.ssim_ir),
            "intensity_max": w.intensity_max * intensity_max_loss(y_f, y_vi, y_ir),
            "consist": w.consist * consist_loss(y_f, y_vi, y_ir, w.consist_ir),
            "color": w.color * color_loss(ycc_f[:, 1:], ycc_vi[:, 1:]),
            "grad": w.grad * grad_loss(y_f, y_vi, y_ir),
        }
        if w.vif:
            terms["vif"] = w.vif * vif_loss(y_f, y_vi, y_ir)
        if w.edge:
            terms["edge"] = w.edge * edge_loss(y_f, y_vi, y_ir)
        if t >= 2:
            terms["temporal"] = w.temporal * temporal_loss(y_f.view(b, t, *y_f.shape[-2:]), y_ir.view(b, t, *y_ir.shape[-2:]))
        if w.gate and heads is not None and degraded is not None:  # degraded: (B,) 0 or 1
            gate = heads["gate"].float().clamp(1e-6, 1 - 1e-6)
            terms["gate"] = w.gate * F.binary_cross_entropy(gate, degraded.float()[:, None].expand_as(gate))
        for key, target in (targets or {}).items():
            weight = w.vgg if key.startswith("vis") else w.dino
            terms[f"distill_{key}"] = weight * distill_loss(heads[key].float().flatten(0, 1), target.float())
        terms["total"] = sum(terms.values())
        return terms
