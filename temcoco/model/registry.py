"""Factory for fusion methods by ``--method`` name."""

from __future__ import annotations

from pathlib import Path

from temcoco.errors import TemcocoError
from temcoco.model.base import FusionMethod
from temcoco.model.classical import ClassicalFusion

METHODS = ("temcoco", "average", "max", "laplacian")


def load_method(name: str, weights: str | None = None, device: str = "auto") -> FusionMethod:
    """Build the fusion method called ``name``.

    Args:
        name: one of :data:`METHODS`.
        weights: safetensors file for the network (default: the shipped weights).
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``; classical methods ignore it.
    """
    if name == "temcoco":
        from temcoco.model.inference import NetworkFusion
        from temcoco.model.paper.inference import PaperFusion
        from temcoco.model.paper.weights import is_paper_weights

        if weights and is_paper_weights(Path(weights)):  # the published network, from `temcoco convert-weights`
            return PaperFusion.load(weights, device)

        return NetworkFusion.load(weights=weights, device=device)
    if name in METHODS:
        return ClassicalFusion(name)
    raise TemcocoError(f"unknown method {name!r}: choose one of {', '.join(METHODS)}")
