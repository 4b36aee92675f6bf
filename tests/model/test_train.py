"""Training: a short run lowers the loss, checkpoints and resume, teachers, validation, the schedule;
training configs (shipped ones parse; unknown keys are named)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from temcoco.errors import TemcocoError
from temcoco.model.networks import load_trainee
from temcoco.model.teachers import Teachers
from temcoco.model.train import TrainConfig, train
from tests.support.training import read_losses, tiny_dino, tiny_vgg, train_config

CONFIGS_DIR = Path(__file__).resolve().parents[2] / "temcoco" / "model" / "configs"


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


def test_short_training_lowers_loss_and_resumes(tmp_path):
    cfg = train_config(tmp_path, pair_prob=0.0, clean_prob=0.0)  # degraded inputs: the loss has room to fall
    final = train(cfg)
    rows = read_losses(Path(cfg.out_dir))
    assert [r["step"] for r in rows] == list(range(1, 31))
    first, last = np.mean([r["total"] for r in rows[:5]]), np.mean([r["total"] for r in rows[-5:]])
    assert last < 0.9 * first, (first, last)  # it starts from the soft pyramid blend, not from noise
    assert load_trainee(final).config.name == "small"
    ckpts = sorted((Path(cfg.out_dir) / "checkpoints").iterdir())
    assert [c.name for c in ckpts] == ["step_0000020", "step_0000030"]
    # resume: continues from step 30 up to 34
    train(train_config(tmp_path, steps=34, pair_prob=0.0, clean_prob=0.0), resume=True)
    assert [r["step"] for r in read_losses(Path(cfg.out_dir))][30:] == [31, 32, 33, 34]
    assert json.loads((Path(cfg.out_dir) / "checkpoints" / "step_0000034" / "state.json").read_text())["step"] == 34


def test_training_with_tiny_teachers(tmp_path):
    teachers = Teachers(vgg=tiny_vgg(), dino=tiny_dino(384))
    train(train_config(tmp_path, steps=2), teachers=teachers)
    row = read_losses(tmp_path / "run")[-1]
    assert {"distill_vis_ir", "distill_vis_vi", "distill_sem_ir", "distill_sem_vi"} <= set(row)


def test_training_without_teachers_says_so(tmp_path, caplog):
    train(train_config(tmp_path, steps=1, vgg_weights=str(tmp_path / "none.pth")))
    assert "distillation terms are skipped" in caplog.text
    assert not any(k.startswith("distill") for k in read_losses(tmp_path / "run")[-1])


def test_validation_split_is_never_trained_on(tmp_path):
    """The held-out sequence and pairs are absent from what the sampler draws, and validation is reported."""
    from temcoco.model.train import _sampler

    cfg = train_config(tmp_path, steps=2, val_every=2, val_pairs=1, pair_prob=0.5)
    sampler = _sampler(cfg, 9, 0)
    assert [c.name for c in sampler.clips] == ["seq0"]
    assert {p.name for p in sampler.pairs} == {"P_001", "P_002", "P_004"}
    train(cfg)
    row = json.loads((tmp_path / "run" / "val.jsonl").read_text().splitlines()[-1])
    assert row["step"] == 2 and 0 < row["clean_SSIM"] <= 2 and row["degraded_flowD"] is not None


def test_stop_after_keeps_the_planned_schedule(tmp_path):
    from temcoco.model.train import _lr_factor

    cfg = train_config(tmp_path, steps=40, stop_after=3, warmup_steps=1, log_every=1)
    train(cfg)
    rows = read_losses(Path(cfg.out_dir))
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert rows[-1]["lr"] == pytest.approx(cfg.lr * _lr_factor(cfg, 2))  # the 40-step cosine, not a 3-step one
    assert (Path(cfg.out_dir) / "checkpoints" / "step_0000003").is_dir()


@pytest.mark.parametrize("text, words", [
    ("stepz = 3\n", "unknown key 'stepz' in"),
    ("[loss]\ntemporall = 1.0\n", "unknown key 'temporall' in [loss] of"),
    ("[degrade]\nblur = 2\n", "unknown key 'blur' in [degrade] of"),
])
def test_unknown_training_keys_are_named(tmp_path, text, words):
    path = tmp_path / "train.toml"
    path.write_text(text)
    with pytest.raises(TemcocoError, match=re.escape(words)) as caught:
        TrainConfig.from_toml(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_tables_and_lists_are_read(tmp_path):
    path = tmp_path / "train.toml"
    path.write_text("steps = 3\n[loss]\ntemporal = 0.5\n")
    config = TrainConfig.from_toml(path)
    assert config.steps == 3 and config.loss.temporal == 0.5
