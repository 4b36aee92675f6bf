"""GPU benchmark of the network (run it where CUDA is available; prints a table).

    .venv/bin/python bench/gpu.py            # both configurations, bf16, 640x480 and 1280x1024

Measures frames per second of the network's forward pass alone (randomly initialised
weights of each named configuration: speed does not depend on the weight values), for a
window of ``--frames`` core frames plus the halo, after a warm-up, synchronised timing.
"""

from __future__ import annotations

import argparse
import time

import torch

from temcoco.model.network import CONFIGS, TemCoCoNet


def fps(config: str, height: int, width: int, frames: int, dtype: torch.dtype, repeats: int = 5) -> float:
    net = TemCoCoNet(CONFIGS[config]).eval().cuda()
    r = net.temporal_radius
    ir = torch.rand(1, frames + 2 * r, 1, height, width, device="cuda")
    vi = torch.rand(1, frames + 2 * r, 3, height, width, device="cuda")
    with torch.inference_mode(), torch.autocast("cuda", dtype=dtype):
        net(ir, vi)  # warm-up (and cuDNN autotuning)
        torch.cuda.synchronize()
        began = time.perf_counter()
        for _ in range(repeats):
            net(ir, vi)
        torch.cuda.synchronize()
    return frames * repeats / (time.perf_counter() - began)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=8)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this benchmark needs a GPU")
    torch.backends.cudnn.benchmark = True
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    print(f"{'config':<8} {'size':>10} {'frames/s (bf16)':>16}")
    for config in ("small", "paper"):
        for height, width in ((480, 640), (1024, 1280)):
            print(f"{config:<8} {width}x{height:<5} {fps(config, height, width, args.frames, torch.bfloat16):>16.1f}",
                  flush=True)


if __name__ == "__main__":
    main()
