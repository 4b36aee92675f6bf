"""Online degradations that turn a clean IR/VI clip into a training input.

IR: a brightness offset, column stripe noise (fixed pattern, slowly drifting over time) and Gaussian noise.
VI: Gaussian blur (one kernel per clip) and low light (scale and gamma), light noise.
All on tensors (T, C, H, W) in 0..1 with a ``torch.Generator`` for reproducibility.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class DegradeConfig:
    stripe_sigma: tuple[float, float] = (0.01, 0.05)
    ir_noise_sigma: tuple[float, float] = (0.01, 0.07)
    ir_offset: tuple[float, float] = (0.0, 0.15)  # M3SVD's noisy IR is brighter than its clean IR
    blur_sigma: tuple[float, float] = (1.0, 4.0)
    dark_scale: tuple[float, float] = (0.5, 1.0)
    dark_gamma: tuple[float, float] = (1.0, 1.8)
    low_light_prob: float = 0.5
    vi_noise_sigma: tuple[float, float] = (0.0, 0.01)


def _uniform(lo_hi: tuple[float, float], g: torch.Generator) -> float:
    lo, hi = lo_hi
    return lo + (hi - lo) * float(torch.rand((), generator=g))


def degrade_ir(ir: torch.Tensor, cfg: DegradeConfig, g: torch.Generator) -> torch.Tensor:
    """(T, 1, H, W) clean IR -> offset + stripes + Gaussian noise, clipped to 0..1."""
    t, _, _, w = ir.shape
    s = _uniform(cfg.stripe_sigma, g)
    stripes = s * torch.randn(1, 1, 1, w, generator=g) + 0.2 * s * torch.randn(t, 1, 1, w, generator=g)
    noise = _uniform(cfg.ir_noise_sigma, g) * torch.randn(ir.shape, generator=g)
    return (ir + _uniform(cfg.ir_offset, g) + stripes + noise).clamp(0, 1)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W), reflect-padded."""
    radius = max(1, int(3 * sigma + 0.5))
    k = torch.exp(-(torch.arange(-radius, radius + 1, dtype=x.dtype) ** 2) / (2 * sigma**2))
    k = (k / k.sum()).to(x.device)
    c = x.shape[1]
    pad = min(radius, x.shape[-1] - 1, x.shape[-2] - 1)
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect" if pad == radius else "replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def degrade_vi(vi: torch.Tensor, cfg: DegradeConfig, g: torch.Generator) -> torch.Tensor:
    """(T, 3, H, W) clean VI -> blurred, maybe darkened, lightly noisy, clipped to 0..1."""
    x = gaussian_blur(vi, _uniform(cfg.blur_sigma, g))
    if float(torch.rand((), generator=g)) < cfg.low_light_prob:
        x = _uniform(cfg.dark_scale, g) * x.clamp(0, 1) ** _uniform(cfg.dark_gamma, g)
    x = x + _uniform(cfg.vi_noise_sigma, g) * torch.randn(x.shape, generator=g)
    return x.clamp(0, 1)
