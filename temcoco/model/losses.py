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

    ``__call__(fused (B, T, 3, H, W) RGB, ir (B, T, 1, H, W), vi (B, T, 3, H, W) RGB, heads, targets)``
    -> dict of each weighted term and ``total``. ``heads`` are the network's distillation
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
        if t >= 2:
            terms["temporal"] = w.temporal * temporal_loss(y_f.view(b, t, *y_f.shape[-2:]), y_ir.view(b, t, *y_ir.shape[-2:]))
        for key, target in (targets or {}).items():
            weight = w.vgg if key.startswith("vis") else w.dino
            terms[f"distill_{key}"] = weight * distill_loss(heads[key].float().flatten(0, 1), target.float())
        terms["total"] = sum(terms.values())
        return terms
