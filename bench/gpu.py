"""GPU benchmark of the networks and of the metric suite (run it where CUDA is available; prints tables).

    .venv/bin/python bench/gpu.py            # small (bf16) and paper (bf16, fp32), 640x480 and 1280x1024

The metric suite's cost a frame is printed next to the fusion's: the spatial suite
(``fusion_batch`` on the GPU, batches of 8 frames, as an actor runs it) and the six RAFT flows
of a frame pair (raft_small and raft_large, random weights: flowD and BiSWE share them).

Measures fused frames per second of the forward pass alone, after a warm-up, synchronised
timing, with randomly initialised weights (speed does not depend on the weight values), and
the peak GPU memory of a pass. `small`: a window of ``--frames`` core frames plus its halo.
`paper`: one inference window as PaperFusion runs it (10 frames, of which 6 are kept).
"""

from __future__ import annotations

import argparse
import time

import torch

from temcoco.model.networks import new_network
from temcoco.model.paper.config import PaperConfig


def _small(height: int, width: int, frames: int) -> tuple[torch.nn.Module, tuple[torch.Tensor, ...], int]:
    net = new_network("small").eval().cuda()
    n = frames + 2 * net.temporal_radius
    return net, (torch.rand(1, n, 1, height, width, device="cuda"), torch.rand(1, n, 3, height, width, device="cuda")), frames


def _paper(height: int, width: int) -> tuple[torch.nn.Module, tuple[torch.Tensor, ...], int]:
    config = PaperConfig()
    x = torch.rand(1, config.window_frames, 3, height, width, device="cuda")
    return new_network("paper").eval().cuda(), (x, x.clone()), config.core_frames


def measure(net: torch.nn.Module, inputs: tuple[torch.Tensor, ...], frames: int, dtype: torch.dtype, repeats: int = 5) -> tuple[float, float]:
    """(fused frames per second, peak GiB) of ``repeats`` passes that each yield ``frames`` frames."""
    torch.cuda.reset_peak_memory_stats()
    with torch.inference_mode(), torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
        net(*inputs)  # warm-up (and cuDNN autotuning)
        torch.cuda.synchronize()
        began = time.perf_counter()
        for _ in range(repeats):
            net(*inputs)
        torch.cuda.synchronize()
    return frames * repeats / (time.perf_counter() - began), torch.cuda.max_memory_allocated() / 2**30


def suite_ms(height: int, width: int, batch: int = 8, repeats: int = 5) -> float:
    """ms a frame of the spatial metric suite on CUDA, batches of ``batch`` frames (synchronised)."""
    from temcoco.metrics.fusion import fusion_batch
    from temcoco.metrics.ops import TorchOps

    ops = TorchOps("cuda")
    f, a, b = (torch.randint(0, 256, (batch, height, width), device="cuda").float() for _ in range(3))
    fusion_batch(ops, f, a, b)  # warm-up
    torch.cuda.synchronize()
    began = time.perf_counter()
    for _ in range(repeats):
        fusion_batch(ops, f, a, b)
    torch.cuda.synchronize()
    return 1000 * (time.perf_counter() - began) / (repeats * batch)


def flows_ms(height: int, width: int, build, repeats: int = 3) -> float:
    """ms a frame pair of the six RAFT flows of BiSWE (flowD's is one of them)."""
    import numpy as np

    from temcoco.metrics.temporal import RaftFlow

    flow = RaftFlow(build(weights=None).eval())
    rng = np.random.default_rng(0)
    pairs = [tuple(rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(2)) for _ in range(6)]
    flow(pairs)  # warm-up
    torch.cuda.synchronize()
    began = time.perf_counter()
    for _ in range(repeats):
        flow(pairs)
    torch.cuda.synchronize()
    return 1000 * (time.perf_counter() - began) / repeats


def metric_suite_table(fusion_ms: dict[tuple[int, int], float]) -> None:
    """The suite's ms a frame next to ``small``'s fusion ms a frame (bf16), per frame size."""
    from torchvision.models.optical_flow import raft_large, raft_small

    print(f"{'size':>10} {'small ms':>9} {'suite ms':>9} {'raft_small 6 flows':>19} {'raft_large 6 flows':>19}")
    for (height, width), fused in fusion_ms.items():
        row = [suite_ms(height, width), flows_ms(height, width, raft_small), flows_ms(height, width, raft_large)]
        print(f"{width}x{height:<5} {fused:>9.1f} {row[0]:>9.1f} {row[1]:>19.1f} {row[2]:>19.1f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=8, help="core frames per pass of `small`")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this benchmark needs a GPU")
    torch.backends.cudnn.benchmark = True
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    print(f"{'config':<8} {'size':>10} {'dtype':>6} {'frames/s':>10} {'peak GiB':>9}")
    runs = [("small", torch.bfloat16), ("paper", torch.bfloat16), ("paper", torch.float32)]
    fusion_ms: dict[tuple[int, int], float] = {}
    for config, dtype in runs:
        for height, width in ((480, 640), (1024, 1280)):
            net, inputs, frames = _small(height, width, args.frames) if config == "small" else _paper(height, width)
            try:
                rate, peak = measure(net, inputs, frames, dtype)
                result = f"{rate:>10.1f} {peak:>9.1f}"
                if config == "small":
                    fusion_ms[(height, width)] = 1000 / rate
            except torch.cuda.OutOfMemoryError:
                result = f"{'out of memory':>20}"
            print(f"{config:<8} {width}x{height:<5} {str(dtype).removeprefix('torch.'):>6} {result}", flush=True)
            del net, inputs
            torch.cuda.empty_cache()
    metric_suite_table(fusion_ms)


if __name__ == "__main__":
    main()
