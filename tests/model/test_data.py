"""Training data: M3SVD-layout sequences and image pairs, their split, windows sampled from them
(pairs seen by a moving camera, clean samples)."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from temcoco.model.data import (Pair, SampleMix, WindowSampler, camera_clip, load_clips, load_pairs, pair_names,
                                 split_pairs)
from temcoco.model.degrade import DegradeConfig
from tests.support.training import toy_pairs, toy_sequences


def test_sequences_load_and_sample_windows(tmp_path):
    clips = load_clips(toy_sequences(tmp_path))
    assert len(clips) == 2 and clips[0].vi_gt.shape == (12, 40, 40, 3)
    batch = WindowSampler(clips, [], 10, 24, SampleMix(clean_prob=0.0, real_prob=0.0), DegradeConfig(), 0).batch(3)
    assert [b.shape for b in batch[:4]] == [(3, 10, 1, 24, 24), (3, 10, 3, 24, 24), (3, 10, 1, 24, 24), (3, 10, 3, 24, 24)]
    assert not torch.equal(batch[0], batch[2])  # degraded inputs, clean targets
    assert batch[4].tolist() == [1.0, 1.0, 1.0]  # and flagged as degraded


def test_pairs_split_and_load(tmp_path):
    root = toy_pairs(tmp_path / "pairs", n=7)
    names = pair_names(root)
    train_names, val_names = split_pairs(names, 3)
    assert val_names == ["P_000", "P_003", "P_006"] and not set(train_names) & set(val_names)
    assert sorted(train_names + val_names) == names
    pair = load_pairs(root, ["P_001"])[0]
    assert pair.ir.shape == (48, 64, 1) and pair.vi.shape == (48, 64, 3)


def test_camera_clip_moves_both_images_the_same_way():
    """IR is the luma of VI here, so a crop window moved the same way over both keeps IR == luma(VI)."""
    rng = np.random.default_rng(0)
    vi = cv2.GaussianBlur(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8), (7, 7), 2)
    pair = Pair("p", cv2.cvtColor(vi, cv2.COLOR_RGB2GRAY)[..., None], vi)
    g = torch.Generator().manual_seed(3)
    moving = 0
    for _ in range(10):
        ir_clip, vi_clip = camera_clip(pair, 6, 40, g)
        assert ir_clip.shape == (6, 40, 40, 1) and vi_clip.shape == (6, 40, 40, 3)
        luma = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in vi_clip])
        assert np.abs(luma.astype(int) - ir_clip[..., 0]).max() <= 2
        moving += int(np.abs(np.diff(ir_clip.astype(int), axis=0)).mean() > 1)
    assert 5 <= moving < 10  # most clips move, one in five on average is a still camera


def test_clean_samples_are_their_own_targets(tmp_path):
    clips = load_clips(toy_sequences(tmp_path / "data"))
    pairs = load_pairs(toy_pairs(tmp_path / "pairs"), ["P_001", "P_002"])
    sampler = WindowSampler(clips, pairs, 6, 24, SampleMix(pair_prob=0.5, clean_prob=1.0), DegradeConfig(), 0)
    ir_in, vi_in, ir_gt, vi_gt, degraded = sampler.batch(6)
    assert torch.equal(ir_in, ir_gt) and torch.equal(vi_in, vi_gt) and not degraded.any()
