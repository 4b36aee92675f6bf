"""Scale benchmarks (issue 13): prints numbers and updates BENCHMARKS.md.

    make bench                                 # reduced sizes (a few minutes)
    .venv/bin/python bench/scale.py --full     # the issue's sizes (over an hour: 20,000 clips)
    .venv/bin/python bench/scale.py --only P   # one part: table, orchestration, memory, discovery, decode

Measures: the filtered aggregate of `temcoco metrics` over a compacted table of JOBS x ROWS rows,
locally and on a moto S3 server started here, and the compaction of one job's single-row files
(table); the per-clip cost of `temcoco submit` on tiny clips and where its CPU goes
(orchestration) and decoding to RGB (decode); the driver's peak memory for 200 vs 20,000 clips (memory); discovery's peak
allocations for a large manifest (discovery). The compacted table is built fast: rows are
generated in bulk and written as parts by the compaction's own writer (what compacting a
backlog produces), not as millions of row files.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from markdown import replace_section  # noqa: E402 (bench/ is this script's folder)

from temcoco.storage import compaction, layout, results
from tests.support.s3server import start_moto
from temcoco.storage.results import PART_SCHEMA, ROW

SECTION = "## Scale (`bench/scale.py`)"
QUERY = "SELECT method, avg(SSIM) AS SSIM, count(*) AS clips FROM metrics WHERE status = 'ok' GROUP BY method ORDER BY method"
METHODS = ("temcoco", "average", "max", "laplacian")
JOBS_PER_NIGHT = 10  # 10 jobs of 10,000 clips: the 100,000 clips of a night
NOTES = """
- Floors (issue 13): the filtered aggregate over 200 jobs x 10,000 rows (2 M rows) under 3 s,
  locally and on the moto S3 server. "first" is the first query of a fresh process (listing,
  manifest, parts' footers, DuckDB), "median" the median of the next three.
- The table is compacted: parts of at most 100,000 rows each (20 for 2 M rows) across jobs and
  dates, named by one manifest. moto answers a request in 12-45 ms here, mostly whatever its size,
  and no faster in parallel; a query costs a listing, the manifest and 3 requests a part (the
  footer, two coalesced column ranges; size and ETag come from the listing, so no HEAD; with a
  HEAD a part it measured 2.2-4.4 s first). One part per job (200 parts of 10,000 rows)
  measured 6.9 s with pyarrow's native S3 client and 15 s through fsspec (DESIGN.md, 'Exactly-once
  results'). This machine is shared: repeated runs vary by up to 2x.
- Compaction of one job: the job's single-row files (written by `write_row`, as clips do) folded
  into the table, which is then queried again.
- Compaction reads each single-row file once (about 1 ms to parse locally; concurrent fetches on
  object stores, which moto serves one at a time, hence its 27 ms a row).
- Orchestration (issue 13, floor 20 ms a clip: met on 2026-12-07): per clip (T_large - T_small) / (large - small), tiny clips
  (8 frames 64x64) from one manifest pair, `submit --method average --workers 2`; the CPU
  (utime + stime) of every process of the run (the driver, the fusion actors, and the rest:
  Prefect's server, Ray's daemons) and the driver's peak RSS (VmHWM), sampled from /proc every
  0.5 s; "a clip" is the two runs' difference over the clips added. "One tiny clip's own work"
  runs the actor-side stages (`temcoco.workers.clip.start`) in one process, one clip after
  another, with one OpenCV and one torch thread (as an actor has), CPU time. "Orchestration" is
  the CPU a clip costs outside that work (the actors' excess over it, the driver, the rest); on
  2 busy cores its wall time is half of it.
  History: 160 ms a clip in the issue (5 vs 200 clips); 173 ms with one Prefect task run per clip
  (20 vs 200); 132 ms with batches and one round trip per short clip. Then RGB conversion set up
  per frame (1-5 ms a frame at any size) was fixed and ingest probes each source once. What is
  left is the clip's own work (most of it metrics: 7 DIS optical flows a frame pair and the
  spatial suite) on 2 workers sharing 2 cores: 122 ms a clip on 2026-11-29 (212 ms of actor CPU
  and 6.0 ms of driver CPU a clip). On 2026-12-07, 15 ms a clip: the default metric policy scores
  one frame of an 8-frame clip (`sampled`, stride 8: 20 ms of actor CPU a clip against 214), and
  the driver waits on the pool in one `ray.wait` loop without thread pools (1.8 ms of driver CPU
  a clip); its peak RSS stayed flat (0.97 x). Measured on an idle machine.
- Driver memory: 20,000 ids in one manifest pointing at one tiny pair against 200 (`--only memory`,
  50 min here). Before: 2.19 x (the end-of-job compaction parsed the job's 20,000 one-row files
  at once, 1.4 GB; the driver's RSS was flat at 803 MiB while fusing). Compaction now reads them
  1,000 at a time (compacting 20,000 loose rows adds 106 MiB to a process; the report of that
  job adds 165 MiB), and discovery streams (below). The driver holds one sorted run of
  discovery, the clips in flight, the job's counts and at most 100 failures.
- Discovery: a manifest of N entries (`--only discovery`) discovered and streamed in one process,
  Python's peak allocations (tracemalloc, which slows it about 7x). Before, the manifest text,
  its rows and every clip were held at once: 1.2 MiB vs 112 MiB for 1,000 vs 100,000 entries
  (2.0 s untraced for 100,000). Now one sorted run of 20,000 records is held; the rest is spilled
  to local disk and merged (also 2.0 s untraced for 100,000).
- Decode: PyAV's `to_ndarray(format="rgb24")` sets up a new threaded converter for every frame;
  the reader keeps one per stream (same pixels, tested).
"""


def hex_strings(rng: np.random.Generator, n: int, width: int) -> pa.Array:
    digits = np.frombuffer(b"0123456789abcdef", dtype="S1")[rng.integers(0, 16, (n, width))]
    return pc.cast(pa.array(digits.view(f"S{width}").ravel()), pa.string())


def numbered(prefix: str, numbers: np.ndarray, suffix: str = "") -> pa.Array:
    text = pc.cast(pa.array(numbers), pa.string())
    return pc.binary_join_element_wise(pa.scalar(prefix), text, pa.scalar(suffix), "")


def job_rows(rng: np.random.Generator, date: str, job_id: str, n: int) -> pa.Table:
    """``n`` plausible rows of one job (strings as long as real ones; metrics random, so incompressible)."""
    clips = np.arange(n)
    method = rng.choice(np.array(METHODS), n)
    status = rng.choice(np.array(["ok", "failed", "skipped"]), n, p=[0.9, 0.03, 0.07])
    columns = {
        "clip_id": numbered(f"cam{rng.integers(100):03d}/{date}/clip-", clips),
        "method": pa.array(method), "model_version": pc.binary_join_element_wise(pa.array(method), "1", "-"),
        "status": pa.array(status),
        "error": pa.array(np.where(status == "failed", "cannot decode ir/clip.mp4: invalid data", None), pa.string()),
        "video": numbered(f"s3://fused/fused/temcoco-small-6bd3ed66/{date}-clip-", clips, ".mp4"),
        "ir": numbered(f"s3://archive/{date}/ir/clip-", clips, ".mp4"),
        "vi": numbered(f"s3://archive/{date}/vi/clip-", clips, ".mp4"),
        "fingerprint": hex_strings(rng, n, 32), "frames": pa.array(rng.integers(100, 9000, n)),
        "height": pa.array(np.full(n, 480)), "width": pa.array(np.full(n, 640)), "fps": pa.array(np.full(n, 25.0)),
        "seconds": pa.array(rng.random(n) * 100), "flow_method": pa.array(np.full(n, "dis")),
        **{name: pa.array(rng.random(n)) for name in results.METRIC_COLUMNS},
        "finished_at": pa.array(np.datetime64(f"{date}T02:00:00", "us") + rng.integers(0, 8 * 3600 * 10**6, n)),
        "date": pa.array(np.full(n, date)), "job_id": pa.array(np.full(n, job_id)), ROW: hex_strings(rng, n, 16),
    }
    return pa.table({f.name: columns.get(f.name, pa.nulls(n, f.type)).cast(f.type) for f in PART_SCHEMA},
                    schema=PART_SCHEMA)


def build_table(out: str, jobs: int, rows: int, storage_options: dict | None = None) -> int:
    """A compacted table of ``jobs`` x ``rows`` rows (10 jobs a night); returns its number of parts."""
    rng = np.random.default_rng(0)
    url, per_part = layout.metrics_table(out), compaction.ROWS_PER_PART
    parts, pending = [], []
    for j in range(jobs):
        date = str(np.datetime64("2026-01-01") + j // JOBS_PER_NIGHT)
        pending.append(job_rows(rng, date, f"{date}-job{j % JOBS_PER_NIGHT:02d}", rows))
        if sum(t.num_rows for t in pending) >= per_part or j == jobs - 1:
            table = pa.concat_tables(pending).sort_by([("date", "ascending"), ("job_id", "ascending"), (ROW, "ascending")])
            full = table.num_rows // per_part * per_part if j < jobs - 1 else table.num_rows
            parts += compaction.write_parts(url, table.slice(0, full), per_part, storage_options)
            pending = [table.slice(full)] if full < table.num_rows else []
    compaction.publish(url, {"parts": parts, "superseded": []}, storage_options)
    return len(parts)


def timed(action: Callable[[], object]) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def query_times(out: str) -> tuple[float, float]:
    """The first query's seconds and the median of the next three."""
    first = timed(lambda: results.query(out, QUERY))
    return first, statistics.median(timed(lambda: results.query(out, QUERY)) for _ in range(3))


def compaction_seconds(out: str, rows: int) -> tuple[float, float]:
    """Seconds to write ``rows`` single-row files of a new job as clips do, and to compact them."""
    now = np.datetime64("now")
    write = timed(lambda: [results.write_row(out, "2026-12-31", "new-job", f"clip{i}", {
        "clip_id": f"clip{i}", "method": "temcoco", "status": "ok", "SSIM": 1.5, "finished_at": now.item()})
        for i in range(rows)])
    return write, timed(lambda: compaction.compact(out))


def update_benchmarks(path: Path, measured: list[tuple[str, str]], section_title: str = SECTION,
                      notes: str = NOTES) -> None:
    """Replace or add ``measured`` rows in the section ``section_title`` of BENCHMARKS.md (other sections are kept)."""
    text = path.read_text() if path.exists() else ""
    section = text.partition(section_title)[2].split("\n## ", 1)[0]
    rows = dict(line.strip("|").split(" | ", 1) for line in section.splitlines()
                if line.startswith("| ") and not line.startswith("| measurement"))
    rows = {k.strip(): v.strip() for k, v in rows.items()} | dict(measured)
    table = "".join(f"| {k} | {v} |\n" for k, v in rows.items())
    replace_section(path, section_title, f"Measured on {os.cpu_count()} CPU cores, {time.strftime('%Y-%m-%d')}."
                    f"\n\n| measurement | result |\n|---|---|\n{table}{notes}")


def reporter(measured: list[tuple[str, str]], after: Callable[[], None] = lambda: None) -> Callable[[str, str], None]:
    """``report(name, value)``: print a measurement, add it to ``measured``, then call ``after``."""

    def report(name: str, value: str) -> None:
        print(f"{name:<78} {value}", flush=True)
        measured.append((name, value))
        after()

    return report


def tiny_archive(root: Path, clips: int) -> Path:
    """A manifest archive of ``clips`` ids that all point at one pair of 8 frames of 64x64."""
    import csv

    from temcoco.demo import synthetic_clip
    from tests.support.archives import write_mp4

    ir, vi = synthetic_clip(8, 64, 64)
    write_mp4(root / "ir.mp4", ir)
    write_mp4(root / "vi.mp4", vi)
    with open(root / "manifest.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["clip_id", "ir", "vi"])
        writer.writerows([f"clip{i:06d}", "ir.mp4", "vi.mp4"] for i in range(clips))
    return root


@dataclass(frozen=True)
class Run:
    """One `temcoco submit` measured from outside: wall seconds, driver peak RSS (MiB), and CPU
    seconds (utime + stime, all threads) of its process tree: the driver, the fusion actors, and
    the rest (Prefect's server, Ray's daemons and idle workers)."""

    wall: float
    rss: float
    driver_cpu: float
    worker_cpu: float
    other_cpu: float


def _proc_stat(pid: int) -> tuple[int, float]:
    """(parent pid, CPU seconds so far) of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _descendants(root: int) -> list[int]:
    """``root`` and every live process below it (Ray's daemons and workers, Prefect's server)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                children.setdefault(_proc_stat(int(entry))[0], []).append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, ()))
    return found


def submit_command(archive: Path | str, out: Path | str, *options: str) -> list[str]:
    """`temcoco submit --method average --workers 2` on ``archive`` with ``options``."""
    return [sys.executable, "-m", "temcoco.cli", "submit", str(archive), "--out", str(out), "--method", "average",
            "--workers", "2", "--quiet", *options]


def submit_run(archive: Path | str, out: Path | str, *options: str) -> Run:
    """:func:`submit_command` run, its process tree sampled every 0.5 s (a process's CPU is its last
    sample: one that exits loses at most its last 0.5 s)."""
    import subprocess

    cmd = submit_command(archive, out, *options)
    began = time.perf_counter()
    driver = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak, cpu, workers = 0, {}, set()
    while driver.poll() is None:
        for pid in _descendants(driver.pid):
            try:
                cpu[pid] = _proc_stat(pid)[1]
                if "FusionWorker" in Path(f"/proc/{pid}/cmdline").read_text():
                    workers.add(pid)
                if pid == driver.pid:
                    status = Path(f"/proc/{pid}/status").read_text()
                    peak = max(peak, int(next(ln for ln in status.splitlines() if ln.startswith("VmHWM")).split()[1]))
            except (OSError, StopIteration, IndexError, ValueError):
                pass
        time.sleep(0.5)
    if driver.returncode not in (0, 3):
        raise RuntimeError(f"submit exited {driver.returncode}")
    worker_cpu = sum(cpu[pid] for pid in workers)
    driver_cpu = cpu.get(driver.pid, 0.0)
    return Run(time.perf_counter() - began, peak / 1024, driver_cpu, worker_cpu, sum(cpu.values()) - worker_cpu - driver_cpu)


def work_cpu_per_clip(work: Path, processes: int = 2) -> float:
    """CPU seconds of one tiny clip's own work, as the actors run it: ``processes`` processes at once
    (2 workers share the cores), each running the stages of its clips one after another."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        return statistics.mean(pool.map(_own_work, [work / f"own-work{i}" for i in range(processes)]))


def _own_work(work: Path, clips: int = 30) -> float:
    """CPU seconds a clip of the actor-side stages run in this process, one clip after another, with
    one OpenCV and one torch thread as an actor of 1 CPU has."""
    import cv2
    import torch

    from temcoco.job import JobConfig
    from temcoco.model.registry import load_method
    from temcoco.storage.archive import discover
    from temcoco.storage.layout import ClipLayout
    from temcoco.workers.clip import ClipRun, start
    from temcoco.workers.ingest import Limits

    work.mkdir(parents=True)
    archive = tiny_archive(work, clips + 5)
    job = JobConfig(str(archive), str(work / "out"), job_id="bench", method="average")
    method, sources = load_method("average"), list(discover(str(archive)))

    def one(source) -> None:
        start(ClipRun(source, ClipLayout(job.out, source.clip_id, job.job_id, method.version), "2026-01-01",
                      time.time()), job, method, Limits())

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    for source in sources[:5]:  # warm-up: imports, codecs, first allocations
        one(source)
    began = time.process_time()
    for source in sources[5:]:
        one(source)
    return (time.process_time() - began) / clips


def orchestration(work: Path, small: int, large: int, report: Callable[[str, str], None]) -> None:
    """Per-clip cost, (T_large - T_small) / (large - small) (issue 13's measure), and where its CPU goes:
    the fusion actors (of which the clip's own work, timed in-process), the driver, and the rest."""
    runs = {n: submit_run(tiny_archive(work / f"tiny{n}", n), work / f"tiny-out{n}") for n in (small, large)}
    per_clip = (runs[large].wall - runs[small].wall) / (large - small)
    work_cpu = work_cpu_per_clip(work)

    def cpu(part: str) -> float:
        """CPU ms a clip of one part of the process tree, the two runs' difference."""
        return 1000 * (getattr(runs[large], part) - getattr(runs[small], part)) / (large - small)

    actors, driver, other = cpu("worker_cpu"), cpu("driver_cpu"), cpu("other_cpu")
    overhead = actors - 1000 * work_cpu + driver + other
    report(f"submit, {small} vs {large} tiny clips (8 frames 64x64, average, 2 workers)",
           f"{runs[small].wall:.1f} s vs {runs[large].wall:.1f} s: {1000 * per_clip:.0f} ms a clip")
    report("one tiny clip's own work, 2 processes at once (fingerprint, decode, fuse, encode, metrics, state, row)",
           f"{1000 * work_cpu:.0f} ms CPU")
    report(f"CPU a clip, {small} vs {large} tiny clips: fusion actors / driver / Prefect server and Ray",
           f"{actors:.0f} ms / {driver:.1f} ms / {other:.1f} ms")
    report("orchestration a clip: CPU outside the clip's own work (actors' excess, driver, the rest); "
           "wall on 2 cores", f"{overhead:.0f} ms CPU; {overhead / 2:.0f} ms wall")
    report(f"driver peak RSS, {small} vs {large} tiny clips",
           f"{runs[small].rss:.0f} MiB vs {runs[large].rss:.0f} MiB ({runs[large].rss / runs[small].rss:.2f} x)")


def memory(work: Path, small: int, large: int, report: Callable[[str, str], None]) -> None:
    """The driver's peak RSS for ``small`` and ``large`` tiny clips (issue 13: at most 1.2 x)."""
    runs = {n: submit_run(tiny_archive(work / f"mem{n}", n), work / f"mem-out{n}") for n in (small, large)}
    report(f"driver peak RSS, {small:,} vs {large:,} tiny clips",
           f"{runs[small].rss:.0f} MiB vs {runs[large].rss:.0f} MiB ({runs[large].rss / runs[small].rss:.2f} x; "
           f"{runs[large].wall:.0f} s for {large:,})")


def discovery_memory(work: Path, small: int, large: int, report: Callable[[str, str], None]) -> None:
    """Python's peak allocations (tracemalloc) while discovering and streaming a manifest of ``small``
    and ``large`` entries (discovery does not open the sources, so none are written)."""
    import tracemalloc

    from temcoco.storage.archive import discover

    peaks = {}
    for n in (small, large):
        root = work / f"discovery{n}"
        root.mkdir()
        with open(root / "manifest.csv", "w") as f:
            f.write("clip_id,ir,vi\n")
            f.writelines(f"cam{i:08d},ir/{i:08d}.mp4,vi/{i:08d}.mp4\n" for i in range(n))
        tracemalloc.start()
        began = time.perf_counter()
        with discover(str(root)) as clips:
            streamed = sum(1 for _ in clips)
        seconds = time.perf_counter() - began
        peaks[n] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        assert streamed == n
    report(f"discovery: peak allocations streaming a manifest of {small:,} vs {large:,} clips (tracemalloc)",
           f"{peaks[small]:.1f} MiB vs {peaks[large]:.1f} MiB ({seconds:.1f} s for {large:,}, traced)")


def decode_rgb(work: Path, report: Callable[[str, str], None]) -> None:
    """Converting decoded frames to RGB arrays, per frame: PyAV's ``to_ndarray(format="rgb24")`` (a
    converter set up for every frame, as before) against one converter a stream, as the reader does
    now (the same pixels, tested)."""
    import av
    from av.video.reformatter import VideoReformatter

    from temcoco.demo import synthetic_clip
    from tests.support.archives import write_mp4

    for height, width in ((64, 64), (480, 640)):
        path = work / f"decode{width}.mp4"
        write_mp4(path, synthetic_clip(50, height, width)[1])
        with av.open(str(path)) as container:
            frames = list(container.decode(video=0))
        per_frame = timed(lambda: [frame.to_ndarray(format="rgb24") for frame in frames]) / len(frames)
        rgb = VideoReformatter()
        one = timed(lambda: [rgb.reformat(f, format="rgb24", threads=1).to_ndarray() for f in frames]) / len(frames)
        report(f"RGB conversion of a decoded {width}x{height} frame: a converter per frame (before) vs one a stream",
               f"{1000 * per_frame:.2f} ms vs {1000 * one:.2f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", action="store_true",
                    help="the issue's sizes: 200 jobs x 10,000 rows; 20 vs 2,000 clips; 200 vs 20,000 clips")
    ap.add_argument("--only", choices=("table", "orchestration", "memory", "discovery", "decode"), help="run one part")
    ap.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="temcoco-scale-"))
    measured: list[tuple[str, str]] = []
    report = reporter(measured)

    if args.only in (None, "table"):
        table(work, args.full, report)
    if args.only in (None, "orchestration"):
        orchestration(work, 20, 2_000 if args.full else 200, report)
    if args.only in (None, "decode"):
        decode_rgb(work, report)
    if args.only in (None, "discovery"):
        discovery_memory(work, 1_000, 1_000_000 if args.full else 100_000, report)
    if args.only == "memory" or (args.only is None and args.full):
        memory(work, 200, 20_000, report)
    update_benchmarks(Path(args.output), measured)
    print(f"updated {args.output}")


def table(work: Path, full: bool, report: Callable[[str, str], None]) -> None:
    """The compacted metrics table: query times local and on moto S3, compaction of one job."""
    jobs, rows, single, single_s3 = (200, 10_000, 10_000, 1_000) if full else (20, 10_000, 2_000, 200)
    size = f"{jobs} jobs x {rows:,} rows"
    local = str(work / "local")
    parts = build_table(local, jobs, rows)
    first, median = query_times(local)
    report(f"metrics query (filtered aggregate), {size} in {parts} parts, local", f"{first:.2f} s first, {median:.2f} s median")
    write, compact = compaction_seconds(local, single)
    report(f"write {single:,} single-row files of one job, local", f"{write:.1f} s")
    report(f"compact one job of {single:,} single-row files into the table, local", f"{compact:.2f} s")
    first, median = query_times(local)
    report("metrics query after that compaction, local", f"{first:.2f} s first, {median:.2f} s median")
    server, _ = start_moto("bench", "bench-secret")
    try:
        import fsspec

        fsspec.filesystem("s3").mkdir("bench")
        s3 = "s3://bench/out"
        build_table(s3, jobs, rows)
        first, median = query_times(s3)
        report(f"metrics query (filtered aggregate), {size} in {parts} parts, moto S3", f"{first:.2f} s first, {median:.2f} s median")
        write, compact = compaction_seconds(s3, single_s3)
        report(f"compact one job of {single_s3:,} single-row files into the table, moto S3",
               f"{compact:.2f} s (writing them: {write:.1f} s)")
    finally:
        server.stop()

if __name__ == "__main__":
    main()
