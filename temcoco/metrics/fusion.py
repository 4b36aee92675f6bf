"""Per-frame fusion metrics of a batch of frames, sharing the work the metrics have in common.

Inputs are (B, H, W) luminance batches in 0..255 (F the fused frames, A the infrared and B
the visible sources, all on one grid) in one array back end (``temcoco.metrics.ops``: numpy +
OpenCV on the CPU, torch on CUDA); every metric comes back as a (B,) float64 numpy array.
Conventions follow the IR-VIS evaluation code most papers report with (CDDFuse
``utils/Evaluator.py``): MI, VIF and SSIM are *sums* over the two sources, CC is their
mean, MI is in nats from 256-bin histograms, PSNR uses the mean of the two MSEs.
Nabf follows Shreyamsha Kumar's ``analysis_nabf.m``, MS-SSIM ``piq.multi_scale_ssim``
(summed over the sources like SSIM). SSIM uses the dynamic range L = 255.

Shared work: one Gram matrix of (F, A, B) a frame gives SD, CC, SCD and PSNR; the products
F², A², B², FA, FB are made once for SSIM, MS-SSIM and VIF; one Sobel pass an image (per
border convention) serves Qabf and Nabf; filters are separable. The suite runs in float32
(sums in float64): within 1e-4 relative of float64 on real frames (tests); the one-metric
functions below run in float64 and are the ones checked against skimage, sklearn, sewar, piq.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np
import torch

from temcoco.metrics.ops import Ops, TorchOps

_EPS_VIF = 1e-10
_SIGMA_NSQ = 2.0  # VIF visual-noise variance
_MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_MS_SSIM_MIN_SIZE = (11 - 1) * 2 ** (len(_MS_SSIM_WEIGHTS) - 1) + 1  # 161 px, as piq requires
_SSIM_WINDOW = 7


def luminance(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) float64 BT.601 luma Y = .299R + .587G + .114B, rounded (cv2 GRAY)."""
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float64)


def _gauss1d(n: int, sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian of n taps; its outer product is MATLAB's fspecial('gaussian')."""
    x = np.arange(n) - (n - 1) / 2
    g = np.exp(-(x * x) / (2 * sigma * sigma))
    return g / g.sum()


@dataclass
class Batch:
    """F, A, B (B, H, W) in one back end, and the products the SSIM family shares (made on first use)."""

    ops: Ops
    f: object
    a: object
    b: object

    @property
    def sources(self) -> tuple:
        return self.a, self.b

    @cached_property
    def squares(self) -> tuple:
        """F², A², B²."""
        return self.f * self.f, self.a * self.a, self.b * self.b

    @cached_property
    def cross(self) -> tuple:
        """F·A, F·B."""
        return self.f * self.a, self.f * self.b


# --- moments: SD, CC, SCD, PSNR from one Gram matrix a frame ---------------------------------


def moment_metrics(batch: Batch) -> dict[str, np.ndarray]:
    """SD, CC, SCD, PSNR of each frame from the sums and Gram matrix of (F, A, B) (float64)."""
    ops = batch.ops
    sums, gram = (ops.numpy(v) for v in ops.gram(ops.stack([batch.f, batch.a, batch.b]).swapaxes(0, 1)))
    n = batch.f.shape[-1] * batch.f.shape[-2]
    mean = sums / n
    cov = gram / n - mean[:, :, None] * mean[:, None, :]  # population (co)variances, indices 0 F, 1 A, 2 B
    with np.errstate(invalid="ignore", divide="ignore"):
        def corr(c_xy, v_x, v_y):
            return c_xy / np.sqrt(v_x * v_y)

        cc = (corr(cov[:, 1, 0], cov[:, 1, 1], cov[:, 0, 0]) + corr(cov[:, 2, 0], cov[:, 2, 2], cov[:, 0, 0])) / 2
        var_f_b = cov[:, 0, 0] + cov[:, 2, 2] - 2 * cov[:, 0, 2]  # var(F - B)
        var_f_a = cov[:, 0, 0] + cov[:, 1, 1] - 2 * cov[:, 0, 1]
        scd = (corr(cov[:, 1, 0] - cov[:, 1, 2], cov[:, 1, 1], var_f_b)
               + corr(cov[:, 2, 0] - cov[:, 2, 1], cov[:, 2, 2], var_f_a))
        mse = [(gram[:, 0, 0] - 2 * gram[:, 0, s] + gram[:, s, s]) / n for s in (1, 2)]
        psnr = 10 * np.log10(255.0**2 / ((mse[0] + mse[1]) / 2))
    return {"SD": np.sqrt(np.maximum(cov[:, 0, 0], 0)), "CC": cc, "SCD": scd, "PSNR": psnr}


# --- histograms: EN, MI ------------------------------------------------------------------------


def _mutual_information(joint: np.ndarray) -> np.ndarray:
    """(B, 256, 256) joint probabilities -> (B,) mutual information in nats (at least 0)."""
    outer = joint.sum(2)[:, :, None] * joint.sum(1)[:, None, :]
    nz = joint > 0
    terms = np.zeros_like(joint)
    terms[nz] = joint[nz] * np.log(joint[nz] / outer[nz])
    return np.maximum(terms.sum(axis=(1, 2)), 0.0)


def histogram_metrics(batch: Batch) -> dict[str, np.ndarray]:
    """EN (bits, 256-bin histogram of round F) and MI = I(F; A) + I(F; B) in nats (= sklearn mutual_info_score)."""
    ops = batch.ops
    lf = ops.levels(batch.f)
    n = batch.f.shape[-1] * batch.f.shape[-2]
    p = ops.numpy(ops.histograms(lf, 256)) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        en = -np.where(p > 0, p * np.log2(np.where(p > 0, p, 1)), 0).sum(axis=1)
    mi = sum(_mutual_information(ops.numpy(ops.histograms(lf * 256 + ops.levels(s), 256 * 256)).reshape(-1, 256, 256)
                                 / n) for s in batch.sources)
    return {"EN": en, "MI": mi}


# --- differences and gradients: SF, AG, Qabf, Nabf ---------------------------------------------


def difference_metrics(batch: Batch) -> dict[str, np.ndarray]:
    """SF = sqrt(mean(ΔxF²) + mean(ΔyF²)); AG = mean(sqrt((Gx² + Gy²)/2)), G np.gradient's central differences."""
    ops, f = batch.ops, batch.f
    dx, dy = f[..., :, 1:] - f[..., :, :-1], f[..., 1:, :] - f[..., :-1, :]
    sf = np.sqrt(ops.numpy(ops.frame_mean(dx * dx)) + ops.numpy(ops.frame_mean(dy * dy)))
    gx, gy = torch.zeros_like(f), torch.zeros_like(f)
    gx[..., :, 1:-1] = (dx[..., :, 1:] + dx[..., :, :-1]) / 2
    gx[..., :, 0], gx[..., :, -1] = dx[..., :, 0], dx[..., :, -1]
    gy[..., 1:-1, :] = (dy[..., 1:, :] + dy[..., :-1, :]) / 2
    gy[..., 0, :], gy[..., -1, :] = dy[..., 0, :], dy[..., -1, :]
    ag = ops.numpy(ops.frame_mean(torch.sqrt((gx * gx + gy * gy) / 2)))
    return {"SF": sf, "AG": ag}


def _sigmoid(x, scale: float, slope: float, centre: float):
    """scale / (1 + exp(-slope (x - centre)))."""
    return torch.sigmoid((x - centre) * slope) * scale


def _magnitude(x, y):
    """sqrt(x² + y²)."""
    return (x * x).addcmul_(y, y).sqrt_()


def _qabf_edges(ops: Ops, x) -> tuple:
    """Sobel magnitude and orientation atan(Sy/Sx) (pi/2 where Sx == 0), zero border (CDDFuse's convolve2d)."""
    gx, gy = ops.sobel(x, zero_border=True)
    sx = 0.0 - gx  # CDDFuse convolves with [[-1 0 1]...]: the correlation's negative (+0, never -0, where 0)
    # Sy/+0 is ±inf or nan: all of them pi/2 (Sobel responses of 0..255 images are never tiny but nonzero)
    angle = torch.nan_to_num(gy / sx, nan=math.inf, posinf=math.inf, neginf=math.inf).atan_()
    return _magnitude(sx, gy), angle


def _nabf_edges(ops: Ops, x) -> tuple:
    """Sobel/8 magnitude and orientation atan(gv/gh) (sign(gv) pi/2 where gh == 0), reflect-101 border."""
    gv, gh = ops.sobel(x, zero_border=False)
    gv, gh = gv / 8, gh / 8 + 0.0  # + 0.0: gh == 0 is +0, so gv/gh = sign(gv) inf, or nan (-> 0) where gv == 0
    angle = torch.nan_to_num(gv / gh, nan=0.0, posinf=math.inf, neginf=-math.inf).atan_()
    return _magnitude(gv, gh), angle


def qabf_metric(batch: Batch) -> np.ndarray:
    """Qabf = Σ(Q^{AF} g_A + Q^{BF} g_B) / Σ(g_A + g_B) (Xydeas & Petrovic, CDDFuse constants and G ratio:
    g_F where g_S == g_F, min/max elsewhere)."""
    ops = batch.ops
    g_f, a_f = _qabf_edges(ops, batch.f)
    num = den = 0
    for s in batch.sources:
        g_s, a_s = _qabf_edges(ops, s)
        equal = ops.indicator(torch.eq, g_s, g_f)
        ratio = torch.nan_to_num(torch.minimum(g_s, g_f) / torch.maximum(g_s, g_f), nan=1.0)
        ratio += equal * (g_f - ratio)
        orient = (a_s - a_f).abs_().mul_(-2 / math.pi).add_(1)
        q = _sigmoid(ratio, 0.9994, 15, 0.5).mul_(_sigmoid(orient, 0.9879, 22, 0.8))
        num = num + ops.numpy(ops.frame_sum(q.mul_(g_s)))
        den = den + ops.numpy(ops.frame_sum(g_s))
    return num / den


def nabf_metric(batch: Batch) -> np.ndarray:
    """Nabf = Σ[g_F > g_A, g_B]·((1-Q^{AF})w_A + (1-Q^{BF})w_B) / Σ(w_A + w_B), w = g^1.5 if g >= 2 else .001."""
    ops = batch.ops
    g_f, a_f = _nabf_edges(ops, batch.f)
    edges = [_nabf_edges(ops, s) for s in batch.sources]
    artefact = ops.indicator(torch.gt, g_f, edges[0][0]).mul_(ops.indicator(torch.gt, g_f, edges[1][0]))
    num = den = 0
    for g_s, a_s in edges:
        ratio = torch.nan_to_num(torch.minimum(g_s, g_f) / torch.maximum(g_s, g_f), nan=0.0)  # 0 where either is 0
        orient = (a_s - a_f).abs_().sub_(math.pi / 2).abs_().mul_(2 / math.pi)
        q = _sigmoid(ratio, 0.9999, 19, 0.5).mul_(_sigmoid(orient, 0.9995, 22, 0.5)).sqrt_()
        w = (g_s * g_s.sqrt()).sub_(0.001).mul_(ops.indicator(torch.ge, g_s, 2.0)).add_(0.001)
        num = num + ops.numpy(ops.frame_sum(q.sub_(1).mul_(w).mul_(artefact))) * -1
        den = den + ops.numpy(ops.frame_sum(w))
    return num / den


# --- SSIM, MS-SSIM, VIF: local statistics of the shared products -------------------------------


def ssim_metric(batch: Batch) -> np.ndarray:
    """SSIM(F, A) + SSIM(F, B); skimage defaults: 7×7 uniform window, sample covariance, L = 255, interior mean."""
    ops, n = batch.ops, _SSIM_WINDOW
    box = lambda x: ops.box_sum_valid(x, n)  # noqa: E731 - window sums; exact in float32 for 0..255 integers
    count = n * n
    c1, c2 = (0.01 * 255) ** 2 * count * count, (0.03 * 255) ** 2 * count * (count - 1)
    s_f, s_ff = box(batch.f), box(batch.squares[0])
    total = 0
    for s, s2, fs in zip(batch.sources, batch.squares[1:], batch.cross):
        s_s = box(s)
        # (2 mu_f mu_s + C1)(2 cov + C2) / ((mu_f² + mu_s² + C1)(var_f + var_s + C2)), all scaled by window counts
        luminance_ = (2 * s_f * s_s + c1) / (s_f * s_f + s_s * s_s + c1)
        structure = (2 * (count * box(fs) - s_f * s_s) + c2) / (
            count * (s_ff + box(s2)) - s_f * s_f - s_s * s_s + c2)
        total = total + ops.numpy(ops.frame_mean(luminance_ * structure))
    return total


def _pool2(ops: Ops, x):
    """piq's MS-SSIM downsampling: replicate-pad top/left by 1 if a side is odd, then 2×2 average pooling."""
    if x.shape[-2] % 2 or x.shape[-1] % 2:
        x = torch.concatenate([x[..., :1, :], x], -2)
        x = torch.concatenate([x[..., :, :1], x], -1)
    h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    x = x[..., :h, :w]
    return (x[..., 0::2, 0::2] + x[..., 0::2, 1::2] + x[..., 1::2, 0::2] + x[..., 1::2, 1::2]) / 4


def ms_ssim_metric(batch: Batch) -> np.ndarray:
    """Σ_{S=A,B} Π_{l<5} cs_l(F,S)^{w_l} · ssim_5(F,S)^{w_5} (piq: 11×11 Gaussian σ 1.5, data in 0..1); nan < 161 px."""
    ops = batch.ops
    if min(batch.f.shape[-2:]) < _MS_SSIM_MIN_SIZE:
        return np.full(len(batch.f), np.nan)
    k, u = _gauss1d(11, 1.5), 1 / 255.0
    filt = lambda x: ops.sep_filter_valid(x, k)  # noqa: E731
    c1, c2 = 0.01**2, 0.03**2
    x, sources = batch.f * u, [s * u for s in batch.sources]
    products = [p * (u * u) for p in (*batch.squares, *batch.cross)]  # level 1 reuses the shared products
    values: list[list[np.ndarray]] = [[], []]  # per source: cs of levels 1-4, then ssim of level 5
    last = len(_MS_SSIM_WEIGHTS) - 1
    for level in range(last + 1):
        if level:
            x, sources = _pool2(ops, x), [_pool2(ops, y) for y in sources]
            products = [x * x, *(y * y for y in sources), *(x * y for y in sources)]
        mx = filt(x)
        vx = filt(products[0]) - mx * mx
        for i, (y, out) in enumerate(zip(sources, values)):
            my = filt(y)
            vy = filt(products[1 + i]) - my * my
            cs = (2 * (filt(products[3 + i]) - mx * my) + c2) / (vx + vy + c2)
            lum = (2 * mx * my + c1) / (mx * mx + my * my + c1) if level == last else 1
            out.append(ops.numpy(ops.frame_mean(lum * cs)))
    weights = np.array(_MS_SSIM_WEIGHTS)[:, None]
    return sum(np.prod(np.maximum(np.stack(v), 0) ** weights, axis=0) for v in values)


def _vif_terms(ops: Ops, s1, s2, s12) -> tuple[np.ndarray, np.ndarray]:
    """VIFp numerator and denominator (B,) of one scale from local (co)variances (CDDFuse/sewar edge cases:
    s1 = 0 and g = 0 where the reference variance is below eps, g = 0 where the distorted one is or g < 0,
    sv at least eps);
    s2 clamped at 0 already."""
    e = _EPS_VIF
    s1 = s1.clamp(min=0)
    valid = ops.indicator(torch.ge, s1, e)
    s1.mul_(valid)  # 0 below eps: a flat source has den 0
    valid.mul_(ops.indicator(torch.ge, s2, e))
    g = (s12 / (s1 + e)).clamp_(min=0).mul_(valid)
    sv = (s2 - g * s12).clamp_(min=e).add_(_SIGMA_NSQ)
    num = ops.frame_sum(g.mul_(g).mul_(s1).div_(sv).add_(1).log10_())
    return ops.numpy(num), ops.numpy(ops.frame_sum(s1.div_(_SIGMA_NSQ).add_(1).log10_()))


def vif_metric(batch: Batch) -> np.ndarray:
    """VIF = VIFp(A→F) + VIFp(B→F), VIFp = Σ_s Σ log10(1 + g²σ_S²/(σ_v² + 2)) / Σ_s Σ log10(1 + σ_S²/2), 4 scales."""
    ops = batch.ops
    refs, dist = list(batch.sources), batch.f
    ref_sq, dist_sq, cross = list(batch.squares[1:]), batch.squares[0], list(batch.cross)
    num, den = [0.0, 0.0], [0.0, 0.0]
    for scale in range(1, 5):
        n = 2 ** (5 - scale) + 1
        k = _gauss1d(n, n / 5.0)
        filt = lambda x, k=k: ops.sep_filter_valid(x, k)  # noqa: E731
        if scale > 1:
            refs = [filt(r)[..., ::2, ::2] for r in refs]
            dist = filt(dist)[..., ::2, ::2]
            ref_sq, dist_sq, cross = [r * r for r in refs], dist * dist, [r * dist for r in refs]
        mu2 = filt(dist)
        s2 = (filt(dist_sq) - mu2 * mu2).clip(min=0)
        for i, ref in enumerate(refs):
            mu1 = filt(ref)
            n_i, d_i = _vif_terms(ops, filt(ref_sq[i]) - mu1 * mu1, s2, filt(cross[i]) - mu1 * mu2)
            num[i] = num[i] + n_i
            den[i] = den[i] + d_i
    # a flat source has den = num = 0: CDDFuse's nan -> 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return sum(np.where(d > 0, n / np.where(d > 0, d, 1), 1.0) for n, d in zip(num, den))


FUSION_COLUMNS = ("EN", "SD", "SF", "AG", "MI", "CC", "SCD", "VIF", "Qabf", "Nabf", "SSIM", "MS_SSIM", "PSNR")


def fusion_batch(ops: Ops, f, a, b) -> dict[str, np.ndarray]:
    """Every per-frame fusion metric of F (B, H, W) against A (IR) and B (VI): FUSION_COLUMNS -> (B,) float64."""
    batch = Batch(ops, ops.asarray(f), ops.asarray(a), ops.asarray(b))
    values = {**moment_metrics(batch), **histogram_metrics(batch), **difference_metrics(batch),
              "VIF": vif_metric(batch), "Qabf": qabf_metric(batch), "Nabf": nabf_metric(batch),
              "SSIM": ssim_metric(batch), "MS_SSIM": ms_ssim_metric(batch)}
    return {name: values[name] for name in FUSION_COLUMNS}


def reference_batch(ops: Ops, f, ra, rb) -> dict[str, np.ndarray]:
    """Restoration metrics of F against clean references: ref_PSNR and ref_SSIM, (B,) each."""
    batch = Batch(ops, ops.asarray(f), ops.asarray(ra), ops.asarray(rb))
    return {"ref_PSNR": moment_metrics(batch)["PSNR"], "ref_SSIM": ssim_metric(batch)}


# --- one metric of one frame, float64 (the functions the cross-checks test) ---------------------

_FLOAT64 = TorchOps("cpu", torch.float64)


def _one(metric, f: np.ndarray, a: np.ndarray | None = None, b: np.ndarray | None = None) -> float:
    a = f if a is None else a
    b = f if b is None else b
    return float(metric(Batch(_FLOAT64, *(_FLOAT64.asarray(x[None]) for x in (f, a, b))))[0])


def en(f: np.ndarray) -> float:
    return _one(lambda batch: histogram_metrics(batch)["EN"], f)


def sd(f: np.ndarray) -> float:
    return _one(lambda batch: moment_metrics(batch)["SD"], f)


def sf(f: np.ndarray) -> float:
    return _one(lambda batch: difference_metrics(batch)["SF"], f)


def ag(f: np.ndarray) -> float:
    return _one(lambda batch: difference_metrics(batch)["AG"], f)


def mi(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return _one(lambda batch: histogram_metrics(batch)["MI"], f, a, b)


def cc(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return _one(lambda batch: moment_metrics(batch)["CC"], f, a, b)


def scd(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return _one(lambda batch: moment_metrics(batch)["SCD"], f, a, b)


def psnr(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return _one(lambda batch: moment_metrics(batch)["PSNR"], f, a, b)


def vif(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return _one(vif_metric, f, a, b)


def qabf(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return _one(qabf_metric, f, a, b)


def nabf(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return _one(nabf_metric, f, a, b)


def ssim(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return _one(ssim_metric, f, a, b)


def ms_ssim(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return _one(ms_ssim_metric, f, a, b)


def fusion_metrics(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """All per-frame fusion metrics of one frame F against A (IR) and B (VI), (H, W) float 0..255, float64."""
    return {name: float(v[0]) for name, v in fusion_batch(_FLOAT64, f[None], a[None], b[None]).items()}
