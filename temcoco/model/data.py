"""Training and validation data: M3SVD sequences, image pairs made into moving clips, and random windows.

Two sources:

- **sequences** in the M3SVD layout under a root: ``infrared_noise/<seq>/NNNN.png`` (gray),
  ``visible_Blur/<seq>/`` (RGB), and the clean ``infrared_Enhance/<seq>/``, ``visible_Enhance/<seq>/``;
- **image pairs** (RoadScene layout): ``ir/<name>.jpg`` (gray) and ``vi/<name>.jpg`` (RGB) on one grid.
  A pair becomes a clip by moving one crop window over both images (:func:`camera_clip`): a pan,
  a slow zoom, a small shake, or a still camera.

A training sample is a window of frames with a random crop. Its targets are always the clean
frames; its input is the clean frames themselves with probability ``clean_prob`` (the network
must then fuse faithfully), otherwise degraded: for a sequence, the real degraded frames with
probability ``real_prob``, else the online degradations of :mod:`temcoco.model.degrade`.
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
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif"}


def _read_image(path: Path, gray: bool) -> np.ndarray:
    """(H, W, 1) gray or (H, W, 3) RGB uint8."""
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR)
    if img is None:
        raise TemcocoError(f"cannot read training image {path}")
    return img[..., None] if gray else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


@dataclass
class Clip:
    """One sequence: each of ``ir_in``, ``vi_in``, ``ir_gt``, ``vi_gt`` is (T, H, W, C) uint8."""

    name: str
    ir_in: np.ndarray
    vi_in: np.ndarray
    ir_gt: np.ndarray
    vi_gt: np.ndarray


@dataclass
class Pair:
    """One registered image pair: ``ir`` (H, W, 1) and ``vi`` (H, W, 3) uint8, both clean."""

    name: str
    ir: np.ndarray
    vi: np.ndarray


def load_clips(root: Path, names: set[str] | None = None, exclude: set[str] = frozenset()) -> list[Clip]:
    """The sequences under an M3SVD-layout root (``names`` only, if given; not ``exclude``),
    frames trimmed to the shortest stream."""
    seq_dir = root / FOLDERS["ir_gt"]
    if not seq_dir.is_dir():
        raise TemcocoError(f"no training data at {root}: expected {', '.join(FOLDERS.values())} folders")
    clips = []
    for seq in sorted(p.name for p in seq_dir.iterdir() if p.is_dir()):
        if seq in exclude or (names is not None and seq not in names):
            continue
        arrays = {k: np.stack([_read_image(f, k.startswith("ir")) for f in _image_files(root / folder / seq)])
                  for k, folder in FOLDERS.items()}
        n = min(a.shape[0] for a in arrays.values())
        clips.append(Clip(seq, **{k: a[:n] for k, a in arrays.items()}))
    if not clips:
        raise TemcocoError(f"no sequences under {seq_dir}")
    return clips


def pair_names(root: Path) -> list[str]:
    """Sorted names (file stems) of the pairs under a RoadScene-layout root."""
    if not (root / "ir").is_dir() or not (root / "vi").is_dir():
        raise TemcocoError(f"no image pairs at {root}: expected ir/ and vi/ folders")
    vi = {p.stem for p in _image_files(root / "vi")}
    return [p.stem for p in _image_files(root / "ir") if p.stem in vi]


def split_pairs(names: list[str], every: int) -> tuple[list[str], list[str]]:
    """(train, validation): every ``every``-th name of the sorted list is held out (0: none)."""
    held = set(names[::every]) if every else set()
    return [n for n in names if n not in held], [n for n in names if n in held]


def load_pairs(root: Path, names: list[str]) -> list[Pair]:
    """The named pairs; a pair whose images differ in size is an error."""
    pairs = []
    for name in names:
        ir, vi = (_read_image(next((root / d).glob(f"{name}.*")), d == "ir") for d in ("ir", "vi"))
        if ir.shape[:2] != vi.shape[:2]:
            raise TemcocoError(f"pair {name}: IR {ir.shape[:2]} and VI {vi.shape[:2]} differ in size")
        pairs.append(Pair(name, ir, vi))
    return pairs


def camera_clip(pair: Pair, frames: int, crop: int, g: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A clip of ``frames`` crop x crop frames seen by a camera moving over the pair.

    The window (side ``crop * scale``, scale 1 .. 1.6) starts at a random place and moves
    with a constant velocity (up to 3 px a frame), zooms slowly (up to 1 % a frame) and shakes
    (0.6 px); one sample in five is a still camera. Returns ir (T, c, c, 1), vi (T, c, c, 3) uint8.
    """
    h, w = pair.ir.shape[:2]
    rand = lambda lo, hi, n=(): lo + (hi - lo) * torch.rand(n, generator=g).numpy()  # noqa: E731
    still = float(torch.rand((), generator=g)) < 0.2
    t = np.arange(frames)[:, None]
    scale0 = rand(1.0, min(1.6, 0.99 * min(h, w) / crop))
    scale = scale0 * (1 + (0 if still else rand(-0.01, 0.01)) * np.arange(frames))
    scale = np.clip(scale, 0.7, 0.99 * min(h, w) / crop)
    half = crop * scale[:, None] / 2  # (T, 1)
    start = np.array([rand(half[0, 0], w - half[0, 0]), rand(half[0, 0], h - half[0, 0])])
    motion = 0 if still else rand(-3, 3, (2,)) * t + 0.6 * torch.randn(frames, 2, generator=g).numpy()
    centre = np.clip(start + motion, half, np.array([w, h]) - half)  # (T, 2) x, y
    ir, vi = np.empty((frames, crop, crop, 1), np.uint8), np.empty((frames, crop, crop, 3), np.uint8)
    for i in range(frames):
        s = scale[i]
        m = np.array([[s, 0, centre[i, 0] - s * crop / 2], [0, s, centre[i, 1] - s * crop / 2]], np.float32)
        flags, border = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, cv2.BORDER_REFLECT
        ir[i, ..., 0] = cv2.warpAffine(pair.ir[..., 0], m, (crop, crop), flags=flags, borderMode=border)
        vi[i] = cv2.warpAffine(pair.vi, m, (crop, crop), flags=flags, borderMode=border)
    return ir, vi


def _to_tensor(a: np.ndarray) -> torch.Tensor:
    """(T, H, W, C) uint8 -> (T, C, H, W) float in 0..1."""
    return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).float() / 255.0


@dataclass(frozen=True)
class SampleMix:
    """How samples are drawn (see the module docstring)."""

    pair_prob: float = 0.5  # share of samples made from image pairs (the rest from sequences)
    clean_prob: float = 0.4  # share of samples whose input is the clean frames
    real_prob: float = 0.7  # of degraded sequence samples, share with the real degraded inputs


class WindowSampler:
    """Random training windows of ``frames`` frames and ``crop`` x ``crop`` pixels.

    ``batch(n)`` -> ir_in (n, T, 1, c, c), vi_in (n, T, 3, c, c), ir_gt, vi_gt (same shapes) and
    ``degraded`` (n,): 1.0 where the input is degraded, 0.0 where it is the clean frames.
    """

    def __init__(self, clips: list[Clip], pairs: list[Pair], frames: int, crop: int, mix: SampleMix,
                 degrade: DegradeConfig, seed: int):
        if not clips and not pairs:
            raise TemcocoError("no training data: neither sequences nor image pairs")
        self.clips, self.pairs, self.frames, self.crop = clips, pairs, frames, crop
        self.mix, self.degrade = mix, degrade
        self.g = torch.Generator().manual_seed(seed)

    def _randint(self, hi: int) -> int:
        return int(torch.randint(hi, (), generator=self.g))

    def _chance(self, p: float) -> bool:
        return float(torch.rand((), generator=self.g)) < p

    def _sequence_window(self) -> tuple[np.ndarray, ...]:
        """A random window of a random sequence: ir_in, vi_in, ir_gt, vi_gt (T, c, c, C) uint8."""
        clip = self.clips[self._randint(len(self.clips))]
        n, h, w = clip.ir_gt.shape[:3]
        t0 = self._randint(max(1, n - self.frames + 1))
        idx = np.clip(np.arange(t0, t0 + self.frames), 0, n - 1)  # replicate ends of short clips
        y, x = self._randint(h - self.crop + 1), self._randint(w - self.crop + 1)
        window = (idx, slice(y, y + self.crop), slice(x, x + self.crop))
        return clip.ir_in[window], clip.vi_in[window], clip.ir_gt[window], clip.vi_gt[window]

    def _sample(self) -> tuple[torch.Tensor, ...]:
        from_pair = bool(self.pairs) and (not self.clips or self._chance(self.mix.pair_prob))
        if from_pair:
            ir_gt, vi_gt = camera_clip(self.pairs[self._randint(len(self.pairs))], self.frames, self.crop, self.g)
            ir_in = vi_in = None
        else:
            ir_in, vi_in, ir_gt, vi_gt = self._sequence_window()
        ir_gt, vi_gt = _to_tensor(ir_gt), _to_tensor(vi_gt)
        degraded = not self._chance(self.mix.clean_prob)
        if not degraded:
            ir_in, vi_in = ir_gt, vi_gt
        elif ir_in is not None and self._chance(self.mix.real_prob):
            ir_in, vi_in = _to_tensor(ir_in), _to_tensor(vi_in)
        else:
            ir_in, vi_in = degrade_ir(ir_gt, self.degrade, self.g), degrade_vi(vi_gt, self.degrade, self.g)
        out = (ir_in, vi_in, ir_gt, vi_gt)
        if self._randint(2):
            out = tuple(a.flip(0) for a in out)  # time reversal
        if self._randint(2):
            out = tuple(a.flip(-1) for a in out)
        return (*out, torch.tensor(float(degraded)))

    def batch(self, n: int) -> tuple[torch.Tensor, ...]:
        samples = [self._sample() for _ in range(n)]
        return tuple(torch.stack(parts) for parts in zip(*samples))
