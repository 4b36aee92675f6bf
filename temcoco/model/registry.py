"""Factory for fusion methods by ``--method`` name.

Besides the built-in names, ``--method package.module:factory`` loads a method of your own:
``factory(weights, device)`` returns a :class:`~temcoco.model.base.FusionMethod`. The module
must be importable on every Ray node (installed, or on the driver's working directory for a
local cluster).
"""

from __future__ import annotations

import importlib
import re

from temcoco.errors import TemcocoError
from temcoco.model.base import FusionMethod
from temcoco.model.classical import RULES, ClassicalFusion

NETWORK = "temcoco"
METHODS = (NETWORK, *RULES)
PLUGIN = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


def check_method(name: str) -> None:
    """A one-line error unless ``name`` names a built-in method or a ``module:factory`` plugin."""
    if name not in METHODS and PLUGIN.fullmatch(name) is None:
        raise TemcocoError(f"unknown method {name!r}: choose one of {', '.join(METHODS)} or give package.module:factory")


def load_method(name: str, weights: str | None = None, device: str = "auto") -> FusionMethod:
    """Build the fusion method called ``name``.

    Args:
        name: one of :data:`METHODS`, or ``package.module:factory``.
        weights: safetensors file for the network, whichever of :data:`temcoco.model.networks.NETWORKS`
            it holds (default: the shipped ``small`` weights).
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``; classical methods ignore it.
    """
    check_method(name)
    if name == NETWORK:
        from temcoco.model.networks import load_fusion  # torch: imported only when a network is asked for

        return load_fusion(weights, device)
    if name in RULES:
        return ClassicalFusion(name)
    module, factory = name.split(":")
    try:
        return getattr(importlib.import_module(module), factory)(weights, device)
    except (ImportError, AttributeError) as e:
        raise TemcocoError(f"cannot load method {name!r}: {e}") from e
