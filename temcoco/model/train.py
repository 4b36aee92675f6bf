"""Training of the TemCoCo network: ``python -m temcoco.model.train CONFIG.toml [--resume]``.

Each step draws random windows (core frames + 2r halo frames, random crops) of M3SVD
sequences and of image pairs seen by a moving camera, with clean or degraded inputs and
clean targets (:mod:`temcoco.model.data`), fuses them and minimises :class:`FusionLoss`
against the clean sources. Checkpoints (model and optimizer as safetensors, step as JSON)
go to ``out_dir/checkpoints/step_NNNNNNN``; every logged step appends its loss terms to
``out_dir/losses.jsonl``; every ``val_every`` steps the held-out split is scored
(:mod:`temcoco.model.validation`), one line printed and appended to ``out_dir/val.jsonl``;
the final weights are ``out_dir/model.safetensors``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import shutil
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from temcoco.device import resolve_device
from temcoco.errors import TemcocoError
from temcoco.model.checkpoint import load_optimizer, save_network, save_optimizer
from temcoco.devdata import DEV_DATA, ROADSCENE
from temcoco.model.data import SampleMix, WindowSampler, load_clips, load_pairs
from temcoco.model.degrade import DegradeConfig
from temcoco.model.losses import FusionLoss, LossWeights
from temcoco.model.networks import load_trainee, new_trainee
from temcoco.model.paper.training import SEMANTIC_STRIDE, PaperTrainee
from temcoco.model.small.inference import SmallFusion
from temcoco.model.small.network import SmallNet
from temcoco.model.teachers import Teachers, load_dino, load_vgg
from temcoco.model.validation import ValidationSplit, Validator

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    network: str = "small"  # a network of temcoco.model.networks.NETWORKS: "small" or "paper" (the published one)
    data_root: str = ""  # M3SVD-layout folder; empty: ../shared/data/m3svd-dev beside the repo
    pairs_root: str = ""  # RoadScene-layout image pairs; empty: ../shared/data/roadscene-train; "none": no pairs
    val_pair_every: int = 8  # every n-th pair (sorted by name) is held out for validation
    val_sequences: tuple[str, ...] = ("0115_1834",)  # M3SVD sequences held out for validation
    val_every: int = 0  # score the validation split every n steps (0: never)
    val_pairs: int = 8  # held-out pairs scored during training (bench/quality.py scores all)
    out_dir: str = "runs/small"
    steps: int = 2000
    batch_size: int = 2
    core_frames: int = 2  # output frames per sample (the sample has core + 2r frames)
    crop: int = 112
    lr: float = 1e-3
    min_lr_ratio: float = 0.05  # cosine decay to lr * min_lr_ratio
    warmup_steps: int = 50
    grad_clip: float = 1.0
    pair_prob: float = 0.5  # share of samples made from image pairs (the rest from sequences)
    clean_prob: float = 0.4  # share of samples whose input is the clean frames (faithful fusion)
    real_prob: float = 0.7  # of degraded sequence samples, share with the real degraded inputs (others: online)
    seed: int = 0
    log_every: int = 10
    ckpt_every: int = 100
    keep_checkpoints: int = 2
    threads: int = 2  # torch CPU threads
    device: str = "auto"  # auto (cuda when present), cpu, cuda
    amp: bool = True  # bf16 autocast on CUDA
    max_minutes: float = 0.0  # stop (and save) after this wall time; 0: no limit
    stop_after: int = 0  # stop (and save) at this step, the schedule still planned for ``steps``; 0: at ``steps``
    gate_lr_scale: float = 1.0  # the degradation gate's learning rate, in multiples of ``lr``
    init_weights: str = ""  # start from these weights (fine-tuning)
    vgg_weights: str = ""  # VGG19 checkpoint; empty: torchvision's file in the torch hub cache
    dino: str = ""  # DINOv2: torch.hub repo clone, transformers directory or HF model id (local files only)
    loss: LossWeights = field(default_factory=LossWeights)
    degrade: DegradeConfig = field(default_factory=DegradeConfig)

    @classmethod
    def from_toml(cls, path: str | Path) -> "TrainConfig":
        """Top-level keys are fields; ``[loss]`` and ``[degrade]`` tables set those weights.

        An unknown key at any level is a one-line error naming the key and the file.
        """
        try:
            raw = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise TemcocoError(f"cannot read training config {path}: {exc}") from exc
        loss = _from_table(LossWeights, raw.pop("loss", {}), f"[loss] of {path}")
        degrade = _from_table(DegradeConfig, raw.pop("degrade", {}), f"[degrade] of {path}")
        return _from_table(cls, {**raw, "loss": loss, "degrade": degrade}, str(path))


def _from_table(cls: type, table: dict, where: str):
    """The dataclass ``cls`` from a TOML table (lists become tuples); unknown keys are an error."""
    if not isinstance(table, dict):
        raise TemcocoError(f"{where} must be a table")
    unknown = sorted(set(table) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise TemcocoError(f"unknown key {unknown[0]!r} in {where}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in table.items()})


def _lr_factor(cfg: TrainConfig, step: int) -> float:
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    p = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * p))


def _latest_checkpoint(out: Path) -> Path | None:
    ckpts = sorted((out / "checkpoints").glob("step_*"))
    return ckpts[-1] if ckpts else None


def _save_checkpoint(out: Path, net: nn.Module, opt: torch.optim.Optimizer, step: int, keep: int) -> None:
    d = out / "checkpoints" / f"step_{step:07d}"
    d.mkdir(parents=True, exist_ok=True)
    save_network(net, d / "model.safetensors")
    save_optimizer(opt, d / "optimizer.safetensors")
    (d / "state.json").write_text(json.dumps({"step": step}))
    for old in sorted((out / "checkpoints").glob("step_*"))[:-keep]:
        shutil.rmtree(old)


def _teachers(cfg: TrainConfig, net: nn.Module, device: torch.device) -> Teachers:
    t = Teachers(vgg=load_vgg(cfg.vgg_weights or None), dino=load_dino(cfg.dino or None, net.config.dino_dim))
    if t.dino is not None and isinstance(net, PaperTrainee):
        t.dino.stride = SEMANTIC_STRIDE  # tokens on the semantic features' 1/16 grid, as the paper trains
    for m in (t.vgg, t.dino):
        if m is not None:
            m.to(device)
    if t.vgg is None and t.dino is None:
        log.warning("no pretrained teachers: the VGG and DINOv2 distillation terms are skipped")
    return t


def _start(config: TrainConfig, resume: bool) -> tuple[nn.Module, int, Path | None]:
    """The network to train, the step it is at and the checkpoint it was resumed from."""
    ckpt = _latest_checkpoint(Path(config.out_dir)) if resume else None
    if ckpt is not None:
        return load_trainee(ckpt / "model.safetensors"), json.loads((ckpt / "state.json").read_text())["step"], ckpt
    if config.init_weights:
        return load_trainee(Path(config.init_weights), new_modules_ok=True), 0, None
    return new_trainee(config.network), 0, None


def _log_step(logf, config: TrainConfig, terms: dict, lr: float, step: int, start: int, elapsed: float) -> None:
    """Append the step's loss terms to losses.jsonl and print a progress line."""
    row = {"step": step, "time_s": round(elapsed, 1), "lr": lr}
    row.update({k: round(float(v.detach()), 5) for k, v in terms.items()})
    logf.write(json.dumps(row) + "\n")
    logf.flush()
    rate = elapsed / (step - start)
    print(
        f"step {step}/{config.steps} loss {row['total']:.4f} "
        + " ".join(f"{k} {v:.3f}" for k, v in row.items() if k not in ("step", "time_s", "lr", "total"))
        + f" | {rate:.2f} s/step, eta {rate * (config.steps - step) / 60:.1f} min",
        file=sys.stderr,
        flush=True,
    )


def _param_groups(net: torch.nn.Module, config: TrainConfig) -> list[dict]:
    """The gate's parameters (if any) in a group of their own, at ``gate_lr_scale`` times the rate: its
    decision needs weights far larger than Adam's steps at the network's rate reach in a short run."""
    gate = {id(p) for p in net.gate.parameters()} if hasattr(net, "gate") else set()
    rest = [p for p in net.parameters() if id(p) not in gate]
    groups = [{"params": rest, "lr_scale": 1.0}]
    if gate:
        groups.append({"params": [p for p in net.parameters() if id(p) in gate], "lr_scale": config.gate_lr_scale})
    return groups


def validation_split(config: TrainConfig) -> ValidationSplit:
    """The held-out data of a training config (bench/quality.py scores it)."""
    return ValidationSplit(
        pairs_root=Path(config.pairs_root) if config.pairs_root not in ("", "none") else ROADSCENE,
        sequences_root=Path(config.data_root) if config.data_root else DEV_DATA,
        pair_every=config.val_pair_every,
        sequences=tuple(config.val_sequences),
    )


def _sampler(config: TrainConfig, frames: int, seed: int) -> WindowSampler:
    """Training windows of ``frames`` frames from everything not in the validation split."""
    split = validation_split(config)
    clips = load_clips(split.sequences_root, exclude=set(split.sequences)) if config.pair_prob < 1 else []
    pairs = load_pairs(split.pairs_root, split.train_pairs()) if config.pairs_root != "none" and config.pair_prob > 0 else []
    mix = SampleMix(pair_prob=config.pair_prob, clean_prob=config.clean_prob, real_prob=config.real_prob)
    return WindowSampler(clips, pairs, frames, config.crop, mix, config.degrade, seed)


def _validate(validator: Validator, net: SmallNet, device: torch.device, out: Path, step: int) -> None:
    """Score the validation split with the network as it is; one line printed, one appended to val.jsonl."""
    t0 = time.time()
    scores = validator(SmallFusion(net, f"step-{step}", device))
    net.train().requires_grad_(True)
    row = {"step": step, **{k: None if v is None else round(v, 4) for k, v in scores.items()}}
    with (out / "val.jsonl").open("a") as f:
        f.write(json.dumps(row) + "\n")
    print(f"val {step}: " + " ".join(f"{k} {v}" for k, v in row.items() if k != "step")
          + f" ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)


def train(config: TrainConfig, resume: bool = False, teachers: Teachers | None = None) -> Path:
    """Train (or resume) and return the path of the final weights file.

    ``teachers`` overrides the teachers loaded from the config (tests pass tiny ones).
    """
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(dataclasses.asdict(config), indent=1))
    net, start, ckpt = _start(config, resume)
    net.to(device)
    opt = torch.optim.AdamW(_param_groups(net, config), lr=config.lr, weight_decay=1e-4)
    if ckpt is not None:
        load_optimizer(opt, ckpt / "optimizer.safetensors")
        log.info("resumed from %s (step %d)", ckpt, start)
    teachers = teachers if teachers is not None else _teachers(config, net, device)
    r = net.temporal_radius
    sampler = _sampler(config, config.core_frames + 2 * r, config.seed + start)
    validator = Validator(validation_split(config), config.val_pairs) if config.val_every and isinstance(net, SmallNet) else None
    criterion = FusionLoss(config.loss)
    use_amp = config.amp and device.type == "cuda"
    t0, step = time.time(), start
    with (out / "losses.jsonl").open("a") as logf:
        while step < (config.stop_after or config.steps):
            for g in opt.param_groups:
                g["lr"] = config.lr * g["lr_scale"] * _lr_factor(config, step)
            ir_in, vi_in, ir_gt, vi_gt, degraded = (x.to(device) for x in sampler.batch(config.batch_size))
            ir_gt, vi_gt = ir_gt[:, r : ir_gt.shape[1] - r], vi_gt[:, r : vi_gt.shape[1] - r]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                targets = teachers.targets(ir_gt.flatten(0, 1), vi_gt.flatten(0, 1))
                aux = bool(targets) or config.loss.gate > 0
                fused, heads = net(ir_in, vi_in, aux=True) if aux else (net(ir_in, vi_in), None)
            terms = criterion(fused, ir_gt, vi_gt, heads, targets, degraded)
            opt.zero_grad(set_to_none=True)
            terms["total"].backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
            opt.step()
            step += 1
            elapsed = time.time() - t0
            if step % config.log_every == 0 or step == config.steps:
                _log_step(logf, config, terms, opt.param_groups[0]["lr"], step, start, elapsed)
            if validator is not None and step % config.val_every == 0:
                _validate(validator, net, device, out, step)
            out_of_time = config.max_minutes > 0 and elapsed > 60 * config.max_minutes
            if step % config.ckpt_every == 0 or step in (config.steps, config.stop_after) or out_of_time:
                _save_checkpoint(out, net, opt, step, config.keep_checkpoints)
            if out_of_time:
                log.warning("stopping at step %d: max_minutes=%s reached", step, config.max_minutes)
                break
    final = out / "model.safetensors"
    save_network(net, final, {"steps": str(step)})
    return final


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="train the TemCoCo network")
    parser.add_argument("config", help="training config (TOML)")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    print(train(TrainConfig.from_toml(args.config), args.resume))


if __name__ == "__main__":
    main()
