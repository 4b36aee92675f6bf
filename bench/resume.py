"""Resume benchmarks (issue 22): prints numbers and updates BENCHMARKS.md.

    .venv/bin/python bench/resume.py                  # 2,000 tiny clips locally; 200 killed half way; 200 on moto S3
    .venv/bin/python bench/resume.py --clips 500 --half-clips 100 --s3-clips 40

Measures, with `temcoco submit --method average --workers 2` on tiny clips (8 frames 64x64, one
mp4 pair a clip in ir/ and vi/): the start-up (a fresh job of one clip); a finished job of N clips
run again with the same job id, plain and `--incremental` (wall time, and the per-clip cost above
the start-up); on moto S3 the requests such a rerun makes (counted by the server) and those of an
incremental job over the unchanged archive (object reads: none expected); a job killed (SIGKILL of
the driver and its local Ray) when about half its rows are written, then run again.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.scale import reporter, submit_command, submit_run, update_benchmarks  # noqa: E402
from tests.support.s3server import start_moto  # noqa: E402

SECTION = "## Resume (`bench/resume.py`)"
NOTES = """
- Floor (issue 22): a finished job of N clips run again with its job id costs at most the start-up
  plus 5 ms a clip. "Start-up" is a fresh job of one clip (Prefect's temporary server, Ray, the
  actors, the summary, compaction, the report), the second such run of the benchmark (the first
  pays for cold caches: it is printed too); "a clip" is (rerun - start-up) / N.
- The finished job of N clips is seeded, not fused (fusing 2,000 tiny clips took over 2 s a clip on
  this 2-core machine while a training run held one core): one clip is fused for real by `submit`
  (the start-up run), then its row and report preview are copied for every clip with the clip's
  own id, sources, video URL and listing identity, and the rows compacted: what a finished job
  leaves in the table and under reports/ (its videos are not read by a rerun). The half-way and
  S3 rows run real jobs, at the sizes given.
- What a rerun costs: discovery's listing of ir/ and vi/ (which gives every video's size and mtime
  or ETag: the clip's identity), one query of the job's rows, then nothing per clip that is kept:
  no actor call, no storage request. The report is rendered again (it reads each clip's preview).
- Killed half way: the driver and its local Ray SIGKILLed once half the job's rows were written;
  the rerun keeps those clips and does the rest.
"""


def tiny_layout_archive(root: Path, clips: int) -> Path:
    """``root/ir/clipNNNNNN.mp4`` and ``root/vi/...`` for ``clips`` clips (copies of one tiny pair)."""
    from temcoco.demo import synthetic_clip
    from tests.support.archives import write_mp4

    ir, vi = synthetic_clip(8, 64, 64)
    write_mp4(root / "pair" / "ir.mp4", ir)
    write_mp4(root / "pair" / "vi.mp4", vi)
    for side in ("ir", "vi"):
        (root / "archive" / side).mkdir(parents=True)
        for i in range(clips):
            shutil.copyfile(root / "pair" / f"{side}.mp4", root / "archive" / side / f"clip{i:06d}.mp4")
    return root / "archive"


def summary(out: Path | str, job_id: str) -> dict:
    from temcoco.storage.fs import read_json
    from temcoco.storage.layout import job_summary

    return read_json(job_summary(str(out), job_id))


def rerun(work: Path, clips: int, report: Callable[[str, str], None]) -> None:
    """A finished job of ``clips`` tiny clips (see :func:`seed_finished_job`) run again with its job id,
    plain and --incremental; the start-up is the one-clip job that seeded it."""
    archive, out = tiny_layout_archive(work / f"rerun{clips}", clips), work / f"rerun-out{clips}"
    cold = seed_finished_job(work, archive, out, "R")
    startup = submit_run(work / "one", work / "startup-out", "--job-id", "U").wall  # warm: imports cached
    report("start-up: a fresh job of one tiny clip, local (first run of the session, then again)",
           f"{cold:.1f} s, then {startup:.1f} s")
    for options in ((), ("--incremental",)):
        again = submit_run(archive, out, "--job-id", "R", *options).wall
        done = summary(out, "R")
        calls = sum(n for node in done["work_by_node"].values() for n in node.values())
        report(f"rerun of a finished job of {clips:,} tiny clips, same job id{' '.join(('', *options))}, local",
               f"{again:.1f} s (start-up {startup:.1f} s): {1000 * (again - startup) / clips:.1f} ms a clip; "
               f"kept {done['kept']:,} of {done['clips']:,}, {calls} actor calls")


def seed_finished_job(work: Path, archive: Path, out: Path, job_id: str) -> float:
    """Leave under ``out`` what job ``job_id`` over every clip of ``archive`` leaves when it finishes, fast
    (fusing thousands of tiny clips takes hours on a busy 2-core machine): one clip fused for real by
    `temcoco submit` (its wall time is returned: the start-up), then its row and report preview copied
    for every clip with the clip's own id, sources, video and listing identity, and the rows compacted."""
    from temcoco.storage import compaction, results
    from temcoco.storage.archive import discover
    from temcoco.storage.fs import read_json, write_json
    from temcoco.storage.layout import ClipLayout

    one = work / "one"
    for side in ("ir", "vi"):
        (one / side).mkdir(parents=True)
        shutil.copyfile(archive / side / "clip000000.mp4", one / side / "clip000000.mp4")
    startup = submit_run(one, out, "--job-id", job_id).wall
    done = summary(out, job_id)
    template = results.query(str(out), f"SELECT * FROM metrics WHERE job_id = '{job_id}'").to_pylist()[0]
    preview = read_json(ClipLayout(str(out), "clip000000", job_id, "average-1").preview)
    with discover(str(archive)) as clips:
        for source in clips:
            layout = ClipLayout(str(out), source.clip_id, job_id, template["model_version"])
            row = {**template, "clip_id": source.clip_id, "ir": source.ir, "vi": source.vi,
                   "video": layout.fused_video, "fingerprint": source.identity}
            results.write_row(str(out), done["date"], job_id, source.row_key, row)
            write_json(layout.preview, preview)
    compaction.compact(str(out))
    return startup


def decision(archive: str, out: str, job_id: str, report: Callable[[str, str], None]) -> None:
    """In one process, what a rerun of ``job_id`` does per clip before any work: discovery's listing,
    the query of the job's rows, and the walk that keeps or sends each clip (no Prefect, no Ray)."""
    from temcoco.flows.fuse_archive import Tally, pending
    from temcoco.job import JobConfig
    from temcoco.storage.archive import discover
    from temcoco.storage.finished import finished_clips, with_finished

    job = JobConfig(archive, out, job_id=job_id, method="average")
    began, cpu = time.perf_counter(), time.process_time()
    tally = Tally()
    with discover(archive) as clips, finished_clips(out, job_id) as rows:
        sent = sum(1 for _ in pending(job, "average-1", with_finished(clips, rows), tally))
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    report(f"rerun's decision for {tally.clips + sent:,} clips in one process (listing, one query of the job's "
           "rows, the walk), local", f"{wall:.2f} s wall, {cpu:.2f} s CPU: {1000 * wall / (tally.clips + sent):.2f} ms "
           f"a clip; kept {tally.kept:,}, sent to an actor {sent}")


def s3_requests(clips: int, work: Path, report: Callable[[str, str], None]) -> None:
    """Requests of a rerun, and of an incremental job over the unchanged archive, on moto S3."""
    import fsspec

    server, _ = start_moto("bench", "bench-secret")
    try:
        fs = fsspec.filesystem("s3", use_listings_cache=False)
        fs.mkdir("resume")
        local = tiny_layout_archive(work / f"s3-{clips}", clips)
        fs.put(str(local) + "/", "resume/archive/", recursive=True)
        archive, out = "s3://resume/archive", "s3://resume/out"
        submit_run(archive, out, "--job-id", "S")
        for what, options in (("rerun, same job id", ("--job-id", "S")), ("incremental job, unchanged archive", ())):
            server.log.requests.clear()
            wall = submit_run(archive, out, *options, *(("--incremental",) if not options else ())).wall
            kinds = Counter(_kind(method, path) for method, path, _ in server.log.requests)
            read = sum(n for method, path, n in server.log.requests if _kind(method, path) == "archive object GET")
            report(f"{what} of {clips:,} tiny clips, moto S3: requests",
                   f"{wall:.1f} s; {sum(kinds.values())} requests ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))}); "
                   f"{read} archive bytes read")
    finally:
        server.stop()


def _kind(method: str, path: str) -> str:
    if path.startswith("/resume/archive/"):
        return f"archive object {method}"
    return f"{'listing' if method == 'GET' and path.rstrip('/') == '/resume' else 'out'} {method}"


def half_way(work: Path, clips: int, report: Callable[[str, str], None]) -> None:
    """A job killed once half its rows are written, then run again; against the same job uninterrupted."""
    archive, out = tiny_layout_archive(work / f"half{clips}", clips), work / f"half-out{clips}"
    whole = submit_run(archive, work / f"whole-out{clips}", "--job-id", "W").wall
    driver = subprocess.Popen(submit_command(archive, out, "--job-id", "H"), start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    began = time.perf_counter()
    while sum(1 for _ in out.glob("metrics/date=*/job_id=H/[!.]*.parquet")) < clips // 2:
        if driver.poll() is not None:
            raise RuntimeError("the job ended before half its clips were done")
        time.sleep(0.2)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    killed_at = time.perf_counter() - began
    again = submit_run(archive, out, "--job-id", "H").wall
    done = summary(out, "H")
    report(f"job of {clips:,} tiny clips killed half way, then run again, local",
           f"killed after {killed_at:.0f} s; rerun {again:.0f} s kept {done['kept']:,} and did "
           f"{done['clips'] - done['kept']:,} ({done['ok']:,} ok, {done['failed']} failed); "
           f"uninterrupted job {whole:.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=2_000, help="clips of the rerun benchmark (issue 22: 2,000)")
    ap.add_argument("--s3-clips", type=int, default=200, help="clips of the moto S3 request count (0: skip)")
    ap.add_argument("--half-clips", type=int, default=200, help="clips of the half-way kill (0: skip)")
    ap.add_argument("--decision", nargs=3, metavar=("ARCHIVE", "OUT", "JOB"),
                    help="only time the rerun's decision for a finished job (e.g. one this script seeded)")
    ap.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    args = ap.parse_args()
    measured: list[tuple[str, str]] = []
    report = reporter(measured, lambda: update_benchmarks(Path(args.output), measured, SECTION, NOTES))  # row by row
    if args.decision:
        decision(*args.decision, report)
        return
    work = Path(tempfile.mkdtemp(prefix="temcoco-resume-"))
    try:
        if args.clips:
            rerun(work, args.clips, report)
        if args.half_clips:
            half_way(work, args.half_clips, report)
        if args.s3_clips:
            s3_requests(args.s3_clips, work, report)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(dict(measured), indent=1))


if __name__ == "__main__":
    main()
