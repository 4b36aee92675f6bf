"""Online degradations: IR gets column stripes and stays in 0..1; VI gets blurred."""

from __future__ import annotations

import torch

from temcoco.model.degrade import DegradeConfig, degrade_ir, degrade_vi


def test_ir_stripes_and_vi_blur():
    g = torch.Generator().manual_seed(0)
    ir, vi = torch.rand(4, 1, 32, 32) * 0.5, torch.rand(4, 3, 32, 32)
    d_ir = degrade_ir(ir, DegradeConfig(), g)
    cols = (d_ir - ir).mean(dim=(0, 1, 2))  # stripes: per-column offsets shared by all frames
    assert cols.std() > 0.005 and 0 <= d_ir.min() and d_ir.max() <= 1
    d_vi = degrade_vi(vi, DegradeConfig(low_light_prob=0.0, vi_noise_sigma=(0.0, 0.0)), g)
    assert d_vi.diff(dim=-1).abs().mean() < 0.5 * vi.diff(dim=-1).abs().mean()  # blurred
