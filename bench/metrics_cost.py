"""CPU time of each metric per 640×480 frame, on one CPU thread, and the whole suite's wall time on one
and on two threads (flows beside the spatial suite). Prints a table; writes nothing.

    python bench/metrics_cost.py [--repeat 5] [--models]

Frames: the M3SVD dev sequence in ../shared/data when present, else synthetic texture.
``--models`` also times feaCD's ResNet-18 and RAFT flows (random weights: the cost is the same).
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
import torch

from temcoco.allocator import keep_freed_memory
from temcoco.devdata import DEV_DATA
from temcoco.metrics import fusion, temporal
from temcoco.metrics import clip as clip_module
from temcoco.metrics.clip import ClipMetrics, MetricConfig
from temcoco.metrics.ops import TorchOps

DATA = DEV_DATA
SEQ = "0111_1716"


def frames(n: int) -> list[temporal.Frames]:
    """n consecutive 640×480 frames: real IR/VI when present, fused = their average."""
    if (DATA / "visible_Blur" / SEQ).is_dir():
        out = []
        for t in range(n):
            ir = cv2.imread(str(DATA / "infrared_noise" / SEQ / f"{t:04d}.png"), cv2.IMREAD_GRAYSCALE)
            vi = cv2.cvtColor(cv2.imread(str(DATA / "visible_Blur" / SEQ / f"{t:04d}.png")), cv2.COLOR_BGR2RGB)
            fused = ((vi.astype(np.uint16) + ir[..., None]) // 2).astype(np.uint8)
            out.append(temporal.Frames(ir=ir, vi=vi, fused=fused))
        return out
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.uniform(0, 255, (520, 680, 3)).astype(np.float32), (0, 0), 3)
    out = []
    for t in range(n):
        vi = np.clip(base[t : t + 480, 2 * t : 2 * t + 640] * 2 - 128, 0, 255).astype(np.uint8)
        ir = 255 - cv2.cvtColor(vi, cv2.COLOR_RGB2GRAY)
        out.append(temporal.Frames(ir=ir, vi=vi, fused=((vi.astype(np.uint16) + ir[..., None]) // 2).astype(np.uint8)))
    return out


def ms(fn, repeat: int, clock=time.process_time) -> float:
    """Least time of fn() in ms over ``repeat`` calls, after one warm-up call: by default CPU time (this
    process), and the least of several, because the machine is shared with other busy processes."""
    fn()
    times = []
    for _ in range(repeat):
        t = clock()
        fn()
        times.append(clock() - t)
    return 1000 * float(np.min(times))


def flow_rows(prev, cur, repeat: int, models: bool) -> list[tuple[str, float, str]]:
    """flowD's flow and warp, BiSWE's six flows and warps (and with ``models`` the ResNet-18 and RAFT costs)."""
    flowd_flow, flow = temporal.make_flows("dis")
    pairs = [(cur.vi, prev.vi), (prev.vi, cur.vi), (cur.ir, prev.ir), (prev.ir, cur.ir),
             (cur.fused, prev.fused), (prev.fused, cur.fused)]
    vi_b, vi_f, ir_b, ir_f, fu_b, fu_f = flow(pairs)

    def biswe_rest() -> None:
        m_prev = temporal.occlusion_mask(vi_b, vi_f) & temporal.occlusion_mask(ir_b, ir_f)
        m_next = temporal.occlusion_mask(vi_f, vi_b) & temporal.occlusion_mask(ir_f, ir_b)
        temporal.warp_error(cur.fused_f32, prev.fused_f32, fu_b, m_prev)
        temporal.warp_error(prev.fused_f32, cur.fused_f32, fu_f, m_next)

    rows = [
        ("flowD flow", ms(lambda: flowd_flow(pairs[:1]), repeat), "DIS medium, VI_t->VI_t-1"),
        ("flowD", ms(lambda: temporal.flowd(prev.fused_f32, cur.fused_f32, vi_b), repeat), "warp + L2"),
        ("BiSWE flows", ms(lambda: flow(pairs), repeat), "DIS fast, 6 flows"),
        ("BiSWE", ms(biswe_rest, repeat), "occlusion masks + warps"),
    ]
    if models:
        from torchvision.models import resnet18
        from torchvision.models.optical_flow import raft_large, raft_small

        net = temporal.FeatureNet(resnet18(weights=None).eval())
        rows.append(("feaCD", ms(lambda: net([cur.fused, cur.vi, cur.ir]), 1), "ResNet-18 on fused, VI, IR"))
        for name, build in (("raft_small", raft_small), ("raft_large", raft_large)):
            raft = temporal.RaftFlow(build(weights=None).eval())
            rows.append((f"{name}_flows", ms(lambda raft=raft: raft(pairs), 1), "6 flows, replace the DIS row"))

    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--models", action="store_true", help="also time ResNet-18 (feaCD) and RAFT")
    parser.add_argument("--default-allocator", action="store_true",
                        help="leave glibc's allocator as it is (the suite tunes it: temcoco.allocator)")
    args = parser.parse_args()
    if args.default_allocator:
        clip_module.keep_freed_memory = lambda: False  # "before": ClipMetrics leaves it as it is
    else:
        keep_freed_memory()  # as ClipMetrics and the actors do, before anything is timed
    torch.set_num_threads(1)
    cv2.setNumThreads(1)

    seq = frames(17)
    prev, cur = seq[0], seq[1]
    ops, batch = TorchOps("cpu"), 8
    planes = [np.stack([p] * batch) for p in (fusion.luminance(cur.fused), cur.ir.astype(np.float32),
                                             fusion.luminance(cur.vi))]

    def part(fn):
        return lambda: fn(fusion.Batch(ops, *(ops.asarray(p) for p in planes)))

    parts = {"moments (SD CC SCD PSNR)": fusion.moment_metrics, "histograms (EN MI)": fusion.histogram_metrics,
             "differences (SF AG)": fusion.difference_metrics, "VIF": fusion.vif_metric, "Qabf": fusion.qabf_metric,
             "Nabf": fusion.nabf_metric, "SSIM": fusion.ssim_metric, "MS_SSIM": fusion.ms_ssim_metric}
    rows: list[tuple[str, float, str]] = [
        ("luminance", ms(lambda: (fusion.luminance(cur.fused), fusion.luminance(cur.vi)), args.repeat), "fused + VI"),
        *((name, ms(part(fn), args.repeat) / batch, f"batch of {batch}") for name, fn in parts.items()),
        ("fusion suite", ms(lambda: fusion.fusion_batch(ops, *planes), args.repeat) / batch,
         f"fusion_batch, batch of {batch}, products shared"),
        ("ref_metrics", ms(lambda: fusion.reference_batch(ops, *planes), args.repeat) / batch, "ref_PSNR + ref_SSIM"),
    ]

    rows += flow_rows(prev, cur, args.repeat, args.models)

    def suite(threads: int):
        def run() -> None:
            clip = ClipMetrics(MetricConfig(flow="dis", feacd=False, threads=threads))
            for fr in seq:
                clip.update(fr.ir[..., None], fr.vi, fr.fused)
            clip.result()
        return run

    what = f"ClipMetrics, {len(seq)} frames, full policy (DIS, no feaCD)"
    rows.append(("suite", ms(suite(1), 2) / len(seq), f"{what}, CPU time"))
    rows.append(("suite, wall", ms(suite(1), 2, time.perf_counter) / len(seq), f"{what}, 1 thread, wall time"))
    torch.set_num_threads(2)  # as an actor with 2 CPUs: the suite's spatial part takes 1, its flows the other
    rows.append(("suite, 2 thr", ms(suite(2), 3, time.perf_counter) / len(seq), f"{what}, 2 threads, wall time"))
    source = f"M3SVD {SEQ}" if (DATA / "visible_Blur" / SEQ).is_dir() else "synthetic frames"
    print(f"metric CPU time per 640x480 frame, one thread, least of {args.repeat}, {source}")
    for name, value, note in rows:
        print(f"{name:<16}{value:8.1f} ms  {note}")


if __name__ == "__main__":
    main()
