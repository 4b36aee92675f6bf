"""Safetensors files for networks and optimizer states (never pickle).

A network file holds the weights and, in its metadata, ``format = "temcoco"`` and the
JSON network config, so a file fully describes its model.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from temcoco.errors import TemcocoError
from temcoco.model.network import NetworkConfig, TemCoCoNet

FORMAT = "temcoco"
log = logging.getLogger(__name__)


def save_network(net: TemCoCoNet, path: Path, extra: dict[str, str] | None = None) -> None:
    """Write weights + config metadata (and ``extra`` string metadata)."""
    state = {k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
    meta = {"format": FORMAT, "config": json.dumps(net.config.to_dict()), **(extra or {})}
    save_file(state, str(path), metadata=meta)


def read_metadata(path: Path) -> dict[str, str]:
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except FileNotFoundError:
        raise TemcocoError(f"weights file {path} not found") from None
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise TemcocoError(f"weights file {path} is not a valid safetensors file: {exc}") from exc


def load_network(path: Path, new_modules_ok: bool = False) -> TemCoCoNet:
    """Build the network a weights file describes and load its weights.

    ``new_modules_ok`` (fine-tuning only): modules of the network that the file lacks keep their
    initial weights, with a warning naming them; keys the network lacks are still an error.
    """
    meta = read_metadata(path)
    if meta.get("format") != FORMAT or "config" not in meta:
        raise TemcocoError(f"{path} is not a temcoco weights file (no temcoco config in its metadata)")
    config = NetworkConfig.from_dict(json.loads(meta["config"]), str(path))
    try:
        net = TemCoCoNet(config)
        missing = net.load_state_dict(load_file(str(path)), strict=not new_modules_ok).missing_keys
    except Exception as exc:
        raise TemcocoError(f"cannot load weights from {path}: {exc}") from exc
    if missing:
        log.warning("%s has no weights for %s: they keep their initial values", path, ", ".join(missing))
    return net


def save_optimizer(opt: torch.optim.Optimizer, path: Path) -> None:
    """Tensors of the optimizer state to safetensors; the rest (param groups, scalars) as JSON metadata."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, state in sd["state"].items():
        for name, value in state.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{name}"] = value.detach().contiguous().cpu()
            else:
                scalars[f"{pid}.{name}"] = value
    meta = {"param_groups": json.dumps(sd["param_groups"]), "scalars": json.dumps(scalars)}
    save_file(tensors, str(path), metadata=meta)


def load_optimizer(opt: torch.optim.Optimizer, path: Path) -> None:
    tensors = load_file(str(path))
    meta = read_metadata(path)
    state: dict[int, dict] = {}
    for key, value in {**tensors, **json.loads(meta["scalars"])}.items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    opt.load_state_dict({"state": state, "param_groups": json.loads(meta["param_groups"])})
