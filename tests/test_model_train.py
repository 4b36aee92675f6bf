"""Training: configs, a short run lowers the loss, checkpoints and resume, teachers."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import torch
from safetensors.torch import load_file

from temcoco.model.checkpoint import load_network, load_optimizer, save_optimizer
from temcoco.model.data import FOLDERS, WindowSampler, load_clips
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


def _config(tmp_path: Path, **kw) -> TrainConfig:
    base = dict(data_root=str(_dataset(tmp_path / "data")), out_dir=str(tmp_path / "run"), steps=30, batch_size=2,
                core_frames=2, crop=32, lr=3e-3, warmup_steps=1, log_every=1, ckpt_every=10, threads=1, real_prob=0.5)
    return TrainConfig(**{**base, **kw})


def _log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "losses.jsonl").read_text().splitlines()]


def test_shipped_configs_parse():
    small = TrainConfig.from_toml(CONFIGS_DIR / "small.toml")
    paper = TrainConfig.from_toml(CONFIGS_DIR / "paper.toml")
    assert small.network == "small" and paper.network == "paper"
    assert small.loss.color == 20.0 and small.loss.intensity_max == 10.0 and small.loss.temporal == 2.0


def test_data_and_degradations(tmp_path):
    clips = load_clips(_dataset(tmp_path))
    assert len(clips) == 2 and clips[0].vi_gt.shape == (12, 40, 40, 3)
    batch = WindowSampler(clips, 10, 24, 0.0, DegradeConfig(), 0).batch(3)
    assert [b.shape for b in batch] == [(3, 10, 1, 24, 24), (3, 10, 3, 24, 24), (3, 10, 1, 24, 24), (3, 10, 3, 24, 24)]
    g = torch.Generator().manual_seed(0)
    ir, vi = torch.rand(4, 1, 32, 32) * 0.5, torch.rand(4, 3, 32, 32)
    d_ir = degrade_ir(ir, DegradeConfig(), g)
    cols = (d_ir - ir).mean(dim=(0, 1, 2))  # stripes: per-column offsets shared by all frames
    assert cols.std() > 0.005 and 0 <= d_ir.min() and d_ir.max() <= 1
    d_vi = degrade_vi(vi, DegradeConfig(low_light_prob=0.0, vi_noise_sigma=(0.0, 0.0)), g)
    assert d_vi.diff(dim=-1).abs().mean() < 0.5 * vi.diff(dim=-1).abs().mean()  # blurred


def test_short_training_lowers_loss_and_resumes(tmp_path):
    cfg = _config(tmp_path)
    final = train(cfg)
    rows = _log(Path(cfg.out_dir))
    assert [r["step"] for r in rows] == list(range(1, 31))
    first, last = np.mean([r["total"] for r in rows[:5]]), np.mean([r["total"] for r in rows[-5:]])
    assert last < 0.8 * first, (first, last)
    assert load_network(final).config.name == "small"
    ckpts = sorted((Path(cfg.out_dir) / "checkpoints").iterdir())
    assert [c.name for c in ckpts] == ["step_0000020", "step_0000030"]
    # resume: continues from step 30 up to 34
    train(_config(tmp_path, steps=34), resume=True)
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
