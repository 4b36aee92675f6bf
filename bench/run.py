"""Benchmarks of archive fusion on this machine: prints a table and writes BENCHMARKS.md.

    make bench          # or: .venv/bin/python bench/run.py [--quick]

Measures, in one run: the I/O floor (decode + encode), the default network's forward pass,
`fuse` end to end per method, `submit` with 1 and 2 workers, peak memory of `fuse` on a
short and a 10x longer clip, and the metric suite's cost per frame.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from markdown import replace_section  # noqa: E402 (bench/ is this script's folder)
W, H = 640, 480


NOTES = """
## Reading the numbers

- Targets (issue 6): `fuse` with the network at most 1.15x its forward time on the same
  windows; classical methods at least 0.5x the I/O floor; peak memory of a 10x longer clip
  at most 1.1x; `submit --workers 2` at least 1.7x faster than `--workers 1`.
- Memory is bounded by the chunk, not the clip: decode-ahead, the window and the fused block
  being encoded are each about one chunk. A clip reaches that plateau after about two chunks,
  so with the default chunk (64) the 60-frame clip, under one chunk, stays below it (1.3x);
  with chunk 16 both clips reach it and peak memory is flat.
- `submit` pays a fixed start-up and wrap-up (Prefect's temporary server, Ray, actors,
  report, shutdown): the 1-clip run measures it. The fusion work itself scales by the
  "less start-up" ratio; the total ratio approaches it as archives grow.
- "Before optimisation" is the same network with NCHW weights and one output frame per pass
  (so every frame recomputes its own 2r halo frames); after: channels-last, 8 output frames
  per pass under `torch.inference_mode()`. More frames per pass (16, 24) was measured no
  faster and costs more memory; `torch.compile` was not tried.
- GPU: `bench/gpu.py` (`small` in bf16, `paper` in bf16 and fp32, 640x480 and 1280x1024,
  fused frames/s and peak GPU memory) has not been run: no GPU machine was lent to this task.
- The published network (`paper`), `bench/paper_cpu.py` (not part of `make bench`: one window
  takes about 9 minutes), 640x480, 2 threads, one inference window (10 frames computed, the
  middle 6 kept), random weights, on this 2-core machine while another process kept it busy
  (load 3 to 5): 531 s per window, i.e. 53.1 s per computed frame and 88.5 s per fused frame;
  peak RSS 12,142 MiB (1,013 MiB before the window). It is for GPUs.
"""


def make_pair(folder: Path, frames: int, width: int = W, height: int = H) -> tuple[str, str]:
    from temcoco.demo import synthetic_clip
    from temcoco.storage.video import VideoWriter

    folder.mkdir(parents=True, exist_ok=True)
    ir_path, vi_path = folder / "ir.mp4", folder / "vi.mp4"
    with VideoWriter(str(ir_path), 25.0) as wi, VideoWriter(str(vi_path), 25.0) as wv:
        for start in range(0, frames, 30):  # generated in blocks: bounded memory for long clips
            n = min(30, frames - start)
            ir, vi = synthetic_clip(n, height, width, seed=start)
            wi.write(np.repeat(ir[..., None], 3, axis=-1))
            wv.write(vi)
    return str(ir_path), str(vi_path)


def add_clip(archive: Path, name: str, pair: tuple[str, str]) -> None:
    """Move an (ir, vi) pair of videos into ``archive`` as ``ir/<name>.mp4`` and ``vi/<name>.mp4``."""
    for side, path in zip(("ir", "vi"), pair):
        (archive / side).mkdir(parents=True, exist_ok=True)
        os.replace(path, archive / side / f"{name}.mp4")


def io_floor(ir: str, vi: str, out: str) -> float:
    """Decode the pair and encode the VI frames: frames per second."""
    from temcoco.storage.pairing import iter_pairs
    from temcoco.storage.video import VideoWriter

    began, n = time.perf_counter(), 0
    with VideoWriter(out, 25.0) as w:
        for _, v in iter_pairs(ir, vi):
            w.write(v)
            n += 1
    return n / (time.perf_counter() - began)


def network_forward(ir_url: str, vi_url: str, chunk: int, threads: int, optimised: bool = True,
                    weights: str | None = None) -> float:
    """The network's own fuse() on the clip's windows (decoded beforehand): core frames per second.

    The same windows as ``fuse --chunk`` gives it, so the two numbers compare like for like.
    ``optimised=False`` undoes the CPU optimisations (channels-last weights, several frames
    per pass) to give the "before" number.
    """
    import torch

    from temcoco.model.registry import load_method
    from temcoco.overlap import stream_windows
    from temcoco.storage.pairing import iter_pairs

    torch.set_num_threads(threads)
    m = load_method("temcoco", weights=weights, device="cpu")
    if not optimised:
        m.net.to(memory_format=torch.contiguous_format)
        m.frames_per_pass = 1
    windows = [w for _, w in stream_windows(iter_pairs(ir_url, vi_url), chunk, m.temporal_radius)]
    m.fuse(*windows[0])  # warm-up
    began = time.perf_counter()
    frames = sum(len(m.fuse(ir, vi)) for ir, vi in windows)
    return frames / (time.perf_counter() - began)


def fuse_end_to_end(ir: str, vi: str, out: str, method: str, chunk: int, threads: int) -> float:
    import torch

    from temcoco.model.registry import load_method
    from temcoco.pipeline import fuse_pair

    torch.set_num_threads(threads)
    result = fuse_pair(ir, vi, out, load_method(method, device="cpu"), chunk=chunk)
    return result.frames / result.seconds


def peak_rss_of_fuse(ir: str, vi: str, out: str, method: str, chunk: int) -> float:
    """Peak RSS (MiB) of a `temcoco fuse` process: its VmHWM (ru_maxrss would carry over the
    parent's peak through fork + exec on Linux)."""
    cmd = [sys.executable, "-c", (
        "import sys; from temcoco.cli import run; sys.argv = ['temcoco'] + sys.argv[1:]\n"
        "try:\n    run()\nexcept SystemExit:\n    pass\n"
        "print([line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM:')][0])"),
        "fuse", "--ir", ir, "--vi", vi, "-o", out, "--method", method, "--device", "cpu", "--chunk", str(chunk)]
    p = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return int(p.stdout.strip().splitlines()[-1]) / 1024


def submit_seconds(archive: str, out: str, workers: int, method: str, chunk: int) -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "temcoco.cli", "submit", archive, "--out", out, "--workers", str(workers),
                    "--method", method, "--chunk", str(chunk), "--quiet"], check=True, capture_output=True)
    return time.perf_counter() - began


def metric_costs() -> dict[str, float]:
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "metrics_cost.py")], capture_output=True, text=True,
                       check=True)
    return {line.split()[0]: float(line.split()[1]) for line in p.stdout.splitlines() if line[:1].isalpha()
            and len(line.split()) >= 2 and _is_number(line.split()[1])}


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="shorter clips (smoke test of the harness)")
    ap.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    args = ap.parse_args()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    short = 12 if args.quick else 60
    work = Path(tempfile.mkdtemp(prefix="temcoco-bench-"))
    lines: list[tuple[str, str]] = []

    def report(name: str, value: str) -> None:
        print(f"{name:<60} {value}", flush=True)
        lines.append((name, value))

    ir, vi = make_pair(work / "short", short)
    long_ir, long_vi = make_pair(work / "long", short * 10)
    # Throughput on the long clip: a 60-frame clip is about one 64-frame chunk, so nothing overlaps.
    floor = io_floor(long_ir, long_vi, str(work / "floor.mp4"))
    report(f"I/O floor: decode pair + encode VI, {W}x{H}, {short * 10} frames", f"{floor:.1f} frames/s")
    for method in ("average", "max", "laplacian"):
        fps = fuse_end_to_end(long_ir, long_vi, str(work / f"{method}.mp4"), method, 64, 2)
        report(f"fuse end to end, {method} (chunk 64)", f"{fps:.1f} frames/s ({fps / floor:.2f} x I/O floor)")
    chunk = 16
    before = network_forward(ir, vi, chunk, 2, optimised=False)
    report(f"network forward before optimisation (1 frame/pass, NCHW), {W}x{H}", f"{before:.2f} frames/s")
    net = network_forward(ir, vi, chunk, 2)
    report(f"network forward (small, chunk {chunk}, 8 frames/pass, channels-last, 2 threads), {W}x{H}",
           f"{net:.2f} frames/s ({net / before:.2f} x before)")
    e2e = fuse_end_to_end(ir, vi, str(work / "temcoco.mp4"), "temcoco", chunk, 2)
    report("fuse end to end, temcoco (chunk 16, 2 threads)", f"{e2e:.2f} frames/s ({net / e2e:.2f} x forward time)")
    # Memory is bounded by the chunk: a clip reaches the plateau after about two chunks, so
    # with the default chunk (64) the 60-frame clip, under one chunk, stays below it.
    for chunk in (16, 64):
        rss_short = peak_rss_of_fuse(ir, vi, str(work / "m1.mp4"), "laplacian", chunk)
        rss_long = peak_rss_of_fuse(long_ir, long_vi, str(work / "m2.mp4"), "laplacian", chunk)
        report(f"peak RSS of fuse (laplacian, chunk {chunk}), {short} frames", f"{rss_short:.0f} MiB")
        report(f"peak RSS of fuse (laplacian, chunk {chunk}), {short * 10} frames",
               f"{rss_long:.0f} MiB ({rss_long / rss_short:.2f} x)")
    archive, clips = work / "archive", 3 if args.quick else 24
    for i in range(clips):
        add_clip(archive, f"clip{i}", make_pair(work / f"clip{i}", short, 320, 240))
    tiny = work / "tiny"
    add_clip(tiny, "clip", make_pair(work / "tiny-pair", 8, 320, 240))
    s0 = submit_seconds(str(tiny), str(work / "out0"), 1, "average", 64)
    report("submit start-up and wrap-up: 1 clip of 8 frames 320x240, average, 1 worker", f"{s0:.1f} s")
    s1 = submit_seconds(str(archive), str(work / "out1"), 1, "temcoco", 16)
    s2 = submit_seconds(str(archive), str(work / "out2"), 2, "temcoco", 16)
    report(f"submit, {clips} clips of {short} frames 320x240, temcoco, 1 worker", f"{s1:.1f} s")
    report(f"submit, {clips} clips of {short} frames 320x240, temcoco, 2 workers", f"{s2:.1f} s ({s1 / s2:.2f} x faster)")
    report("submit, the same less the start-up and wrap-up run",
           f"{s1 - s0:.1f} s vs {s2 - s0:.1f} s ({(s1 - s0) / (s2 - s0):.2f} x faster)")
    for name, ms in metric_costs().items():
        report(f"metric {name}, {W}x{H}", f"{ms:.1f} ms/frame")
    write_benchmarks(Path(args.output), lines)


def write_benchmarks(path: Path, lines: list[tuple[str, str]]) -> None:
    """BENCHMARKS.md: this run's rows and notes; the other scripts' sections are kept."""
    header = (f"# Benchmarks\n\nMeasured by `make bench` (`bench/run.py`) on {platform.machine()}, "
              f"{os.cpu_count()} CPU cores, Python {platform.python_version()}, "
              f"{time.strftime('%Y-%m-%d')}.\n\n| measurement | result |\n|---|---|\n")
    replace_section(path, "", header + "".join(f"| {n} | {v} |\n" for n, v in lines))
    heading, _, notes = NOTES.strip().partition("\n")
    replace_section(path, heading, notes)
    print(f"wrote {path}; max RSS of this process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB")

if __name__ == "__main__":
    main()
