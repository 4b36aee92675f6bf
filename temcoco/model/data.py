"""Training data: M3SVD-layout clips (degraded inputs, clean targets) and random windows.

Layout under ``root``: ``infrared_noise/<seq>/NNNN.png`` (gray), ``visible_Blur/<seq>/``
(RGB), and the clean ``infrared_Enhance/<seq>/``, ``visible_Enhance/<seq>/``.
A sample is a random window of frames and a random crop; with probability ``real_prob``
its input is the real degraded pair, otherwise the online degradation of the clean pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from temcoco.errors import TemcocoError
from temcoco.model.degrade import DegradeConfig, degrade_ir, degrade_vi

FOLDERS = {"ir_in": "infrared_noise", "vi_in": "visible_Blur", "ir_gt": "infrared_Enhance", "vi_gt": "visible_Enhance"}


def _read_frames(folder: Path, gray: bool) -> np.ndarray:
    """(T, H, W, C) uint8, RGB for colour."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".bmp", ".tif"})
    frames = []
    for f in files:
        img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR)
        if img is None:
            raise TemcocoError(f"cannot read training frame {f}")
        frames.append(img[..., None] if gray else cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    return np.stack(frames)


@dataclass
class Clip:
    """One sequence: each of ``ir_in``, ``vi_in``, ``ir_gt``, ``vi_gt`` is (T, H, W, C) uint8."""

    name: str
    ir_in: np.ndarray
    vi_in: np.ndarray
    ir_gt: np.ndarray
    vi_gt: np.ndarray


def load_clips(root: Path) -> list[Clip]:
    """All sequences under an M3SVD-layout root (frames trimmed to the shortest stream)."""
    seq_dir = root / FOLDERS["ir_gt"]
    if not seq_dir.is_dir():
        raise TemcocoError(f"no training data at {root}: expected {', '.join(FOLDERS.values())} folders")
    clips = []
    for seq in sorted(p.name for p in seq_dir.iterdir() if p.is_dir()):
        arrays = {k: _read_frames(root / folder / seq, k.startswith("ir")) for k, folder in FOLDERS.items()}
        n = min(a.shape[0] for a in arrays.values())
        clips.append(Clip(seq, **{k: a[:n] for k, a in arrays.items()}))
    if not clips:
        raise TemcocoError(f"no sequences under {seq_dir}")
    return clips


def _to_tensor(a: np.ndarray) -> torch.Tensor:
    """(T, H, W, C) uint8 -> (T, C, H, W) float in 0..1."""
    return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).float() / 255.0


class WindowSampler:
    """Random training windows of ``frames`` frames and ``crop`` x ``crop`` pixels.

    ``batch(n)`` -> ir_in (n, T, 1, c, c), vi_in (n, T, 3, c, c), ir_gt, vi_gt (same shapes).
    """

    def __init__(self, clips: list[Clip], frames: int, crop: int, real_prob: float, degrade: DegradeConfig, seed: int):
        self.clips, self.frames, self.crop = clips, frames, crop
        self.real_prob, self.degrade = real_prob, degrade
        self.g = torch.Generator().manual_seed(seed)

    def _randint(self, hi: int) -> int:
        return int(torch.randint(hi, (), generator=self.g))

    def _sample(self) -> tuple[torch.Tensor, ...]:
        clip = self.clips[self._randint(len(self.clips))]
        n, h, w = clip.ir_gt.shape[:3]
        t0 = self._randint(max(1, n - self.frames + 1))
        idx = np.clip(np.arange(t0, t0 + self.frames), 0, n - 1)  # replicate ends of short clips
        if self._randint(2):
            idx = idx[::-1]  # time reversal
        y, x = self._randint(h - self.crop + 1), self._randint(w - self.crop + 1)
        window = (idx, slice(y, y + self.crop), slice(x, x + self.crop))
        ir_gt, vi_gt = _to_tensor(clip.ir_gt[window]), _to_tensor(clip.vi_gt[window])
        if float(torch.rand((), generator=self.g)) < self.real_prob:
            ir_in, vi_in = _to_tensor(clip.ir_in[window]), _to_tensor(clip.vi_in[window])
        else:
            ir_in, vi_in = degrade_ir(ir_gt, self.degrade, self.g), degrade_vi(vi_gt, self.degrade, self.g)
        out = (ir_in, vi_in, ir_gt, vi_gt)
        if self._randint(2):
            out = tuple(a.flip(-1) for a in out)
        return out

    def batch(self, n: int) -> tuple[torch.Tensor, ...]:
        samples = [self._sample() for _ in range(n)]
        return tuple(torch.stack(parts) for parts in zip(*samples))
