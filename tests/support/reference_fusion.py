"""Reference: the per-frame fusion metrics as they were before issue 19 (float64 numpy, one metric at a time).

Kept in the tests only, to prove the shared-work suite in ``temcoco.metrics.fusion`` gives the same values.

Every function takes float (H, W) luminance arrays in 0..255 (F the fused image, A the
infrared and B the visible source, all on the same grid) and returns a Python float.
Conventions follow the IR-VIS evaluation code most papers report with (CDDFuse
``utils/Evaluator.py``): MI, VIF and SSIM are *sums* over the two sources, CC is their
mean, MI is in nats from 256-bin histograms, PSNR uses the mean of the two MSEs.
Nabf follows Shreyamsha Kumar's ``analysis_nabf.m`` (the Nabf of the same tables),
MS-SSIM follows ``piq.multi_scale_ssim`` (summed over the sources like SSIM).
SSIM uses the dynamic range L = 255 of the images; CDDFuse called skimage without
``data_range`` on float32 images, which old skimage read as L = 2 (almost no stabilising
constants; on a real M3SVD frame 0.96 instead of 1.31), and current skimage refuses.
Everything is vectorised with numpy and OpenCV filters (float64).
"""

from __future__ import annotations

import cv2
import numpy as np

_EPS_VIF = 1e-10
_SIGMA_NSQ = 2.0  # VIF visual-noise variance
_MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_MS_SSIM_MIN_SIZE = (11 - 1) * 2 ** (len(_MS_SSIM_WEIGHTS) - 1) + 1  # 161 px, as piq requires


def luminance(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) float64 BT.601 luma Y = .299R + .587G + .114B, rounded (cv2 GRAY)."""
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float64)


def _levels(x: np.ndarray) -> np.ndarray:
    """(H, W) float 0..255 -> (H, W) intp grey levels 0..255 (the 256 histogram bins)."""
    return np.clip(np.rint(x), 0, 255).astype(np.intp)


def _corr(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of two (H, W) arrays (nan when one is constant)."""
    xd, yd = x - x.mean(), y - y.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        return float((xd * yd).sum() / np.sqrt((xd * xd).sum() * (yd * yd).sum()))


def _mi_pair(x: np.ndarray, y: np.ndarray) -> float:
    """Mutual information in nats of two (H, W) intp level images from their 256×256 joint histogram."""
    joint = np.bincount((x * 256 + y).ravel(), minlength=256 * 256).reshape(256, 256) / x.size
    outer = np.outer(joint.sum(1), joint.sum(0))
    nz = joint > 0
    return max(float((joint[nz] * np.log(joint[nz] / outer[nz])).sum()), 0.0)


def en(f: np.ndarray) -> float:
    """EN = -Σ_k p_k log2 p_k, p the 256-bin histogram of round(F)."""
    p = np.bincount(_levels(f).ravel(), minlength=256) / f.size
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def sd(f: np.ndarray) -> float:
    """SD = sqrt(mean((F - mean F)^2)) (population standard deviation)."""
    return float(np.std(f))


def sf(f: np.ndarray) -> float:
    """SF = sqrt(mean((F[i,j+1]-F[i,j])^2) + mean((F[i+1,j]-F[i,j])^2)) (row and column frequency)."""
    return float(np.sqrt(np.mean(np.diff(f, axis=1) ** 2) + np.mean(np.diff(f, axis=0) ** 2)))


def ag(f: np.ndarray) -> float:
    """AG = mean(sqrt((Gx^2 + Gy^2) / 2)), G central differences (one-sided at the border)."""
    gy, gx = np.gradient(f)
    return float(np.mean(np.sqrt((gx * gx + gy * gy) / 2)))


def mi(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """MI = I(F; A) + I(F; B) in nats, from 256-bin joint histograms (= sklearn mutual_info_score)."""
    lf = _levels(f)
    return _mi_pair(lf, _levels(a)) + _mi_pair(lf, _levels(b))


def cc(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """CC = (r(A, F) + r(B, F)) / 2, r the Pearson correlation."""
    return (_corr(a, f) + _corr(b, f)) / 2


def scd(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """SCD = r(A, F - B) + r(B, F - A) (sum of the correlations of differences, Aslantas & Bendes)."""
    return _corr(a, f - b) + _corr(b, f - a)


def psnr(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """PSNR = 10 log10(255^2 / ((MSE(F, A) + MSE(F, B)) / 2)) in dB."""
    mse = (np.mean((f - a) ** 2) + np.mean((f - b) ** 2)) / 2
    with np.errstate(divide="ignore"):
        return float(10 * np.log10(255.0**2 / mse))


# --- VIF ------------------------------------------------------------------------------------


def _gauss1d(n: int, sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian of n taps; its outer product is MATLAB's fspecial('gaussian')."""
    x = np.arange(n) - (n - 1) / 2
    g = np.exp(-(x * x) / (2 * sigma * sigma))
    return g / g.sum()


def _filter_valid(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Separable filter with 1-D kernel k (odd length), 'valid' part only: (H, W) -> (H-n+1, W-n+1)."""
    r = len(k) // 2
    return cv2.sepFilter2D(x, cv2.CV_64F, k, k, borderType=cv2.BORDER_CONSTANT)[r:-r, r:-r]


def _vif_terms(s1: np.ndarray, s2: np.ndarray, s12: np.ndarray) -> tuple[float, float]:
    """VIFp numerator and denominator of one scale from local (co)variances (CDDFuse/sewar edge cases).

    s1 (reference variance) is overwritten; s2 (distorted variance) must be clamped at 0 already.
    In-place updates keep the temporaries few (allocation dominates the cost of this function).
    """
    e = _EPS_VIF
    np.maximum(s1, 0, out=s1)
    g = s12 / (s1 + e)
    sv = s2 - g * s12
    flat = s1 < e  # flat reference: g = 0, sv = s2, s1 = 0
    np.copyto(g, 0.0, where=flat)
    np.copyto(sv, s2, where=flat)
    np.copyto(s1, 0.0, where=flat)
    flat = s2 < e  # flat distorted: g = 0, sv = 0
    np.copyto(g, 0.0, where=flat)
    np.copyto(sv, 0.0, where=flat)
    negative = g < 0  # g < 0: sv = s2, g = 0
    np.copyto(sv, s2, where=negative)
    np.copyto(g, 0.0, where=negative)
    np.maximum(sv, e, out=sv)  # sv <= eps -> eps
    sv += _SIGMA_NSQ
    g *= g
    g *= s1
    g /= sv
    g += 1
    s1 /= _SIGMA_NSQ
    s1 += 1
    return float(np.log10(g, out=g).sum()), float(np.log10(s1, out=s1).sum())


def vif(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """VIF = VIFp(A→F) + VIFp(B→F), VIFp = Σ_s Σ log10(1 + g²σ_S²/(σ_v² + 2)) / Σ_s Σ log10(1 + σ_S²/2), 4 scales."""
    refs, dist = [a, b], f
    num, den = [0.0, 0.0], [0.0, 0.0]
    for scale in range(1, 5):
        n = 2 ** (5 - scale) + 1
        k = _gauss1d(n, n / 5.0)
        if scale > 1:
            refs = [_filter_valid(r, k)[::2, ::2] for r in refs]
            dist = _filter_valid(dist, k)[::2, ::2]
        mu2 = _filter_valid(dist, k)
        s2 = np.maximum(_filter_valid(dist * dist, k) - mu2 * mu2, 0)
        for i, ref in enumerate(refs):
            mu1 = _filter_valid(ref, k)
            s1 = _filter_valid(ref * ref, k) - mu1 * mu1
            s12 = _filter_valid(ref * dist, k) - mu1 * mu2
            n_i, d_i = _vif_terms(s1, s2, s12)
            num[i] += n_i
            den[i] += d_i
    # a flat source has den = num = 0: CDDFuse's nan -> 1.0
    return float(sum(n_ / d_ if d_ > 0 else 1.0 for n_, d_ in zip(num, den)))


# --- Qabf and Nabf (gradient-based) ---------------------------------------------------------

# scipy.signal.convolve2d(img, h, 'same') == cv2.filter2D(img, flip(h)) with zero borders.
_QABF_KX = np.flip(np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float64))
_QABF_KY = np.flip(np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], np.float64))
# analysis_nabf.m sobel_fn: correlation with these /8 masks on a reflect-101 ("periodic") extension.
_NABF_KV = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float64) / 8
_NABF_KH = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], np.float64) / 8


def _qabf_edges(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) -> Sobel magnitude g and orientation a = atan(Sy/Sx) (pi/2 where Sx == 0), zero padding."""
    sx = cv2.filter2D(x, cv2.CV_64F, _QABF_KX, borderType=cv2.BORDER_CONSTANT)
    sy = cv2.filter2D(x, cv2.CV_64F, _QABF_KY, borderType=cv2.BORDER_CONSTANT)
    zero = sx == 0
    angle = np.where(zero, np.pi / 2, np.arctan(sy / np.where(zero, 1.0, sx)))
    return np.sqrt(sx * sx + sy * sy), angle


def _qabf_q(g_s: np.ndarray, a_s: np.ndarray, g_f: np.ndarray, a_f: np.ndarray) -> np.ndarray:
    """Edge preservation Q^{SF} = Qg · Qa (Xydeas–Petrovic sigmoids, CDDFuse constants and G ratio)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(g_s == g_f, g_f, np.minimum(g_s, g_f) / np.maximum(g_s, g_f))  # equal -> g_f (CDDFuse)
    orient = 1 - np.abs(a_s - a_f) / (np.pi / 2)
    qg = 0.9994 / (1 + np.exp(-15 * (ratio - 0.5)))
    qa = 0.9879 / (1 + np.exp(-22 * (orient - 0.8)))
    return qg * qa


def qabf(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Qabf = Σ(Q^{AF} g_A + Q^{BF} g_B) / Σ(g_A + g_B) (Xydeas & Petrovic edge transfer)."""
    (ga, aa), (gb, ab), (gf, af) = _qabf_edges(a), _qabf_edges(b), _qabf_edges(f)
    num = (_qabf_q(ga, aa, gf, af) * ga + _qabf_q(gb, ab, gf, af) * gb).sum()
    return float(num / (ga + gb).sum())


def _nabf_edges(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) -> Sobel/8 magnitude g and orientation a = atan(gv/gh) (0 where both are 0, ±pi/2 where gh == 0)."""
    gv = cv2.filter2D(x, cv2.CV_64F, _NABF_KV, borderType=cv2.BORDER_REFLECT_101)
    gh = cv2.filter2D(x, cv2.CV_64F, _NABF_KH, borderType=cv2.BORDER_REFLECT_101)
    zero = gh == 0
    angle = np.where(zero, np.sign(gv) * np.pi / 2, np.arctan(gv / np.where(zero, 1.0, gh)))
    return np.sqrt(gv * gv + gh * gh), angle


def _nabf_q(g_s: np.ndarray, a_s: np.ndarray, g_f: np.ndarray, a_f: np.ndarray) -> np.ndarray:
    """Q^{SF} = sqrt(Qg · Qa) with analysis_nabf.m constants (Nrg .9999, kg 19, Nra .9995, ka 22, σ .5)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where((g_s == 0) | (g_f == 0), 0.0, np.minimum(g_s, g_f) / np.maximum(g_s, g_f))
    orient = np.abs(np.abs(a_s - a_f) - np.pi / 2) * 2 / np.pi
    qg = 0.9999 / (1 + np.exp(-19 * (ratio - 0.5)))
    qa = 0.9995 / (1 + np.exp(-22 * (orient - 0.5)))
    return np.sqrt(qg * qa)


def nabf(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Nabf = Σ[g_F > g_A, g_B]·((1-Q^{AF})w_A + (1-Q^{BF})w_B) / Σ(w_A + w_B), w = g^1.5 if g >= 2 else .001."""
    (ga, aa), (gb, ab), (gf, af) = _nabf_edges(a), _nabf_edges(b), _nabf_edges(f)
    wa = np.where(ga >= 2, ga**1.5, 0.001)
    wb = np.where(gb >= 2, gb**1.5, 0.001)
    artefact = (gf > ga) & (gf > gb)
    loss = (1 - _nabf_q(ga, aa, gf, af)) * wa + (1 - _nabf_q(gb, ab, gf, af)) * wb
    return float(loss[artefact].sum() / (wa + wb).sum())


# --- SSIM and MS-SSIM -----------------------------------------------------------------------


def ssim(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """SSIM = SSIM(F, A) + SSIM(F, B); skimage defaults: 7×7 uniform window, sample covariance, L = 255."""
    win, pad = 7, 3
    cov = win * win / (win * win - 1)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    box = lambda x: cv2.blur(x, (win, win))  # noqa: E731 - interior values only are used
    mu_f = box(f)
    var_f = cov * (box(f * f) - mu_f * mu_f)
    total = 0.0
    for s in (a, b):
        mu_s = box(s)
        var_s = cov * (box(s * s) - mu_s * mu_s)
        cov_fs = cov * (box(f * s) - mu_f * mu_s)
        smap = ((2 * mu_f * mu_s + c1) * (2 * cov_fs + c2)) / ((mu_f**2 + mu_s**2 + c1) * (var_f + var_s + c2))
        total += float(smap[pad:-pad, pad:-pad].mean())
    return total


def _pool2(x: np.ndarray) -> np.ndarray:
    """piq's MS-SSIM downsampling: replicate-pad top/left by 1 if a side is odd, then 2×2 average pooling."""
    if x.shape[0] % 2 or x.shape[1] % 2:
        x = np.pad(x, ((1, 0), (1, 0)), mode="edge")
    h, w = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
    return x[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))


def ms_ssim(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """MS-SSIM = Σ_{S=A,B} Π_{l<5} cs_l(F,S)^{w_l} · ssim_5(F,S)^{w_5} (piq: 11×11 Gaussian σ 1.5); nan < 161 px."""
    if min(f.shape) < _MS_SSIM_MIN_SIZE:
        return float("nan")
    k = _gauss1d(11, 1.5)
    c1, c2 = 0.01**2, 0.03**2
    x, sources = f / 255.0, [a / 255.0, b / 255.0]
    values: list[list[float]] = [[], []]  # per source: cs of levels 1-4, then ssim of level 5
    for level in range(len(_MS_SSIM_WEIGHTS)):
        if level:
            x, sources = _pool2(x), [_pool2(y) for y in sources]
        mx = _filter_valid(x, k)
        vx = _filter_valid(x * x, k) - mx * mx
        for y, out in zip(sources, values):
            my = _filter_valid(y, k)
            vy = _filter_valid(y * y, k) - my * my
            cs = (2 * (_filter_valid(x * y, k) - mx * my) + c2) / (vx + vy + c2)
            last = level == len(_MS_SSIM_WEIGHTS) - 1
            out.append(float(((2 * mx * my + c1) / (mx * mx + my * my + c1) * cs).mean() if last else cs.mean()))
    weights = np.array(_MS_SSIM_WEIGHTS)
    return float(sum(np.prod(np.maximum(v, 0) ** weights) for v in values))


FUSION_METRICS = {
    "EN": lambda f, a, b: en(f),
    "SD": lambda f, a, b: sd(f),
    "SF": lambda f, a, b: sf(f),
    "AG": lambda f, a, b: ag(f),
    "MI": mi,
    "CC": cc,
    "SCD": scd,
    "VIF": vif,
    "Qabf": qabf,
    "Nabf": nabf,
    "SSIM": ssim,
    "MS_SSIM": ms_ssim,
    "PSNR": psnr,
}


def fusion_metrics(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """All per-frame fusion metrics of fused F against sources A (IR) and B (VI), (H, W) float 0..255."""
    return {name: fn(f, a, b) for name, fn in FUSION_METRICS.items()}
