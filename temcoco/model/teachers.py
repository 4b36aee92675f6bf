"""Distillation teachers: VGG19 ``features[:12]`` (relu3_1) and DINOv2 patch tokens.

Teachers are only loaded from local files or caches, never downloaded. When none is
found, training runs without the distillation terms and logs why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from temcoco.errors import TemcocoError

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VGG19_FILE = "vgg19-dcbb9e9d.pth"  # torchvision's IMAGENET1K_V1 checkpoint name


def _normalize(x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean) / std


class VGGTeacher(nn.Module):
    """(N, 3 or 1, H, W) in 0..1 -> relu3_1 features (N, 256, H/4, W/4) of a VGG-like ``features`` stack."""

    def __init__(self, features: nn.Module) -> None:
        super().__init__()
        self.features = features.eval().requires_grad_(False)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(_normalize(x.expand(-1, 3, -1, -1)))


class DinoTeacher(nn.Module):
    """(N, 3 or 1, H, W) in 0..1 -> patch tokens (N, D, H', W') of a DINOv2 ViT, the input resized
    to the nearest multiple of the patch size, or with ``stride`` so that one token covers
    ``stride`` x ``stride`` input pixels (H' = H // stride).

    ``model`` is a ``transformers`` Dinov2Model or a model of the DINOv2 torch.hub repository
    (``forward_features`` -> ``x_norm_patchtokens``).
    """

    def __init__(self, model: nn.Module, stride: int | None = None) -> None:
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.stride = stride
        self.hub = hasattr(model, "forward_features")
        self.patch = int(model.patch_size if self.hub else model.config.patch_size)
        self.dim = int(model.embed_dim if self.hub else model.config.hidden_size)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.patch
        if self.stride:
            h, w = max(p, x.shape[-2] // self.stride * p), max(p, x.shape[-1] // self.stride * p)
        else:
            h, w = max(p, round(x.shape[-2] / p) * p), max(p, round(x.shape[-1] / p) * p)
        x = _normalize(F.interpolate(x.expand(-1, 3, -1, -1), size=(h, w), mode="bilinear", align_corners=False))
        if self.hub:
            tokens = self.model.forward_features(x)["x_norm_patchtokens"]
        else:
            tokens = self.model(pixel_values=x).last_hidden_state[:, 1:]  # drop CLS
            tokens = tokens[:, -(h // p) * (w // p) :]  # drop register tokens, if any
        return tokens.transpose(1, 2).reshape(x.shape[0], self.dim, h // p, w // p)


@dataclass
class Teachers:
    vgg: VGGTeacher | None = None
    dino: DinoTeacher | None = None

    def targets(self, ir: torch.Tensor, vi: torch.Tensor) -> dict[str, torch.Tensor]:
        """Clean IR (N, 1, H, W) and VI (N, 3, H, W) -> features keyed like the network's heads."""
        out = {}
        if self.vgg is not None:
            out["vis_ir"], out["vis_vi"] = self.vgg(ir), self.vgg(vi)
        if self.dino is not None:
            out["sem_ir"], out["sem_vi"] = self.dino(ir), self.dino(vi)
        return out


def _state_dict(file: Path) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file, or of a torch checkpoint read with the restricted
    (``weights_only``) unpickler, which refuses anything but tensors and plain containers."""
    if file.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(file)
    return torch.load(file, map_location="cpu", weights_only=True)


def load_vgg(path: str | None) -> VGGTeacher | None:
    """VGG19 features[:12] from ``path`` (a full torchvision checkpoint, or safetensors with at
    least the ``features.*`` tensors of those layers) or torchvision's file in the torch hub
    cache; None if absent."""
    from torchvision.models import vgg19

    file = Path(path) if path else Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE
    if not file.is_file():
        log.warning("no VGG19 weights at %s: training without the VGG distillation terms", file)
        return None
    features = vgg19().features[:12]
    state = {k.removeprefix("features."): v for k, v in _state_dict(file).items() if k.startswith("features.")}
    features.load_state_dict({k: v for k, v in state.items() if int(k.split(".")[0]) < 12})
    return VGGTeacher(features)


HUB_MODELS = {384: "dinov2_vits14", 768: "dinov2_vitb14", 1024: "dinov2_vitl14", 1536: "dinov2_vitg14"}


def load_dino(source: str | None, dim: int) -> DinoTeacher | None:
    """DINOv2 of width ``dim`` from ``source``: a clone of the DINOv2 torch.hub repository (a
    directory with ``hubconf.py``), a local ``transformers`` directory, or a model id in the HF
    cache (``local_files_only``). None, with a logged reason, if absent or of the wrong width."""
    if not source:
        log.warning("no DINOv2 teacher configured: training without the semantic distillation terms")
        return None
    if (Path(source) / "hubconf.py").is_file():
        model = _load_dino_hub(Path(source), dim)
        return DinoTeacher(model) if model is not None else None
    try:
        from transformers import Dinov2Model
    except ImportError:
        raise TemcocoError("a transformers DINOv2 teacher needs the train extra: pip install 'temcoco[train]'") from None
    try:
        model = Dinov2Model.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError) as exc:
        log.warning("DINOv2 teacher %s not available locally (%s): training without semantic distillation", source, exc)
        return None
    if model.config.hidden_size != dim:
        log.warning("DINOv2 width %d != network dino_dim %d: semantic distillation off", model.config.hidden_size, dim)
        return None
    return DinoTeacher(model)


def _load_dino_hub(repo: Path, dim: int) -> nn.Module | None:
    """The hub model for ``dim`` built from ``repo`` without downloading, its weights from
    ``repo/<name>_pretrain.safetensors`` or the hub cache's ``checkpoints/<name>_pretrain.pth``."""
    name = HUB_MODELS.get(dim)
    if name is None:
        log.warning("no DINOv2 hub model has width %d: semantic distillation off", dim)
        return None
    files = [repo / f"{name}_pretrain.safetensors", Path(torch.hub.get_dir()) / "checkpoints" / f"{name}_pretrain.pth"]
    file = next((f for f in files if f.is_file()), None)
    if file is None:
        log.warning("no weights for %s at %s: training without semantic distillation", name, " or ".join(map(str, files)))
        return None
    model = torch.hub.load(str(repo), name, source="local", pretrained=False)
    model.load_state_dict(_state_dict(file))
    return model
