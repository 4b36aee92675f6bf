"""Temporal metrics of a fused video: flowD and feaCD (TemCoCo), BiSWE (VF-Bench).

Flow convention: ``flow(a, b)`` is an (H, W, 2) float32 field d (x, y order) with
a(p) ≈ b(p + d(p)); ``warp(img, d)`` samples img at p + d(p) (bilinear, replicated
border), so ``warp(b, flow(a, b))`` is b brought onto a's grid.

flowD follows TemCoCo's ``metrics.py``: per-pixel L2 norm over RGB (0..255) of the fused
frame minus the previous fused frame warped by the visible video's motion, mean over
pixels (their flow is SEA-RAFT's; the warp is done here with the backward flow
VI_t → VI_{t−1}, a plain backward sampling). BiSWE follows VF-Bench's ``metric.py``.

Flow comes from OpenCV DIS (medium preset for flowD, fast preset for BiSWE's six flows)
by default, or from torchvision RAFT when its weights are on this machine (no download,
ever): the file named by ``TEMCOCO_RAFT_WEIGHTS`` (safetensors), else torchvision's own
checkpoint in the torch hub cache. feaCD needs ResNet-18 ImageNet weights found the same
way (``TEMCOCO_RESNET18_WEIGHTS`` or ``resnet18-f37072fd.pth`` in the hub cache).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import cv2
import numpy as np
import torch

from temcoco.device import resolve_device
from temcoco.errors import TemcocoError

RAFT_ENV = "TEMCOCO_RAFT_WEIGHTS"
RESNET18_ENV = "TEMCOCO_RESNET18_WEIGHTS"
OCCLUSION_THRESHOLD = 1.0  # px, forward-backward consistency bound of VF-Bench's BiSWE


class FlowEstimator(Protocol):
    name: str  # "dis" or "raft", recorded in the metrics row as flow_method

    def __call__(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
        """Flows (H, W, 2) float32 of uint8 image pairs (a, b), each (H, W), (H, W, 1) or (H, W, 3) RGB."""
        ...


def _gray(img: np.ndarray) -> np.ndarray:
    """(H, W[, 1|3]) uint8 -> (H, W) uint8 grey levels (BT.601 for RGB)."""
    if img.ndim == 3 and img.shape[2] == 3:
        return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(img.reshape(img.shape[:2]))


def _rgb(img: np.ndarray) -> np.ndarray:
    """(H, W[, 1|3]) uint8 -> (H, W, 3) uint8 (grey replicated)."""
    return img if img.ndim == 3 and img.shape[2] == 3 else np.repeat(img.reshape(*img.shape[:2], 1), 3, axis=2)


def _channel_sum(x: np.ndarray, weight: float = 1.0) -> np.ndarray:
    """(H, W, C ≤ 4) float32 -> (H, W) weight · Σ_c x (cv2.transform: far faster than sum(axis=2))."""
    return cv2.transform(x, np.full((1, x.shape[2]), weight, np.float32))


class DisFlow:
    """OpenCV DIS optical flow on grey levels (medium preset unless told)."""

    name = "dis"

    def __init__(self, preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM) -> None:
        self._dis = cv2.DISOpticalFlow_create(preset)

    def __call__(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
        return [self._dis.calc(_gray(a), _gray(b), None) for a, b in pairs]


class RaftFlow:
    """torchvision RAFT (12 refinement steps) on RGB pairs, all pairs in one batch; grey inputs replicated.

    Frames are replicate-padded to sides divisible by 8 and at least 128 px (RAFT's minimum).
    """

    name = "raft"

    def __init__(self, model: torch.nn.Module) -> None:
        self._device = resolve_device()
        self._model = model.to(self._device)

    @torch.no_grad()
    def __call__(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
        def batch(images: list[np.ndarray]) -> torch.Tensor:
            x = torch.from_numpy(np.stack([_rgb(i) for i in images])).permute(0, 3, 1, 2).to(self._device)
            return x.float() / 127.5 - 1  # torchvision's OpticalFlow preset: [0, 255] -> [-1, 1]

        h, w = pairs[0][0].shape[:2]
        pad = (0, max(128, w + -w % 8) - w, 0, max(128, h + -h % 8) - h)
        x1, x2 = (torch.nn.functional.pad(batch(list(side)), pad, mode="replicate") for side in zip(*pairs))
        flows = self._model(x1, x2)[-1][:, :, :h, :w]
        return list(flows.permute(0, 2, 3, 1).float().cpu().numpy())


# --- weights discovery and loading (no network) --------------------------------------------


def _hub_checkpoint(url: str) -> Path:
    """Where torchvision caches the checkpoint downloaded from ``url``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def _env_weights(var: str) -> Path | None:
    value = os.environ.get(var)
    if not value:
        return None
    path = Path(value).expanduser()
    if path.suffix != ".safetensors" or not path.is_file():
        raise TemcocoError(f"{var}={value} must name an existing .safetensors file")
    return path


def find_raft_weights() -> Path | None:
    """RAFT weights: ``$TEMCOCO_RAFT_WEIGHTS``, else torchvision's raft_large, else raft_small checkpoint."""
    from torchvision.models.optical_flow import Raft_Large_Weights, Raft_Small_Weights

    env = _env_weights(RAFT_ENV)
    if env is not None:
        return env
    for weights in (Raft_Large_Weights.DEFAULT, Raft_Small_Weights.DEFAULT):
        if _hub_checkpoint(weights.url).is_file():
            return _hub_checkpoint(weights.url)
    return None


def find_resnet18_weights() -> Path | None:
    """ResNet-18 ImageNet weights: ``$TEMCOCO_RESNET18_WEIGHTS``, else torchvision's checkpoint in the hub cache."""
    from torchvision.models import ResNet18_Weights

    env = _env_weights(RESNET18_ENV)
    if env is not None:
        return env
    path = _hub_checkpoint(ResNet18_Weights.IMAGENET1K_V1.url)
    return path if path.is_file() else None


def _state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors only: safetensors, or torchvision's official .pth with ``weights_only=True``."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


@functools.lru_cache(maxsize=2)
def load_raft(path: Path) -> torch.nn.Module:
    """torchvision RAFT (large or small, whichever the state dict fits), eval mode."""
    from torchvision.models.optical_flow import raft_large, raft_small

    state = _state_dict(path)
    for build in (raft_large, raft_small):
        model = build(weights=None)
        try:
            model.load_state_dict(state)
        except RuntimeError:
            continue
        return model.eval()
    raise TemcocoError(f"{path} is not a torchvision RAFT (large or small) state dict")


@functools.lru_cache(maxsize=2)
def load_resnet18(path: Path) -> torch.nn.Module:
    """torchvision ResNet-18 with these weights, eval mode."""
    from torchvision.models import resnet18

    model = resnet18(weights=None)
    try:
        model.load_state_dict(_state_dict(path))
    except RuntimeError as e:
        raise TemcocoError(f"{path} is not a torchvision ResNet-18 state dict: {e}") from e
    return model.eval()


def make_flows(method: str = "auto") -> tuple[FlowEstimator, FlowEstimator]:
    """The flow estimators of flowD and of BiSWE: (DIS medium, DIS fast) or the same RAFT twice.

    ``dis``; ``raft`` (its weights must be found); ``auto``: RAFT when weights are found and a GPU is
    available (six RAFT flows a frame: 9 s small, 24 s large on a CPU core), else DIS. BiSWE's six flows use
    DIS's fast preset (a sixth of the cost; BiSWE within ~4 % of the medium preset's on M3SVD). flowD keeps
    its own medium-preset flow: BiSWE's VI flow is the same frames and direction but not the same preset,
    so sharing it would change flowD's values.
    """
    if method == "dis":
        return DisFlow(), DisFlow(cv2.DISOPTICAL_FLOW_PRESET_FAST)
    if method not in ("raft", "auto"):
        raise ValueError(f"unknown flow method {method!r} (auto, dis, raft)")
    weights = find_raft_weights()
    if method == "raft" and weights is None:
        raise TemcocoError(f"flow 'raft' needs RAFT weights: set {RAFT_ENV} to a .safetensors file or put "
                           f"torchvision's raft checkpoint in {Path(torch.hub.get_dir()) / 'checkpoints'}")
    if weights is not None and (method == "raft" or torch.cuda.is_available()):
        raft = RaftFlow(load_raft(weights))
        return raft, raft  # one computation: flowD's flow is BiSWE's VI_t -> VI_t-1 flow
    return make_flows("dis")


# --- flowD and BiSWE --------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _grid(h: int, w: int) -> np.ndarray:
    """Pixel coordinates (H, W, 2) float32, (x, y) order."""
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return np.stack([gx, gy], axis=2)


def warp(img: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """img (H, W[, C]) float32 sampled at p + flow(p): bilinear, replicated border; same shape as img.

    One (H, W, 2) map (cv2's CV_32FC2 form): one contiguous add instead of two strided ones."""
    return cv2.remap(img, _grid(*flow.shape[:2]) + flow, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def flowd_map(prev_fused: np.ndarray, fused: np.ndarray, flow_back: np.ndarray) -> np.ndarray:
    """(H, W) ‖F_t(p) − F_{t−1}(p + d(p))‖₂ over RGB; F (H, W, 3) float32 0..255, d = flow(VI_t, VI_{t−1})."""
    diff = fused - warp(prev_fused, flow_back)
    return np.sqrt(_channel_sum(diff * diff))


def flowd(prev_fused: np.ndarray, fused: np.ndarray, flow_back: np.ndarray) -> float:
    """flowD_t = mean_p ‖F_t − warp(F_{t−1}, flow(VI_t, VI_{t−1}))‖₂ (TemCoCo: RGB 0..255, L2 over RGB)."""
    return float(flowd_map(prev_fused, fused, flow_back).mean())


def occlusion_mask(flow_ab: np.ndarray, flow_ba: np.ndarray, threshold: float = OCCLUSION_THRESHOLD) -> np.ndarray:
    """(H, W) bool, True where visible: ‖d_ab(p) + d_ba(p + d_ab(p))‖₂ < threshold (forward-backward check)."""
    residual = flow_ab + warp(flow_ba, flow_ab)
    return cv2.magnitude(residual[..., 0], residual[..., 1]) < threshold


def warp_error(cur: np.ndarray, other: np.ndarray, flow_cur_other: np.ndarray, mask: np.ndarray) -> float:
    """Σ_p m(p)·mean_c|cur − warp(other, d)| / (Σ m + 1e-10); cur, other (H, W, 3) float32 0..255."""
    diff = _channel_sum(np.abs(cur - warp(other, flow_cur_other)), 1 / 3)
    return float((diff * mask).sum(dtype=np.float64) / (mask.sum() + 1e-10))


@dataclass(frozen=True)
class Frames:
    """One time step of a clip: ir (H, W) uint8, vi and fused (H, W, 3) uint8 RGB, all on the VI grid."""

    ir: np.ndarray
    vi: np.ndarray
    fused: np.ndarray

    @functools.cached_property
    def fused_f32(self) -> np.ndarray:
        return self.fused.astype(np.float32)


@dataclass(frozen=True)
class PairTerms:
    """Temporal terms of consecutive frames t−1, t."""

    flowd: float  # flowD_t
    err_prev: float  # BiSWE term of frame t against t−1
    err_next: float  # BiSWE term of frame t−1 against t


def pair_terms(prev: Frames, cur: Frames, flowd_flow: FlowEstimator, biswe_flow: FlowEstimator) -> PairTerms:
    """flowD_t and the two BiSWE half-terms of a pair (``make_flows`` gives the two estimators).

    BiSWE (VF-Bench) uses six flows (VI, IR, fused; both directions): the fused video warped onto
    itself with its own flow, the error masked where the forward-backward check of either source's
    flow fails; BiSWE_t = err(t→t−1) + err(t→t+1).
    """
    pairs = [(cur.vi, prev.vi), (prev.vi, cur.vi), (cur.ir, prev.ir), (prev.ir, cur.ir),
             (cur.fused, prev.fused), (prev.fused, cur.fused)]
    vi_b, vi_f, ir_b, ir_f, fu_b, fu_f = biswe_flow(pairs)
    flow_back = vi_b if flowd_flow is biswe_flow else flowd_flow(pairs[:1])[0]  # shared only when identical
    mask_prev = occlusion_mask(vi_b, vi_f) & occlusion_mask(ir_b, ir_f)  # valid pixels of t looking back
    mask_next = occlusion_mask(vi_f, vi_b) & occlusion_mask(ir_f, ir_b)  # valid pixels of t−1 looking ahead
    return PairTerms(
        flowd=flowd(prev.fused_f32, cur.fused_f32, flow_back),
        err_prev=warp_error(cur.fused_f32, prev.fused_f32, fu_b, mask_prev),
        err_next=warp_error(prev.fused_f32, cur.fused_f32, fu_f, mask_next),
    )


# --- feaCD --------------------------------------------------------------------------------------


class FeatureNet:
    """ResNet-18 ImageNet logits of raw 0..255 RGB frames (no normalisation, as in TemCoCo's feaCD)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self._device = resolve_device()
        self._model = model.to(self._device)

    @torch.no_grad()
    def __call__(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """(N, 1000) float32 CPU logits of N uint8 images (H, W[, 1|3]) of one size (grey replicated)."""
        x = torch.from_numpy(np.stack([_rgb(i) for i in images])).permute(0, 3, 1, 2).float()
        return self._model(x.to(self._device)).float().cpu()


def make_features() -> FeatureNet | None:
    """The feaCD feature network, or None without ResNet-18 weights."""
    path = find_resnet18_weights()
    return None if path is None else FeatureNet(load_resnet18(path))


def feacd(d_fused: torch.Tensor, d_vi: torch.Tensor, d_ir: torch.Tensor) -> float:
    """feaCD_t = mean_k(1 − cos(ΔF, ΔV)_k) + mean_k(1 − cos(ΔF, ΔI)_k), Δ = φ(t−1) − φ(t), (1000,) logits.

    TemCoCo takes the cosine over dim 0 of (1, 1000) tensors, i.e. per logit: it is the sign
    agreement of each logit's change (0 when fused and source move alike, 2 when opposite).
    """
    cos = torch.nn.functional.cosine_similarity
    f = d_fused[None]
    return float((1 - cos(f, d_vi[None], dim=0)).mean() + (1 - cos(f, d_ir[None], dim=0)).mean())
