"""Compare the temcoco network with the classical baselines on the M3SVD dev sequences.

For each sequence the degraded inputs (``infrared_noise``, ``visible_Blur``) are fused by
each method; the metrics (temcoco.metrics.ClipMetrics) are computed against the CLEAN
sources (``infrared_Enhance``, ``visible_Enhance``), which are passed both as the
``ir``/``vi`` arguments and as the references. The network sees each clip as the chunk
planner gives it: edge frames replicated ``temporal_radius`` times at both ends.

    python scripts/compare_baselines.py [--weights W] [--data-root D] [--threads N] [--methods M,..] [--json OUT]

Prints a markdown table of the means over the sequences (and per-sequence rows with --per-seq).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from temcoco.metrics.clip import ClipMetrics, MetricConfig
from temcoco.model.classical import ClassicalFusion
from temcoco.devdata import DEV_DATA
from temcoco.model.data import load_clips
from temcoco.model.inference import NetworkFusion

COLUMNS = ("SSIM", "VIF", "Qabf", "flowD", "ref_PSNR", "ref_SSIM", "EN", "SF", "AG")


def fuse_clip(method, ir: np.ndarray, vi: np.ndarray) -> np.ndarray:
    """Whole clip, with the edge frames replicated r times as the chunk planner does."""
    r = method.temporal_radius
    idx = np.clip(np.arange(-r, ir.shape[0] + r), 0, ir.shape[0] - 1)
    return method.fuse(ir[idx], vi[idx])


def evaluate(fused: np.ndarray, ir_ref: np.ndarray, vi_ref: np.ndarray) -> dict:
    m = ClipMetrics(MetricConfig(flow="dis", feacd=False))
    for t in range(fused.shape[0]):
        m.update(ir_ref[t], vi_ref[t], fused[t], ref_ir=ir_ref[t], ref_vi=vi_ref[t])
    return m.result()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", default=None, help="network weights (default: the shipped ones)")
    ap.add_argument("--data-root", default=None, help="M3SVD-layout folder (default: ../shared/data/m3svd-dev)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--methods", default="temcoco,average,laplacian", help="comma-separated subset")
    ap.add_argument("--per-seq", action="store_true", help="also print one row per sequence")
    ap.add_argument("--json", default=None, help="write all results here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    wanted = args.methods.split(",")
    methods = {name: NetworkFusion.load(args.weights, device="cpu") if name == "temcoco" else ClassicalFusion(name)
               for name in wanted}
    clips = load_clips(Path(args.data_root) if args.data_root else DEV_DATA)
    rows, seconds = [], {name: 0.0 for name in methods}
    for clip in clips:
        for name, method in methods.items():
            t0 = time.perf_counter()
            fused = fuse_clip(method, clip.ir_in, clip.vi_in)
            seconds[name] += time.perf_counter() - t0
            rows.append({"seq": clip.name, "method": name, **evaluate(fused, clip.ir_gt, clip.vi_gt)})
    frames = sum(c.ir_gt.shape[0] for c in clips)
    h, w = clips[0].ir_gt.shape[1:3]

    def fmt(v) -> str:
        return "—" if v is None else f"{v:.4f}"

    print(f"Means over {len(clips)} sequences ({frames} frames, {w}x{h}); degraded inputs in, clean sources as references.\n")
    print("| method | " + " | ".join(COLUMNS) + " | fps |")
    print("|---" * (len(COLUMNS) + 2) + "|")
    for name in methods:
        mine = [r for r in rows if r["method"] == name]
        means = [np.mean([r[c] for r in mine if r.get(c) is not None]) if any(r.get(c) is not None for r in mine) else None for c in COLUMNS]
        print(f"| {name} | " + " | ".join(fmt(v) for v in means) + f" | {frames / seconds[name]:.2f} |")
    if args.per_seq:
        print("\n| seq | method | " + " | ".join(COLUMNS) + " |")
        print("|---" * (len(COLUMNS) + 2) + "|")
        for r in rows:
            print(f"| {r['seq']} | {r['method']} | " + " | ".join(fmt(r.get(c)) for c in COLUMNS) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "seconds": seconds, "frames": frames}, indent=1, default=str))


if __name__ == "__main__":
    main()
