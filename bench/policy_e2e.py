"""What measuring costs end to end: `submit` frames/s under each metric policy against `fuse` without metrics.

    nice -n 19 .venv/bin/python bench/policy_e2e.py [--frames 640] [--network-frames 120] [--work DIR]
                                                    [--methods average,temcoco] [--policies full,sampled,off]

One 640x480 clip made from the real M3SVD dev frames (../shared/data/m3svd-dev: each sequence played
forward then backward, the sequences in turn, looped to ``--frames``). For ``average`` (the whole clip)
and the network ``temcoco`` (its first ``--network-frames`` frames: ~0.4 s a frame on one CPU core):
``fuse`` without metrics (in process, the method loaded beforehand: start-up excluded), then `submit`
(1 worker, 1 core) under ``--metrics full``, ``sampled --metric-stride 8`` and ``off``; a submit's
frames/s is the clip row's frames / seconds (the clip's own time: start-up and wrap-up excluded) and
its measuring share is metrics_seconds / seconds: the time the measuring thread was busy, beside
decoding, fusion and encoding (not a part of the clip's time that adds up with them). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from temcoco.devdata import DEV_DATA

POLICIES = {"full": 1, "sampled": 8, "off": 8}  # --metrics: --metric-stride


def real_frames() -> list[tuple[np.ndarray, np.ndarray]]:
    """(IR grey (H, W), VI RGB (H, W, 3)) uint8 of every sequence, each forward then backward (no cut but
    the one between sequences)."""
    out = []
    for seq in sorted(p.name for p in (DEV_DATA / "visible_Blur").iterdir()):
        names = sorted(p.name for p in (DEV_DATA / "visible_Blur" / seq).iterdir())
        pairs = [(cv2.imread(str(DEV_DATA / "infrared_noise" / seq / n), cv2.IMREAD_GRAYSCALE),
                  cv2.cvtColor(cv2.imread(str(DEV_DATA / "visible_Blur" / seq / n)), cv2.COLOR_BGR2RGB))
                 for n in names]
        out += pairs + pairs[::-1]
    return out


def write_clip(archive: Path, name: str, frames: int) -> tuple[str, str]:
    """ir/<name>.mp4 and vi/<name>.mp4 of ``frames`` frames in ``archive``; returns their paths."""
    from temcoco.storage.video import VideoWriter

    source = real_frames()
    paths = []
    for side in ("ir", "vi"):
        (archive / side).mkdir(parents=True, exist_ok=True)
        paths.append(str(archive / side / f"{name}.mp4"))
    with VideoWriter(paths[0], 25.0) as wi, VideoWriter(paths[1], 25.0) as wv:
        for t in range(frames):
            ir, vi = source[t % len(source)]
            wi.write(np.repeat(ir[None, ..., None], 3, axis=-1))
            wv.write(vi[None])
    return paths[0], paths[1]


def fuse_rate(ir: str, vi: str, out: str, method: str) -> float:
    """Frames/s of `fuse` (fuse_pair, metrics off, 1 thread) once the method is loaded."""
    import torch

    from temcoco.model.registry import load_method
    from temcoco.pipeline import fuse_pair

    torch.set_num_threads(1)
    result = fuse_pair(ir, vi, out, load_method(method, device="cpu"))
    return result.frames / result.seconds


def submit_row(archive: Path, out: Path, method: str, policy: str, stride: int, cpus: int) -> dict:
    """The clip row of `submit --workers 1 --cpus-per-worker cpus` under this policy: frames, seconds,
    metrics_seconds."""
    from temcoco.storage.results import query

    subprocess.run([sys.executable, "-m", "temcoco.cli", "submit", str(archive), "--out", str(out), "--workers", "1",
                    "--cpus-per-worker", str(cpus), "--method", method, "--metrics", policy, "--metric-stride", str(stride),
                    "--quiet"],
                   check=True, capture_output=True)
    table = query(str(out), "SELECT frames, seconds, metrics_seconds, metrics_policy, metric_stride FROM metrics")
    return table.to_pylist()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=640)
    parser.add_argument("--network-frames", type=int, default=120)
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--methods", default="average,temcoco")
    parser.add_argument("--policies", default="full,sampled,off")
    parser.add_argument("--cpus-per-worker", type=int, default=1, help="the actor's cores (fuse uses the machine's)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="policy_e2e_"))
    print("| method | clip | run | frames/s | vs fuse | measuring thread busy, share of the clip's time |")
    print("|---|---|---|---|---|---|")
    for method in args.methods.split(","):
        frames = args.frames if method == "average" else args.network_frames
        archive = work / f"{method}_archive"
        ir, vi = write_clip(archive, "clip", frames)
        base = fuse_rate(ir, vi, str(work / f"{method}_fused.mp4"), method)
        clip = f"{frames} frames 640x480"
        print(f"| {method} | {clip} | fuse, no metrics | {base:.2f} | 1.00x | - |", flush=True)
        for policy in args.policies.split(","):
            stride = POLICIES[policy]
            row = submit_row(archive, work / f"{method}_{policy}", method, policy, stride, args.cpus_per_worker)
            rate = row["frames"] / row["seconds"]
            run = f"submit --metrics {policy}" + (f" --metric-stride {stride}" if policy == "sampled" else "") + (
                f" --cpus-per-worker {args.cpus_per_worker}" if args.cpus_per_worker > 1 else "")
            share = (row["metrics_seconds"] or 0.0) / row["seconds"]
            print(f"| {method} | {clip} | {run} | {rate:.2f} | {rate / base:.2f}x | {100 * share:.1f} % |", flush=True)


if __name__ == "__main__":
    main()
