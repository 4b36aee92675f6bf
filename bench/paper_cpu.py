"""CPU cost of the published network (`paper`) at 640x480: prints time per frame and peak memory.

    .venv/bin/python bench/paper_cpu.py [--threads 2] [--windows 1]

Fuses ``--windows`` windows exactly as inference does (PaperFusion: windows of 10 frames,
6 core frames each, with the default PaperConfig) with randomly initialised weights (speed
does not depend on the weight values). A window takes minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from temcoco.model.paper.config import PaperConfig  # noqa: E402
from temcoco.model.paper.inference import PaperFusion  # noqa: E402
from temcoco.model.paper.network import PaperNet  # noqa: E402


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--windows", type=int, default=1)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=640)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    config = PaperConfig()
    method = PaperFusion(PaperNet(config), "bench", torch.device("cpu"))
    rng = np.random.default_rng(0)
    frames = args.windows * config.core_frames
    n = frames + 2 * method.temporal_radius
    ir = rng.integers(0, 256, (n, args.height, args.width, 1), dtype=np.uint8)
    vi = rng.integers(0, 256, (n, args.height, args.width, 3), dtype=np.uint8)
    before = _rss_mib()
    began = time.perf_counter()
    method.fuse(ir, vi, first=0)
    seconds = time.perf_counter() - began
    print(f"paper, {args.width}x{args.height}, {args.threads} threads, {args.windows} window(s) of "
          f"{config.window_frames} frames ({config.core_frames} core)")
    print(f"  {seconds / frames:.1f} s per fused frame ({seconds / args.windows:.0f} s per window, "
          f"{seconds / (args.windows * config.window_frames):.1f} s per computed frame)")
    print(f"  peak RSS {_rss_mib():.0f} MiB (model and inputs: {before:.0f} MiB)")


if __name__ == "__main__":
    main()
