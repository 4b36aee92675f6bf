"""Training: configs, a short run lowers the loss, checkpoints and resume, teachers."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from temcoco.model.checkpoint import load_network, load_optimizer, save_optimizer
from temcoco.model.data import (FOLDERS, Pair, SampleMix, WindowSampler, camera_clip, load_clips, load_pairs,
                                 pair_names, split_pairs)
from temcoco.model.degrade import DegradeConfig, degrade_ir, degrade_vi
from temcoco.model.teachers import Teachers
from temcoco.model.train import TrainConfig, train
from tests.test_model_losses import tiny_dino, tiny_vgg

CONFIGS_DIR = Path(__file__).resolve().parents[1] / "temcoco" / "model" / "configs"


def _dataset(root: Path, seqs: int = 2, frames: int = 12, size: int = 40) -> Path:
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


def _pairs(root: Path, n: int = 5, size: tuple[int, int] = (48, 64)) -> Path:
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


def _config(tmp_path: Path, **kw) -> TrainConfig:
    base = dict(data_root=str(_dataset(tmp_path / "data")), pairs_root=str(_pairs(tmp_path / "pairs")),
                val_pair_every=3, val_sequences=("seq1",), out_dir=str(tmp_path / "run"), steps=30, batch_size=2,
                core_frames=2, crop=32, lr=3e-3, warmup_steps=1, log_every=1, ckpt_every=10, threads=1, real_prob=0.5)
    return TrainConfig(**{**base, **kw})


def _log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "losses.jsonl").read_text().splitlines()]


def test_shipped_configs_parse():
    small = TrainConfig.from_toml(CONFIGS_DIR / "small.toml")
    stages = [TrainConfig.from_toml(CONFIGS_DIR / f"small-stage{i}.toml") for i in (1, 2, 3)] + [small]
    for before, after in zip(stages, stages[1:]):  # each stage starts where the one before ended
        assert Path(after.init_weights) == Path(before.out_dir) / "model.safetensors"
    assert all(s.stop_after < s.steps for s in stages[:3]) and small.loss.vif > 0 and small.loss.gate > 0
    assert small.gate_lr_scale > 1
    paper = TrainConfig.from_toml(CONFIGS_DIR / "paper.toml")
    assert small.network == "small" and paper.network == "paper"
    assert small.loss.color == 20.0 and small.loss.temporal == 2.0 and paper.loss.intensity_max == 10.0
    assert small.val_sequences == ("0115_1834",) and 0 < small.clean_prob < 1 and 0 < small.pair_prob < 1


def test_data_and_degradations(tmp_path):
    clips = load_clips(_dataset(tmp_path))
    assert len(clips) == 2 and clips[0].vi_gt.shape == (12, 40, 40, 3)
    batch = WindowSampler(clips, [], 10, 24, SampleMix(clean_prob=0.0, real_prob=0.0), DegradeConfig(), 0).batch(3)
    assert [b.shape for b in batch[:4]] == [(3, 10, 1, 24, 24), (3, 10, 3, 24, 24), (3, 10, 1, 24, 24), (3, 10, 3, 24, 24)]
    assert not torch.equal(batch[0], batch[2])  # degraded inputs, clean targets
    assert batch[4].tolist() == [1.0, 1.0, 1.0]  # and flagged as degraded
    g = torch.Generator().manual_seed(0)
    ir, vi = torch.rand(4, 1, 32, 32) * 0.5, torch.rand(4, 3, 32, 32)
    d_ir = degrade_ir(ir, DegradeConfig(), g)
    cols = (d_ir - ir).mean(dim=(0, 1, 2))  # stripes: per-column offsets shared by all frames
    assert cols.std() > 0.005 and 0 <= d_ir.min() and d_ir.max() <= 1
    d_vi = degrade_vi(vi, DegradeConfig(low_light_prob=0.0, vi_noise_sigma=(0.0, 0.0)), g)
    assert d_vi.diff(dim=-1).abs().mean() < 0.5 * vi.diff(dim=-1).abs().mean()  # blurred


def test_short_training_lowers_loss_and_resumes(tmp_path):
    cfg = _config(tmp_path, pair_prob=0.0, clean_prob=0.0)  # degraded inputs: the loss has room to fall
    final = train(cfg)
    rows = _log(Path(cfg.out_dir))
    assert [r["step"] for r in rows] == list(range(1, 31))
    first, last = np.mean([r["total"] for r in rows[:5]]), np.mean([r["total"] for r in rows[-5:]])
    assert last < 0.9 * first, (first, last)  # it starts from the soft pyramid blend, not from noise
    assert load_network(final).config.name == "small"
    ckpts = sorted((Path(cfg.out_dir) / "checkpoints").iterdir())
    assert [c.name for c in ckpts] == ["step_0000020", "step_0000030"]
    # resume: continues from step 30 up to 34
    train(_config(tmp_path, steps=34, pair_prob=0.0, clean_prob=0.0), resume=True)
    assert [r["step"] for r in _log(Path(cfg.out_dir))][30:] == [31, 32, 33, 34]
    assert json.loads((Path(cfg.out_dir) / "checkpoints" / "step_0000034" / "state.json").read_text())["step"] == 34


def test_optimizer_state_roundtrip(tmp_path):
    p = torch.nn.Parameter(torch.rand(3))
    opt = torch.optim.AdamW([p], lr=0.1)
    p.sum().backward()
    opt.step()
    save_optimizer(opt, tmp_path / "o.safetensors")
    assert set(load_file(str(tmp_path / "o.safetensors"))) >= {"0.exp_avg", "0.exp_avg_sq"}
    opt2 = torch.optim.AdamW([torch.nn.Parameter(p.detach().clone())], lr=0.5)
    load_optimizer(opt2, tmp_path / "o.safetensors")
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s2["param_groups"][0]["lr"] == 0.1
    torch.testing.assert_close(s1["state"][0]["exp_avg_sq"], s2["state"][0]["exp_avg_sq"])


def test_training_with_tiny_teachers(tmp_path):
    teachers = Teachers(vgg=tiny_vgg(), dino=tiny_dino(384))
    train(_config(tmp_path, steps=2), teachers=teachers)
    row = _log(tmp_path / "run")[-1]
    assert {"distill_vis_ir", "distill_vis_vi", "distill_sem_ir", "distill_sem_vi"} <= set(row)


def test_training_without_teachers_says_so(tmp_path, caplog):
    train(_config(tmp_path, steps=1, vgg_weights=str(tmp_path / "none.pth")))
    assert "distillation terms are skipped" in caplog.text
    assert not any(k.startswith("distill") for k in _log(tmp_path / "run")[-1])


def test_pairs_split_and_load(tmp_path):
    root = _pairs(tmp_path / "pairs", n=7)
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
    clips = load_clips(_dataset(tmp_path / "data"))
    pairs = load_pairs(_pairs(tmp_path / "pairs"), ["P_001", "P_002"])
    sampler = WindowSampler(clips, pairs, 6, 24, SampleMix(pair_prob=0.5, clean_prob=1.0), DegradeConfig(), 0)
    ir_in, vi_in, ir_gt, vi_gt, degraded = sampler.batch(6)
    assert torch.equal(ir_in, ir_gt) and torch.equal(vi_in, vi_gt) and not degraded.any()


def test_validation_split_is_never_trained_on(tmp_path):
    """The held-out sequence and pairs are absent from what the sampler draws, and validation is reported."""
    from temcoco.model.train import _sampler

    cfg = _config(tmp_path, steps=2, val_every=2, val_pairs=1, pair_prob=0.5)
    sampler = _sampler(cfg, 9, 0)
    assert [c.name for c in sampler.clips] == ["seq0"]
    assert {p.name for p in sampler.pairs} == {"P_001", "P_002", "P_004"}
    train(cfg)
    row = json.loads((tmp_path / "run" / "val.jsonl").read_text().splitlines()[-1])
    assert row["step"] == 2 and 0 < row["clean_SSIM"] <= 2 and row["degraded_flowD"] is not None


def test_stop_after_keeps_the_planned_schedule(tmp_path):
    from temcoco.model.train import _lr_factor

    cfg = _config(tmp_path, steps=40, stop_after=3, warmup_steps=1, log_every=1)
    train(cfg)
    rows = _log(Path(cfg.out_dir))
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert rows[-1]["lr"] == pytest.approx(cfg.lr * _lr_factor(cfg, 2))  # the 40-step cosine, not a 3-step one
    assert (Path(cfg.out_dir) / "checkpoints" / "step_0000003").is_dir()
