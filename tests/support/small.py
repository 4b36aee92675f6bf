"""Helpers of the small network's tests: a random network (output head included) and random clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from temcoco.model.checkpoint import save_network
from temcoco.model.small.config import SmallConfig
from temcoco.model.small.network import SmallNet


def random_small_net(seed: int = 0) -> SmallNet:
    """A random network whose output head is random too (it is zero at init: the plain blend)."""
    torch.manual_seed(seed)
    net = SmallNet(SmallConfig()).eval()
    torch.nn.init.normal_(net.decoder.head.weight, std=0.05)
    return net


def write_weights(folder: Path, net: SmallNet) -> Path:
    """``net`` saved as ``folder/w.safetensors``."""
    path = folder / "w.safetensors"
    save_network(net, path)
    return path


def random_clip(n: int, h: int, w: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """IR (n, h, w, 1) and VI (n, h, w, 3) uint8 noise."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, h, w, 1), dtype=np.uint8), rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8)
