"""Where one long clip's time goes on the archive path: its stages run in this process, one thread.

    .venv/bin/python bench/clip_stages.py [--frames 640] [--method average] [--metrics off] [--stride 8] [--stream]

The clip is made of the real M3SVD dev frames as in ``bench/policy_e2e.py`` (640x480). The stages are
the actor's (``temcoco.workers.clip``): ``start`` (fingerprint, ingest: decode both videos, stage them
to zarr, plan the chunks), every chunk's ``fuse_chunk`` (read the staged window, fuse, write the fused
chunk), ``finish`` (read the fused frames, encode H.264, measure under the policy, write the row).
With ``--stream``, the one call that streams the clip instead (``temcoco.workers.stream_clip``).
Prints wall and CPU seconds of each stage and the clip's frames/s; writes nothing else.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import cv2
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from policy_e2e import write_clip  # noqa: E402 (bench/ is this script's folder)

from temcoco.job import JobConfig  # noqa: E402
from temcoco.metrics.policy import MetricPolicy  # noqa: E402
from temcoco.model.registry import load_method  # noqa: E402
from temcoco.storage.archive import discover  # noqa: E402
from temcoco.storage.layout import ClipLayout  # noqa: E402
from temcoco.workers import clip  # noqa: E402
from temcoco.workers.fuse_chunk import fuse_chunk  # noqa: E402
from temcoco.workers.ingest import Limits  # noqa: E402


class Stopwatch:
    """Wall and CPU seconds of each named step, in order."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, float, float]] = []

    def time(self, name: str, action):
        wall, cpu = time.perf_counter(), time.process_time()
        result = action()
        self.steps.append((name, time.perf_counter() - wall, time.process_time() - cpu))
        return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=640)
    ap.add_argument("--method", default="average")
    ap.add_argument("--metrics", default="off", choices=("full", "sampled", "off"))
    ap.add_argument("--stride", type=int, default=8)
    ap.add_argument("--stream", action="store_true", help="the clip streamed through the actor (one call)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)  # as an actor with one CPU
    work = Path(tempfile.mkdtemp(prefix="clip_stages_"))
    write_clip(work / "archive", "long", args.frames)
    job = JobConfig(str(work / "archive"), str(work / "out"), job_id="stages", method=args.method,
                    metrics=MetricPolicy(args.metrics, args.stride))
    method = load_method(args.method, device="cpu")
    with discover(job.archive) as clips:
        source = next(iter(clips))
    run = clip.ClipRun(source, ClipLayout(job.out, source.clip_id, job.job_id, method.version), "bench", time.time())
    watch = Stopwatch()
    if args.stream:
        watch.time(f"start, streamed: decode, fuse, write, encode, metrics {args.metrics}, row", lambda: clip.start(
            replace(run, stream=True), job, method, Limits()))
        report(args, watch)
        return
    started = watch.time("start: fingerprint, ingest (decode, stage to zarr), plan", lambda: clip.start(
        run, job, method, Limits()))
    watch.time(f"fuse {len(started.todo)} chunks (read staged, fuse, write fused)", lambda: [
        fuse_chunk(run.layout, spec, started.ingested.fingerprint, method) for spec in started.todo])
    watch.time(f"finish: read fused, encode, metrics {args.metrics}, row", lambda: clip.finish(
        run, started.ingested, job, method))
    report(args, watch)


def report(args: argparse.Namespace, watch: Stopwatch) -> None:
    total = sum(wall for _, wall, _ in watch.steps)
    print(f"{args.frames} frames 640x480, {args.method}, one thread")
    for name, wall, cpu in watch.steps:
        print(f"{name:<64}{wall:7.2f} s wall {cpu:7.2f} s CPU")
    print(f"{'the clip':<64}{total:7.2f} s wall: {args.frames / total:.1f} frames/s")


if __name__ == "__main__":
    main()
