"""Safetensors files of the published network: weights plus, in the metadata, ``format =
"temcoco"`` and the JSON :class:`PaperConfig` (``name = "paper"``), as for every temcoco network."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from temcoco.errors import TemcocoError
from temcoco.model.checkpoint import FORMAT, read_metadata
from temcoco.model.paper.config import NAME, PaperConfig
from temcoco.model.paper.network import PaperNet


def is_paper_weights(path: Path) -> bool:
    """Whether a temcoco weights file holds the published network."""
    if path.suffix in (".pth", ".pt"):
        raise TemcocoError(f"{path} is a torch checkpoint: convert it first (temcoco convert-weights {path} OUT.safetensors)")
    return json.loads(read_metadata(path).get("config", "{}")).get("name") == NAME


def save_paper(net: PaperNet, config: PaperConfig, path: Path, extra: dict[str, str] | None = None) -> None:
    """Write the weights with the config (and ``extra`` string metadata)."""
    state = {k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
    meta = {"format": FORMAT, "config": json.dumps(config.to_dict()), **(extra or {})}
    save_file(state, str(path), metadata=meta)


def load_paper(path: Path) -> tuple[PaperNet, PaperConfig]:
    """The published network and its window config from a weights file."""
    meta = read_metadata(path)
    if meta.get("format") != FORMAT or "config" not in meta:
        raise TemcocoError(f"{path} is not a temcoco weights file (no temcoco config in its metadata)")
    config = PaperConfig.from_dict(json.loads(meta["config"]))
    net = PaperNet()
    try:
        net.load_state_dict(load_file(str(path)), strict=True)
    except (RuntimeError, OSError) as exc:
        raise TemcocoError(f"cannot load paper weights from {path}: {str(exc).splitlines()[0]}") from exc
    return net, config


def check_state_dict(state: dict[str, torch.Tensor], net: PaperNet) -> None:
    """Raise a TemcocoError naming the first key that is missing, unexpected or of the wrong
    shape, or a constant table that differs from the network's own."""
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    if missing:
        raise TemcocoError(f"checkpoint lacks key {missing[0]!r} ({len(missing)} missing): not the published TemCoCo network")
    unexpected = [k for k in state if k not in own]
    if unexpected:
        raise TemcocoError(f"checkpoint has unexpected key {unexpected[0]!r} ({len(unexpected)} unexpected)")
    for key, ref in own.items():
        if tuple(state[key].shape) != tuple(ref.shape):
            raise TemcocoError(f"checkpoint key {key!r} has shape {tuple(state[key].shape)}, expected {tuple(ref.shape)}")
    for key, ref in net.named_buffers():
        if not torch.equal(state[key].to(ref.dtype), ref):
            raise TemcocoError(f"checkpoint buffer {key!r} differs from the published network's constant table")
