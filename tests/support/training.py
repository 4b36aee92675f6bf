"""Helpers of the model tests: tiny random teachers, toy training data and a short training config."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from transformers import Dinov2Config, Dinov2Model

from temcoco.model.data import FOLDERS
from temcoco.model.small.network import VGG_DIM
from temcoco.model.teachers import DinoTeacher, VGGTeacher
from temcoco.model.train import TrainConfig


def tiny_vgg() -> VGGTeacher:
    """A random VGG-like stack: 256 channels at 1/4 scale, like VGG19 features[:12]."""
    torch.manual_seed(0)
    return VGGTeacher(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                    nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                    nn.Conv2d(16, VGG_DIM, 3, padding=1), nn.ReLU()))


def tiny_dino(dim: int) -> DinoTeacher:
    torch.manual_seed(0)
    cfg = Dinov2Config(hidden_size=dim, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                       patch_size=4, image_size=32)
    return DinoTeacher(Dinov2Model(cfg))


def toy_sequences(root: Path, seqs: int = 2, frames: int = 12, size: int = 40) -> Path:
    """A tiny M3SVD-layout set: moving smooth blobs; degraded = noisy IR, blurred VI."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    for s in range(seqs):
        for t in range(frames):
            cx, cy = 10 + t + 5 * s, 20
            blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 40.0)
            ir = (40 + 200 * blob).astype(np.uint8)
            vi = np.stack([80 + 100 * (xx / size), 90 + 80 * (yy / size), 120 + 60 * np.sin(xx / 4.0)], -1).astype(np.uint8)
            images = {
                "ir_gt": ir,
                "vi_gt": vi,
                "ir_in": np.clip(ir + rng.normal(0, 12, ir.shape), 0, 255).astype(np.uint8),
                "vi_in": cv2.GaussianBlur(vi, (7, 7), 2.0),
            }
            for key, folder in FOLDERS.items():
                d = root / folder / f"seq{s}"
                d.mkdir(parents=True, exist_ok=True)
                img = images[key] if key.startswith("ir") else cv2.cvtColor(images[key], cv2.COLOR_RGB2BGR)
                cv2.imwrite(str(d / f"{t:04d}.png"), img)
    return root


def toy_pairs(root: Path, n: int = 5, size: tuple[int, int] = (48, 64)) -> Path:
    """A tiny RoadScene-layout set: ir/ and vi/ images of a warm blob on a textured scene."""
    rng = np.random.default_rng(1)
    (root / "ir").mkdir(parents=True, exist_ok=True)
    (root / "vi").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        vi = cv2.GaussianBlur(rng.integers(0, 256, (*size, 3), dtype=np.uint8), (5, 5), 1.5)
        ir = cv2.GaussianBlur(rng.integers(0, 256, size, dtype=np.uint8), (9, 9), 3)
        cv2.imwrite(str(root / "ir" / f"P_{i:03d}.jpg"), ir)
        cv2.imwrite(str(root / "vi" / f"P_{i:03d}.jpg"), vi)
    return root


def train_config(tmp_path: Path, **kw) -> TrainConfig:
    base = dict(data_root=str(toy_sequences(tmp_path / "data")), pairs_root=str(toy_pairs(tmp_path / "pairs")),
                val_pair_every=3, val_sequences=("seq1",), out_dir=str(tmp_path / "run"), steps=30, batch_size=2,
                core_frames=2, crop=32, lr=3e-3, warmup_steps=1, log_every=1, ckpt_every=10, threads=1, real_prob=0.5)
    return TrainConfig(**{**base, **kw})


def read_losses(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "losses.jsonl").read_text().splitlines()]
