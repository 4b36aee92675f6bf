"""Each loss term against a value it must take, so that a wrong term fails."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from temcoco.model import losses as L
from temcoco.model.color import rgb_to_ycbcr
from temcoco.model.small.config import SmallConfig
from temcoco.model.small.network import VGG_DIM, SmallNet
from temcoco.model.teachers import Teachers
from tests.support.training import tiny_dino, tiny_vgg

torch.set_num_threads(1)


def _img(seed: int, n: int = 1, h: int = 32, w: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, h, w, generator=g)


def test_ssim_matches_scikit_image():
    a, b = _img(0), (_img(0) * 0.7 + _img(1) * 0.3)
    ref = structural_similarity(a[0, 0].numpy(), b[0, 0].numpy(), gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False, data_range=1.0)
    assert float(L.ssim(a, b)) == pytest.approx(ref, abs=1e-4)
    assert float(L.ssim(a, a)) == pytest.approx(1.0, abs=1e-5)


def test_ssim_loss_weights_both_sources():
    vi, ir = _img(0), _img(1)
    assert float(L.ssim_loss(vi, vi, ir, ir_weight=0.0)) == pytest.approx(0.0, abs=1e-5)
    full = float(L.ssim_loss(vi, vi, ir, ir_weight=2.0))
    assert full == pytest.approx(2 * (1 - float(L.ssim(vi, ir))), abs=1e-5)


def test_intensity_max_loss():
    vi, ir = _img(0), _img(1)
    assert float(L.intensity_max_loss(torch.maximum(vi, ir), vi, ir)) == pytest.approx(0.0)
    assert float(L.intensity_max_loss(vi, vi, ir)) == pytest.approx(float((torch.maximum(vi, ir) - vi).mean()))


def test_consist_loss():
    f, vi, ir = torch.full((1, 1, 4, 4), 0.5), torch.full((1, 1, 4, 4), 0.2), torch.full((1, 1, 4, 4), 0.9)
    assert float(L.consist_loss(f, vi, ir)) == pytest.approx(0.3 + 0.4)
    assert float(L.consist_loss(f, vi, ir, ir_weight=0.5)) == pytest.approx(0.3 + 0.2)


def test_color_loss():
    cbcr_vi = torch.rand(1, 2, 8, 8)
    assert float(L.color_loss(cbcr_vi, cbcr_vi)) == 0.0
    f = cbcr_vi.clone()
    f[:, 0] += 0.1  # Cb off by 0.1, Cr exact: L1(Cb) + L1(Cr) = 0.1
    assert float(L.color_loss(f, cbcr_vi)) == pytest.approx(0.1, abs=1e-6)


def test_sobel_and_grad_loss():
    ramp = torch.arange(16.0).view(1, 1, 1, 16).expand(1, 1, 8, 16) * 0.01
    gx, gy = L.sobel(ramp)
    torch.testing.assert_close(gx[..., 1:-1, 1:-1], torch.full_like(gx[..., 1:-1, 1:-1], 0.08))
    assert float(gy.abs().max()) < 1e-6
    flat = torch.full((1, 1, 8, 16), 0.3)
    assert float(L.grad_loss(ramp, ramp, flat)) == pytest.approx(0.0, abs=1e-7)
    # a flat fused image misses the VI gradient: loss = mean |gx| of the ramp
    assert float(L.grad_loss(flat, ramp, flat)) == pytest.approx(float(gx.mean()), rel=1e-5)
    # the target is the max of the two sources' gradients, not their mean
    assert float(L.grad_loss(ramp, flat, ramp * 0.5)) == pytest.approx(float(gx.mean()) * 0.5, rel=1e-5)


def test_temporal_loss():
    ir = torch.rand(2, 3, 8, 8)
    assert float(L.temporal_loss(3 * ir + 0.2, ir)) == pytest.approx(0.0, abs=1e-5)  # scale-invariant
    assert float(L.temporal_loss(-ir, ir)) == pytest.approx(2.0, abs=1e-5)
    # fused changes where IR does not (orthogonal differences): loss 1
    ir2 = torch.zeros(1, 2, 2, 2)
    ir2[0, 1, 0, 0] = 1
    f2 = torch.zeros(1, 2, 2, 2)
    f2[0, 1, 1, 1] = 1
    assert float(L.temporal_loss(f2, ir2)) == pytest.approx(1.0, abs=1e-5)


def test_distill_loss_resamples_prediction():
    target = torch.rand(2, 4, 3, 3)
    pred = torch.nn.functional.interpolate(target, size=(6, 6), mode="nearest")
    assert float(L.distill_loss(target, target)) == 0.0
    assert float(L.distill_loss(pred, target)) < float(L.distill_loss(pred.flip(-1), target))


def test_fusion_loss_terms_and_weights():
    b, t, h, w = 1, 3, 24, 24
    fused, ir, vi = torch.rand(b, t, 3, h, w), torch.rand(b, t, 1, h, w), torch.rand(b, t, 3, h, w)
    terms = L.FusionLoss()(fused, ir, vi)
    assert set(terms) == {"ssim", "intensity_max", "consist", "color", "grad", "temporal", "total"}
    assert float(terms["total"]) == pytest.approx(sum(float(v) for k, v in terms.items() if k != "total"), rel=1e-5)
    doubled = L.FusionLoss(L.LossWeights(grad=20.0))(fused, ir, vi)
    assert float(doubled["grad"]) == pytest.approx(2 * float(terms["grad"]), rel=1e-5)
    y = rgb_to_ycbcr(fused.flatten(0, 1))[:, :1]
    assert float(terms["consist"]) == pytest.approx(float(L.consist_loss(y, rgb_to_ycbcr(vi.flatten(0, 1))[:, :1], ir.flatten(0, 1))), rel=1e-5)


def test_distillation_with_tiny_teachers():
    cfg = SmallConfig()
    dino = tiny_dino(cfg.dino_dim)
    teachers = Teachers(vgg=tiny_vgg(), dino=dino)
    net = SmallNet(cfg)
    r, t, h, w = net.temporal_radius, 2, 32, 32
    ir_in, vi_in = torch.rand(1, t + 2 * r, 1, h, w), torch.rand(1, t + 2 * r, 3, h, w)
    ir, vi = ir_in[:, r:-r], vi_in[:, r:-r]
    targets = teachers.targets(ir.flatten(0, 1), vi.flatten(0, 1))
    assert targets["vis_ir"].shape == (t, VGG_DIM, h // 4, w // 4)
    assert targets["sem_vi"].shape == (t, cfg.dino_dim, h // 4, w // 4)  # 32 px / patch 4 = 8 tokens
    fused, heads = net(ir_in, vi_in, aux=True)
    terms = L.FusionLoss(L.LossWeights(vgg=0.0))(fused, ir, vi, heads, targets)
    assert {"distill_vis_ir", "distill_vis_vi", "distill_sem_ir", "distill_sem_vi"} <= set(terms)
    assert float(terms["distill_vis_ir"].detach()) == 0.0 and float(terms["distill_sem_ir"].detach()) > 0
    terms["total"].backward()
    assert net.sem_head.weight.grad.abs().sum() > 0 and net.vis_head.weight.grad.abs().sum() == 0
    # the IR VGG term is there and compares the IR head with the IR target
    terms = L.FusionLoss()(fused.detach(), ir, vi, {k: v.detach() for k, v in heads.items()}, targets)
    expected = L.distill_loss(heads["vis_ir"].detach().flatten(0, 1), targets["vis_ir"])
    assert float(terms["distill_vis_ir"]) == pytest.approx(float(expected), rel=1e-5)


def test_vif_index_is_the_metric():
    """The differentiable VIF of the loss is the metric's VIF (temcoco.metrics.fusion.vif) on real frames."""
    from temcoco.devdata import DEV_DATA
    from temcoco.metrics.fusion import vif
    from temcoco.model.losses import vif_index

    seq = DEV_DATA / "infrared_Enhance" / "0111_1716"
    if not seq.is_dir():
        pytest.skip(f"no dev data at {DEV_DATA}")
    a = cv2.imread(str(seq / "0000.png"), cv2.IMREAD_GRAYSCALE).astype(np.float64)
    rgb = cv2.imread(str(DEV_DATA / "visible_Enhance" / "0111_1716" / "0000.png"))
    b = cv2.cvtColor(rgb, cv2.COLOR_BGR2GRAY).astype(np.float64)
    f = np.rint(np.maximum(a, b))
    t = lambda x: torch.from_numpy(x)[None, None] / 255.0  # noqa: E731
    assert float(vif_index(t(f), t(a)) + vif_index(t(f), t(b))) == pytest.approx(vif(f, a, b), rel=1e-9)


def test_edge_loss_rewards_edge_transfer():
    """Keeping each source's edges at their strength beats halving them, and both beat a flat image."""
    from temcoco.model.losses import edge_loss

    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(1, 1, 32, 32, generator=g), torch.rand(1, 1, 32, 32, generator=g) * 0.5
    kept = torch.where(a > b, a, b)
    halved = 0.5 * (kept - kept.mean()) + kept.mean()
    flat = torch.full_like(a, 0.5)
    assert edge_loss(kept, b, a) < edge_loss(halved, b, a) < edge_loss(flat, b, a) <= 1
    assert float(edge_loss(a, a, a)) == pytest.approx(1 - 0.9994 * torch.sigmoid(torch.tensor(7.5)).item(), abs=1e-6)


def test_gate_loss_is_cross_entropy_to_the_degradation_flags():
    w = L.LossWeights(gate=2.0)
    fused, ir, vi = torch.rand(2, 1, 3, 16, 16), torch.rand(2, 1, 1, 16, 16), torch.rand(2, 1, 3, 16, 16)
    heads = {"gate": torch.tensor([[0.9], [0.2]])}
    terms = L.FusionLoss(w)(fused, ir, vi, heads, None, torch.tensor([1.0, 0.0]))
    expected = -2.0 * (np.log(0.9) + np.log(0.8)) / 2
    assert float(terms["gate"]) == pytest.approx(expected, rel=1e-5)
    assert "gate" not in L.FusionLoss(L.LossWeights())(fused, ir, vi, heads, None, torch.tensor([1.0, 0.0]))
