"""The network registry: each network's name (``small``, ``paper``) to how it is configured,
built, trained and run. Loading (``--method temcoco --weights W``) and training
(``network = "..."`` in a training config) both go through it; a weights file says which
network it holds by the ``name`` of the config stored in it (:mod:`temcoco.model.checkpoint`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from temcoco.device import resolve_device
from temcoco.errors import TemcocoError
from temcoco.model.base import FusionMethod
from temcoco.model.checkpoint import load_weights, read_config, weights_version
from temcoco.model.paper.config import PaperConfig
from temcoco.model.paper.inference import PaperFusion
from temcoco.model.paper.network import PaperNet
from temcoco.model.paper.training import PaperTrainee
from temcoco.model.small.config import SmallConfig
from temcoco.model.small.inference import SmallFusion
from temcoco.model.small.network import SmallNet

SHIPPED_WEIGHTS = Path(__file__).resolve().parent / "weights" / "small.safetensors"  # the default weights


@dataclass(frozen=True)
class NetworkSpec:
    """One network. Every callable takes or gives what the one before it gives.

    Attributes:
        config: its config dataclass; ``config()`` is a new network's, ``config.from_dict(d, source)``
            reads the dict stored in a weights file (errors name ``source``).
        network: config -> the network that fuses (its ``config`` attribute is the config).
        trainee: config -> the network that trains, with the same state_dict.
        fusion: (network, model version, device) -> the FusionMethod running it.
    """

    config: type
    network: Callable[[Any], nn.Module]
    trainee: Callable[[Any], nn.Module]
    fusion: Callable[[nn.Module, str, torch.device], FusionMethod]


NETWORKS = {
    "small": NetworkSpec(SmallConfig, SmallNet, SmallNet, SmallFusion),
    "paper": NetworkSpec(PaperConfig, PaperNet, PaperTrainee, PaperFusion),
}


def network_spec(name: str) -> NetworkSpec:
    """The network called ``name``; a TemcocoError listing the names otherwise."""
    if name not in NETWORKS:
        raise TemcocoError(f"unknown network {name!r}: choose one of {', '.join(NETWORKS)}")
    return NETWORKS[name]


def new_network(name: str) -> nn.Module:
    """A new (randomly initialised) network that fuses, with its default config."""
    spec = network_spec(name)
    return spec.network(spec.config())


def new_trainee(name: str) -> nn.Module:
    """A new (randomly initialised) network to train, with its default config."""
    spec = network_spec(name)
    return spec.trainee(spec.config())


def _stored(path: Path) -> tuple[NetworkSpec, Any]:
    """The spec and config of the network a weights file holds."""
    stored = read_config(path)
    name = stored.get("name")
    if name not in NETWORKS:
        raise TemcocoError(f"{path} holds an unknown network {name!r}: not one of {', '.join(NETWORKS)}")
    spec = NETWORKS[name]
    return spec, spec.config.from_dict(stored, str(path))


def load_trainee(path: Path, new_modules_ok: bool = False) -> nn.Module:
    """The network a weights file holds, to train (resume, or fine-tune: ``new_modules_ok`` lets modules
    the file lacks keep their initial weights, see :func:`~temcoco.model.checkpoint.load_weights`)."""
    spec, config = _stored(Path(path))
    net = spec.trainee(config)
    load_weights(net, path, new_modules_ok)
    return net


def load_fusion(path: Path | None = None, device: str = "auto") -> FusionMethod:
    """The FusionMethod of a weights file (default: the shipped ``small`` weights) on ``device``
    (``auto``: CUDA when present)."""
    path = Path(path) if path else SHIPPED_WEIGHTS
    spec, config = _stored(path)
    net = spec.network(config)
    load_weights(net, path)
    return spec.fusion(net, weights_version(path), resolve_device(device))
