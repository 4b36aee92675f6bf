"""Safetensors files for networks and optimizer states (never pickle).

A network file holds the weights and, in its metadata, ``format = "temcoco"`` and the JSON
config of the network (its ``name`` says which network of :mod:`temcoco.model.networks`), so a
file fully describes its model.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from temcoco.errors import TemcocoError

FORMAT = "temcoco"
log = logging.getLogger(__name__)
TORCH_SUFFIXES = (".pth", ".pt")  # pickled torch checkpoints: `temcoco convert-weights` first


def save_network(net: nn.Module, path: Path, extra: dict[str, str] | None = None) -> None:
    """Write the weights and ``net.config`` as metadata (and ``extra`` string metadata)."""
    state = {k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
    meta = {"format": FORMAT, "config": json.dumps(net.config.to_dict()), **(extra or {})}
    save_file(state, str(path), metadata=meta)


def read_metadata(path: Path) -> dict[str, str]:
    """The string metadata of a safetensors file; a one-line TemcocoError for anything else."""
    if Path(path).suffix in TORCH_SUFFIXES:
        raise TemcocoError(f"{path} is a torch checkpoint: convert it first (temcoco convert-weights {path} OUT.safetensors)")
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except FileNotFoundError:
        raise TemcocoError(f"weights file {path} not found") from None
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise TemcocoError(f"weights file {path} is not a valid safetensors file: {exc}") from exc


def read_config(path: Path) -> dict:
    """The network config stored in a temcoco weights file, as a dict."""
    meta = read_metadata(path)
    if meta.get("format") != FORMAT or "config" not in meta:
        raise TemcocoError(f"{path} is not a temcoco weights file (no temcoco config in its metadata)")
    return json.loads(meta["config"])


def load_weights(net: nn.Module, path: Path, new_modules_ok: bool = False) -> None:
    """Load a weights file into ``net``: every key, of the right shape, and no other.

    ``new_modules_ok`` (fine-tuning only): modules of the network that the file lacks keep their
    initial weights, with a warning naming them; keys the network lacks are still an error.
    """
    try:
        missing = net.load_state_dict(load_file(str(path)), strict=not new_modules_ok).missing_keys
    except Exception as exc:
        raise TemcocoError(f"cannot load weights from {path}: {' '.join(str(exc).split())}") from exc  # one line
    if missing:
        log.warning("%s has no weights for %s: they keep their initial values", path, ", ".join(missing))


def weights_version(path: Path) -> str:
    """The model version of a weights file: ``temcoco-<config name>-<first 8 hex of its SHA-256>``."""
    config = json.loads(read_metadata(path).get("config", "{}"))
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return f"temcoco-{config.get('name', 'unknown')}-{h.hexdigest()[:8]}"


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
