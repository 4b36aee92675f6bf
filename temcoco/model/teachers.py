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
    """(N, 3 or 1, H, W) in 0..1 -> patch tokens (N, D, H', W') of a ``transformers`` Dinov2Model,
    the input resized to the nearest multiple of the patch size."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.patch = int(model.config.patch_size)
        self.dim = int(model.config.hidden_size)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.patch
        h, w = max(p, round(x.shape[-2] / p) * p), max(p, round(x.shape[-1] / p) * p)
        x = F.interpolate(x.expand(-1, 3, -1, -1), size=(h, w), mode="bilinear", align_corners=False)
        tokens = self.model(pixel_values=_normalize(x)).last_hidden_state[:, 1:]  # drop CLS
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


def load_vgg(path: str | None) -> VGGTeacher | None:
    """VGG19 features[:12] from ``path`` or torchvision's file in the torch hub cache; None if absent."""
    from torchvision.models import vgg19

    file = Path(path) if path else Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE
    if not file.is_file():
        log.warning("no VGG19 weights at %s: training without the VGG distillation terms", file)
        return None
    model = vgg19()
    model.load_state_dict(torch.load(file, map_location="cpu", weights_only=True))
    return VGGTeacher(model.features[:12])


def load_dino(source: str | None, dim: int) -> DinoTeacher | None:
    """DINOv2 from a local ``transformers`` directory or a model id in the HF cache
    (``local_files_only``); None (with a logged reason) if absent or of the wrong width."""
    if not source:
        log.warning("no DINOv2 teacher configured: training without the semantic distillation terms")
        return None
    from transformers import Dinov2Model

    try:
        model = Dinov2Model.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError) as exc:
        log.warning("DINOv2 teacher %s not available locally (%s): training without semantic distillation", source, exc)
        return None
    if model.config.hidden_size != dim:
        log.warning("DINOv2 width %d != network dino_dim %d: semantic distillation off", model.config.hidden_size, dim)
        return None
    return DinoTeacher(model)
