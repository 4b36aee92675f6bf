"""Factory for fusion methods by ``--method`` name."""

from __future__ import annotations

from temcoco.errors import TemcocoError
from temcoco.model.base import FusionMethod
from temcoco.model.classical import RULES, ClassicalFusion

NETWORK = "temcoco"
METHODS = (NETWORK, *RULES)


def load_method(name: str, weights: str | None = None, device: str = "auto") -> FusionMethod:
    """Build the fusion method called ``name``.

    Args:
        name: one of :data:`METHODS`.
        weights: safetensors file for the network (default: the shipped weights).
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``; classical methods ignore it.
    """
    if name == NETWORK:
        from temcoco.model.inference import NetworkFusion

        return NetworkFusion.load(weights=weights, device=device)
    if name in RULES:
        return ClassicalFusion(name)
    raise TemcocoError(f"unknown method {name!r}: choose one of {', '.join(METHODS)}")
