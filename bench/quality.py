"""Fusion quality on the validation split (never trained on): every method side by side.

    .venv/bin/python bench/quality.py [--weights W] [--threads N] [--no-write]

Three parts, all from ``temcoco.model.validation`` with the split of ``small.toml``:

1. the held-out RoadScene pairs, each fused as a static clip (clean inputs);
2. the same pairs seen by a moving camera (``camera_clip``: 12 frames of 256x256, seeded), so
   flowD means something on clean footage;
3. the held-out M3SVD sequence: degraded inputs in, the CLEAN sources as the references.

Prints and writes the "## Quality" section of BENCHMARKS.md: the suite's means (the conventions
of ``temcoco evaluate``: MI, VIF and SSIM summed over the two sources), the issue's floors checked,
and the network's speed at 640x480.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from markdown import replace_section  # noqa: E402 (bench/ is this script's folder)

from temcoco.model.data import Pair, camera_clip, load_clips, load_pairs  # noqa: E402
from temcoco.model.registry import load_method  # noqa: E402
from temcoco.model.train import TrainConfig, validation_split  # noqa: E402
from temcoco.model.validation import fuse_clip, mean_scores, score_clip, score_pair, score_sequence  # noqa: E402

SECTION = "## Quality (`bench/quality.py`)"
COLUMNS = ("EN", "SD", "SF", "MI", "SCD", "VIF", "Qabf", "SSIM", "flowD")
METHODS = ("temcoco", "average", "max", "laplacian")
CONFIG = ROOT / "temcoco" / "model" / "configs" / "small.toml"


@dataclass
class Part:
    title: str
    means: dict[str, dict[str, float | None]]  # method -> column -> mean
    seconds: dict[str, float]  # method -> fusion time


def moving_clip(pair: Pair, seed: int) -> tuple:
    g = torch.Generator().manual_seed(seed)
    size = min(256, *pair.ir.shape[:2]) // 16 * 16
    return camera_clip(pair, 12, size, g)


def run_part(title: str, methods: dict, items: list, score) -> Part:
    means, seconds = {}, {}
    for name, method in methods.items():
        began = time.perf_counter()
        rows = [score(method, item) for item in items]
        seconds[name] = time.perf_counter() - began
        means[name] = mean_scores(rows, COLUMNS)
        print(f"{title[:40]:<40} {name:<10} " + " ".join(f"{c} {_fmt(v)}" for c, v in means[name].items()), flush=True)
    return Part(title, means, seconds)


def score_moving(method, item: tuple) -> dict:
    index, pair = item
    ir, vi = moving_clip(pair, index)
    return score_clip(fuse_clip(method, ir, vi), ir, vi)


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}"


def table(part: Part) -> str:
    head = "| method | " + " | ".join(COLUMNS) + " |\n" + "|---" * (len(COLUMNS) + 1) + "|\n"
    rows = "".join(f"| {m} | " + " | ".join(_fmt(part.means[m][c]) for c in COLUMNS) + " |\n" for m in part.means)
    return f"**{part.title}**\n\n{head}{rows}"


def floors(clean: Part, degraded: Part) -> list[str]:
    """The issue's floors, each with its numbers and whether it holds."""
    net, lap, mx = (clean.means[m] for m in ("temcoco", "laplacian", "max"))
    lines = []
    for c in ("VIF", "Qabf", "SSIM"):
        lines.append(_check(f"clean pairs {c} >= laplacian", net[c], lap[c]))
    for c in ("VIF", "Qabf"):
        lines.append(_check(f"clean pairs {c} >= 0.8 x max", net[c], 0.8 * mx[c]))
    d = degraded.means
    for c in ("SSIM", "VIF", "Qabf"):
        best = max(d[m][c] for m in ("average", "max", "laplacian"))
        lines.append(_check(f"degraded M3SVD {c} >= 1.2 x best classical", d["temcoco"][c], 1.2 * best))
    lines.append(_check("degraded M3SVD flowD <= 0.7 x average", d["temcoco"]["flowD"], 0.7 * d["average"]["flowD"],
                        at_most=True))
    return lines


def _check(name: str, value: float, limit: float, at_most: bool = False) -> str:
    """A table row: the network's ``value`` against a floor (or, ``at_most``, a bound)."""
    ok = value <= limit if at_most else value >= limit
    return f"| {name} | {value:.3f} ({'bound' if at_most else 'floor'} {limit:.3f}) | {'met' if ok else 'NOT met'} |"


def speed(weights: str | None, threads: int) -> float:
    """The network's frames/s at 640x480 as ``bench/run.py`` measures it (chunk 16, 24 frames)."""
    from run import make_pair, network_forward  # bench/run.py

    with tempfile.TemporaryDirectory() as work:
        ir, vi = make_pair(Path(work) / "speed", 24)
        return network_forward(ir, vi, 16, threads, weights=weights)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", default=None, help="network weights (default: the shipped ones)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md as it is")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    split = validation_split(TrainConfig.from_toml(CONFIG))
    methods = {m: load_method(m, weights=args.weights, device="cpu") for m in METHODS}
    pairs = load_pairs(split.pairs_root, split.val_pairs())
    clips = load_clips(split.sequences_root, names=set(split.sequences))
    parts = [
        run_part(f"{len(pairs)} held-out RoadScene pairs, static clips (clean)", methods, pairs, score_pair),
        run_part("the same pairs seen by a moving camera, 12 frames (clean)", methods, list(enumerate(pairs)),
                 score_moving),
        run_part(f"held-out M3SVD {', '.join(split.sequences)}: degraded in, clean references", methods, clips,
                 score_sequence),
    ]
    fps = speed(args.weights, args.threads)
    body = (f"Measured {time.strftime('%Y-%m-%d')} with `{methods['temcoco'].version}`, on data the network never "
            f"trained on (the split in `small.toml`).\n\n" + "\n".join(table(p) for p in parts)
            + "\n| floor (issue 18) | network | |\n|---|---|---|\n" + "\n".join(floors(parts[0], parts[2]))
            + f"\n| speed at 640x480, {args.threads} threads (floor 2 frames/s) | {fps:.2f} frames/s | "
            + f"{'met' if fps >= 2 else 'NOT met'} |\n")
    print(body)
    if not args.no_write:
        replace_section(ROOT / "BENCHMARKS.md", SECTION, body)


if __name__ == "__main__":
    main()
