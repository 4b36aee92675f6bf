"""uint8 windows of frames in and out of a network: the checks every network's ``fuse`` makes,
the conversions to and from tensors, and the inference context."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from temcoco.errors import TemcocoError


def check_window(ir: np.ndarray, vi: np.ndarray, radius: int, who: str) -> tuple[np.ndarray, np.ndarray, int]:
    """A window of T core frames and ``radius`` context frames on each side.

    Args:
        ir: (T + 2r, H, W, 1) or (T + 2r, H, W) infrared frames.
        vi: (T + 2r, H, W, 3) visible frames on the same grid.
        radius: r, the network's temporal radius.
        who: the method named in errors.

    Returns:
        ir (T + 2r, H, W, 1) and vi (T + 2r, H, W, 3) as contiguous uint8, and T.
    """
    if ir.ndim == 3:
        ir = ir[..., None]
    if ir.shape[:3] != vi.shape[:3] or ir.shape[3] != 1 or vi.shape[3] != 3:
        raise TemcocoError(f"fuse needs ir (N, H, W, 1) and vi (N, H, W, 3) on one grid, got {ir.shape} and {vi.shape}")
    t = vi.shape[0] - 2 * radius
    if t < 1:
        raise TemcocoError(f"{who} needs at least {2 * radius + 1} frames (temporal radius {radius}), got {vi.shape[0]}")
    return np.ascontiguousarray(ir, np.uint8), np.ascontiguousarray(vi, np.uint8), t


def to_tensor(frames: np.ndarray, device: torch.device) -> torch.Tensor:
    """(N, H, W, C) uint8 -> (N, C, H, W) float32 in 0..1 on ``device``."""
    return torch.from_numpy(frames).to(device).permute(0, 3, 1, 2).float() / 255.0


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) float, nominally 0..1 -> (N, H, W, C) uint8 (clamped, rounded) on the CPU."""
    return frames.clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


@contextmanager
def inference(device: torch.device) -> Iterator[None]:
    """No autograd; bf16 autocast on CUDA, float32 elsewhere."""
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
        yield
