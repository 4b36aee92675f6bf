"""``temcoco convert-weights``: the official ``.pth`` checkpoint to a temcoco safetensors file.

The checkpoint is read with torch's restricted unpickler (``weights_only=True``): a file
that would run code, or holds anything but tensors, is refused. A ``module.`` prefix (from
DataParallel training) is stripped; every key and shape is checked against :class:`PaperNet`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from temcoco.errors import TemcocoError
from temcoco.model.checkpoint import save_network, weights_version
from temcoco.model.paper.config import PaperConfig
from temcoco.model.paper.network import PaperNet

PREFIX = "module."


def read_official(src: Path) -> dict[str, torch.Tensor]:
    """The state_dict of an official checkpoint, safely unpickled, ``module.`` prefix stripped."""
    if not src.is_file():
        raise TemcocoError(f"checkpoint {src} not found")
    try:
        obj = torch.load(src, map_location="cpu", weights_only=True)
    except Exception as exc:  # the restricted unpickler raises UnpicklingError; corrupt files raise others
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TemcocoError(f"refused to load {src}: not a plain tensor checkpoint ({first})") from None
    if not isinstance(obj, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in obj.items()):
        raise TemcocoError(f"{src} is not a plain state_dict (a mapping of names to tensors)")
    return {k.removeprefix(PREFIX): v for k, v in obj.items()}


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


def convert_weights(src: Path, dst: Path, config: PaperConfig = PaperConfig()) -> str:
    """Convert ``src`` (official ``VideoFusionNet_*.pth``) to ``dst`` (.safetensors); one-line summary."""
    state = read_official(Path(src))
    net = PaperNet(config)
    check_state_dict(state, net)
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=True)
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    save_network(net, dst, {"source": Path(src).name})
    n = sum(p.numel() for p in net.parameters())
    return f"{dst}: {len(state)} tensors, {n:,} parameters, model version {weights_version(dst)}"
