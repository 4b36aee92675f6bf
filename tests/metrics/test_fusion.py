"""Per-frame fusion metrics against independent implementations and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.signal import convolve2d
from skimage.measure import shannon_entropy
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity
from sklearn.metrics import mutual_info_score

from temcoco.metrics import fusion


def texture(shape: tuple[int, int], seed: int, sigma: float = 2.0) -> np.ndarray:
    """(H, W) float64 integer-valued texture in 0..255."""
    import cv2

    rng = np.random.default_rng(seed)
    x = cv2.GaussianBlur(rng.uniform(0, 255, shape), (0, 0), sigma)
    x = (x - x.min()) / (x.max() - x.min()) * 255
    return np.round(x)


@pytest.fixture(scope="module")
def images() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """F, A (IR), B (VI): 176×192 (big enough for MS-SSIM), F a noisy blend of the sources."""
    a, b = texture((176, 192), 1), texture((176, 192), 2, sigma=1.0)
    noise = np.random.default_rng(3).normal(0, 6, a.shape)
    return np.clip(np.round(0.55 * a + 0.45 * b + noise), 0, 255), a, b


def test_luminance_is_bt601() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (8, 9, 3), dtype=np.uint8)
    expected = rgb @ np.array([0.299, 0.587, 0.114])
    assert np.abs(fusion.luminance(rgb) - expected).max() <= 0.5 + 1e-6
    assert fusion.luminance(rgb).dtype == np.float64


def test_en_matches_skimage(images) -> None:
    f, _, _ = images
    assert fusion.en(f) == pytest.approx(shannon_entropy(f.astype(np.uint8), base=2), rel=1e-12)
    assert fusion.en(np.full((4, 4), 7.0)) == 0.0
    assert fusion.en(np.array([[0.0, 1], [2, 3]])) == pytest.approx(2.0)  # four equiprobable levels


def test_sd_sf_ag_hand_computed() -> None:
    f = np.array([[0.0, 1, 3], [2, 4, 8]])
    assert fusion.sd(f) == pytest.approx(math.sqrt(np.mean((f - 3) ** 2)))
    # row differences 1, 2, 2, 4; column differences 2, 3, 5
    assert fusion.sf(f) == pytest.approx(math.sqrt((1 + 4 + 4 + 16) / 4 + (4 + 9 + 25) / 3))
    # Gx central (one-sided at the ends): [1, 1.5, 2], [2, 3, 4]; Gy one-sided: [2, 3, 5] in both rows
    gx, gy = [1, 1.5, 2, 2, 3, 4], [2, 3, 5, 2, 3, 5]
    assert fusion.ag(f) == pytest.approx(np.mean([math.sqrt((x * x + y * y) / 2) for x, y in zip(gx, gy)]))


def test_mi_matches_sklearn(images) -> None:
    f, a, b = images
    expected = mutual_info_score(f.ravel(), a.ravel()) + mutual_info_score(f.ravel(), b.ravel())
    assert fusion.mi(f, a, b) == pytest.approx(expected, rel=1e-10)
    assert fusion.mi(a, a, a) == pytest.approx(2 * mutual_info_score(a.ravel(), a.ravel()), rel=1e-10)


def test_cc_matches_numpy(images) -> None:
    f, a, b = images
    expected = (np.corrcoef(a.ravel(), f.ravel())[0, 1] + np.corrcoef(b.ravel(), f.ravel())[0, 1]) / 2
    assert fusion.cc(f, a, b) == pytest.approx(expected, rel=1e-12)


def test_scd_hand_computed() -> None:
    # A and B: zero-mean, orthogonal, equal norm (plus an offset, which correlations ignore)
    a = np.array([[1.0, -1], [1, -1]]) + 100
    b = np.array([[1.0, 1], [-1, -1]]) + 100
    assert fusion.scd(a + b, a, b) == pytest.approx(2.0)  # F - B = A, F - A = B
    # F = 2A + B: r(A, F - B) = r(A, 2A) = 1; r(B, F - A) = r(B, A + B) = 1/sqrt(2)
    assert fusion.scd(2 * a + b, a, b) == pytest.approx(1 + 1 / math.sqrt(2))


def test_vif_matches_sewar(images) -> None:
    from sewar.full_ref import vifp

    f, a, b = images
    assert fusion.vif(f, a, b) == pytest.approx(vifp(a, f) + vifp(b, f), rel=1e-9)
    assert fusion.vif(a, a, a) == pytest.approx(2.0)


def test_vif_flat_source_counts_as_one(images) -> None:
    f, a, _ = images
    flat = np.full_like(a, 80.0)
    from sewar.full_ref import vifp

    assert fusion.vif(f, a, flat) == pytest.approx(vifp(a, f) + 1.0, rel=1e-9)


def _qabf_reference(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """CDDFuse Qabf, pixel by pixel: scipy convolve2d 'same' Sobel, scalar sigmoids."""
    h1 = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], float)
    h3 = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], float)

    def edges(x):
        sx, sy = convolve2d(x, h3, mode="same"), convolve2d(x, h1, mode="same")
        return np.sqrt(sx * sx + sy * sy), sx, sy

    (ga, ax, ay), (gb, bx, by), (gf, fx, fy) = edges(a), edges(b), edges(f)

    def angle(sx, sy):
        return math.pi / 2 if sx == 0 else math.atan(sy / sx)

    def q(gs, as_, gf_, af):
        ratio = gf_ / gs if gs > gf_ else gs / gf_ if gs < gf_ else gf_
        orient = 1 - abs(as_ - af) / (math.pi / 2)
        return 0.9994 / (1 + math.exp(-15 * (ratio - 0.5))) * 0.9879 / (1 + math.exp(-22 * (orient - 0.8)))

    num = den = 0.0
    for i, j in np.ndindex(f.shape):
        af_ = angle(fx[i, j], fy[i, j])
        num += q(ga[i, j], angle(ax[i, j], ay[i, j]), gf[i, j], af_) * ga[i, j]
        num += q(gb[i, j], angle(bx[i, j], by[i, j]), gf[i, j], af_) * gb[i, j]
        den += ga[i, j] + gb[i, j]
    return num / den


def test_qabf_matches_pixelwise_reference() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.integers(0, 6, (6, 7)).astype(float), rng.integers(0, 6, (6, 7)).astype(float)
    f = np.round((a + b) / 2 + rng.integers(-1, 2, a.shape))
    assert fusion.qabf(f, a, b) == pytest.approx(_qabf_reference(f, a, b), rel=1e-12)


def test_qabf_perfect_fusion_hand_computed() -> None:
    # F = A = B with strong gradients everywhere: Qg saturates at Tg and the orientations agree,
    # so Qabf = Tg · Ta / (1 + exp(-22 (1 - 0.8)))
    a = 10.0 * np.arange(7)[None, :] + 5.0 * np.arange(6)[:, None]
    assert fusion.qabf(a, a, a) == pytest.approx(0.9994 * 0.9879 / (1 + math.exp(-4.4)), rel=1e-12)


def _nabf_reference(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """analysis_nabf.m, pixel by pixel: Sobel/8 correlation on a reflect-101 extension."""
    kv = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]) / 8
    kh = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]) / 8

    def sobel(x):
        ext = np.pad(x, 1, mode="reflect")
        gv, gh = np.zeros_like(x), np.zeros_like(x)
        for i, j in np.ndindex(x.shape):
            gv[i, j] = (ext[i : i + 3, j : j + 3] * kv).sum()
            gh[i, j] = (ext[i : i + 3, j : j + 3] * kh).sum()
        return gv, gh

    def angle(gv, gh):
        return 0.0 if gv == 0 and gh == 0 else math.atan(gv / gh) if gh != 0 else math.copysign(math.pi / 2, gv)

    def q(gs, as_, gf_, af):
        ratio = 0.0 if gs == 0 or gf_ == 0 else min(gs, gf_) / max(gs, gf_)
        orient = abs(abs(as_ - af) - math.pi / 2) * 2 / math.pi
        return math.sqrt(0.9999 / (1 + math.exp(-19 * (ratio - 0.5))) * 0.9995 / (1 + math.exp(-22 * (orient - 0.5))))

    (av, ah), (bv, bh), (fv, fh) = sobel(a), sobel(b), sobel(f)
    num = den = 0.0
    for p in np.ndindex(f.shape):
        ga, gb, gf = math.hypot(av[p], ah[p]), math.hypot(bv[p], bh[p]), math.hypot(fv[p], fh[p])
        wa, wb = (ga**1.5 if ga >= 2 else 0.001), (gb**1.5 if gb >= 2 else 0.001)
        den += wa + wb
        if gf > ga and gf > gb:
            af = angle(fv[p], fh[p])
            num += (1 - q(ga, angle(av[p], ah[p]), gf, af)) * wa + (1 - q(gb, angle(bv[p], bh[p]), gf, af)) * wb
    return num / den


def test_nabf_matches_pixelwise_reference() -> None:
    rng = np.random.default_rng(6)
    a, b = rng.integers(0, 60, (6, 7)).astype(float), rng.integers(0, 60, (6, 7)).astype(float)
    f = np.clip(1.6 * a - 0.4 * b + rng.integers(-20, 21, a.shape), 0, 255)
    expected = _nabf_reference(f, a, b)
    assert expected > 0.01
    assert fusion.nabf(f, a, b) == pytest.approx(expected, rel=1e-12)


def test_nabf_hand_computed() -> None:
    # A = B = ramp 4·j (4×6): interior Sobel/8 magnitude 4, orientation pi/2; the reflected border
    # columns have no gradient. F = 2A doubles every interior gradient: an artefact at the 16
    # interior pixels with ratio 0.5 and aligned orientations, weights 4^1.5 = 8 (border: 0.001).
    a = np.tile(4.0 * np.arange(6), (4, 1))
    q = math.sqrt(0.9999 / 2 * 0.9995 / (1 + math.exp(-22 * 0.5)))
    assert fusion.nabf(2 * a, a, a) == pytest.approx((1 - q) * 16 * 16 / (16 * 16 + 8 * 0.002), rel=1e-12)
    assert fusion.nabf(a, a, a) == 0.0  # no gradient stronger than both sources: no artefacts


def test_ssim_matches_skimage(images) -> None:
    f, a, b = images
    expected = structural_similarity(f, a, data_range=255) + structural_similarity(f, b, data_range=255)
    assert fusion.ssim(f, a, b) == pytest.approx(expected, rel=1e-9)
    assert fusion.ssim(a, a, a) == pytest.approx(2.0)


def test_ms_ssim_matches_piq(images) -> None:
    import piq

    f, a, b = images
    t = lambda x: torch.from_numpy(x)[None, None]  # noqa: E731
    expected = sum(float(piq.multi_scale_ssim(t(f), t(s), data_range=255.0)) for s in (a, b))
    assert fusion.ms_ssim(f, a, b) == pytest.approx(expected, rel=1e-9)
    odd = (slice(0, 175), slice(0, 189))  # odd sides exercise piq's replicate padding
    expected_odd = sum(float(piq.multi_scale_ssim(t(f[odd].copy()), t(s[odd].copy()), data_range=255.0))
                       for s in (a, b))
    assert fusion.ms_ssim(f[odd], a[odd], b[odd]) == pytest.approx(expected_odd, rel=1e-9)


def test_ms_ssim_is_nan_below_161_px(images) -> None:
    f, a, b = images
    assert math.isnan(fusion.ms_ssim(f[:160], a[:160], b[:160]))


def test_psnr_matches_skimage(images) -> None:
    f, a, b = images
    mse = (mean_squared_error(f, a) + mean_squared_error(f, b)) / 2
    assert fusion.psnr(f, a, b) == pytest.approx(10 * math.log10(255**2 / mse), rel=1e-12)
    assert fusion.psnr(f, a, a) == pytest.approx(peak_signal_noise_ratio(a, f, data_range=255), rel=1e-12)


def test_fusion_metrics_all_columns(images) -> None:
    values = fusion.fusion_metrics(*images)
    assert list(values) == ["EN", "SD", "SF", "AG", "MI", "CC", "SCD", "VIF", "Qabf", "Nabf", "SSIM", "MS_SSIM", "PSNR"]
    assert all(math.isfinite(v) for v in values.values())


def _suite(ops, images) -> dict[str, np.ndarray]:
    f, a, b = (np.stack([x, x[::-1].copy()]) for x in images)  # a batch of two frames
    return fusion.fusion_batch(ops, f, a, b)


def test_conv2d_filters_equal_opencv_filters(images) -> None:
    """The CUDA path's filters (conv2d, avg_pool2d, padded Sobel), run here on the CPU, give the OpenCV path's values."""
    from temcoco.metrics.ops import TorchOps

    conv = TorchOps("cpu")
    conv._opencv = False  # the filters CUDA uses
    expected, got = _suite(TorchOps("cpu"), images), _suite(conv, images)
    for name in fusion.FUSION_COLUMNS:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-4, err_msg=name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here: the suite's GPU path runs only there")
def test_suite_on_cuda_equals_cpu(images) -> None:
    from temcoco.metrics.ops import TorchOps

    expected, got = _suite(TorchOps("cpu"), images), _suite(TorchOps("cuda"), images)
    for name in fusion.FUSION_COLUMNS:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-3, err_msg=name)


def test_float32_suite_equals_previous_code_on_real_frames(m3svd) -> None:
    """The batched float32 suite gives the values of the code before issue 19 (tests/support/reference_fusion.py)."""
    from temcoco.metrics.ops import TorchOps
    from tests.support import reference_fusion
    from tests.support.m3svd import averaged_frames

    planes = [(fusion.luminance(fused), ir.astype(np.float64), fusion.luminance(vi))
              for ir, vi, fused in averaged_frames(m3svd, 2)]
    got = fusion.fusion_batch(TorchOps("cpu"), *(np.stack(p) for p in zip(*planes)))
    for t, (f, a, b) in enumerate(planes):
        for name, value in reference_fusion.fusion_metrics(f, a, b).items():
            assert got[name][t] == pytest.approx(value, rel=1e-3), name
