"""Exactly-once results: killed workers, killed drivers, concurrent jobs."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from tests.support.archives import good_archive, outputs
from temcoco.storage.frames import open_frames
from temcoco.storage.results import query
from tests.support.media import read_video

CLIPS = ("clip0", "clip1", "clip 2 vidéo")


def fusion_workers() -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info["cmdline"] or []
        if cmd and cmd[0].startswith("ray::FusionWorker"):
            found.append(p)
    return found


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    return good_archive(tmp_path_factory.mktemp("faults") / "archive", clips=3, frames=30, size=(96, 128))


@pytest.fixture(scope="module")
def reference(archive, tmp_path_factory, ray_cluster, prefect_harness):
    """An undisturbed run: fused frames per clip."""
    from temcoco.flows.fuse_archive import fuse_archive
    from temcoco.job import JobConfig

    out = tmp_path_factory.mktemp("reference")
    summary = fuse_archive(JobConfig(str(archive), str(out), job_id="ref", method="laplacian", workers=2, chunk=2))
    assert summary.ok == len(CLIPS)
    return {c: read_video(str(outputs(out, c, "laplacian-1")[0])) for c in CLIPS}


def assert_same_results(out: Path, reference: dict, job_id: str) -> None:
    for clip, frames in reference.items():
        assert np.array_equal(read_video(str(outputs(out, clip, "laplacian-1")[0])), frames), clip
    rows = query(str(out), f"SELECT clip_id, status FROM metrics WHERE job_id = '{job_id}'").to_pylist()
    assert sorted(r["clip_id"] for r in rows) == sorted(CLIPS)  # exactly one row per clip
    assert all(r["status"] == "ok" for r in rows)


def test_killed_worker_process_loses_nothing(archive, reference, tmp_path):
    from temcoco.flows.fuse_archive import fuse_archive
    from temcoco.job import JobConfig
    from temcoco.flows.progress import reset

    progress = reset()
    killed = []

    def killer() -> None:
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            if progress.chunks_done >= 6 and (workers := fusion_workers()):
                workers[0].send_signal(signal.SIGKILL)
                killed.append(workers[0].pid)
            time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    summary = fuse_archive(JobConfig(str(archive), str(tmp_path), job_id="killed", method="laplacian", workers=2, chunk=2))
    thread.join()
    assert killed, "no worker was killed: the job ended too fast to test anything"
    assert summary.ok == len(CLIPS) and summary.failed == 0
    assert_same_results(tmp_path, reference, "killed")


def submit_command(archive: Path, out: Path, job_id: str) -> list[str]:
    return [sys.executable, "-m", "temcoco.cli", "submit", str(archive), "--out", str(out), "--job-id", job_id,
            "--method", "laplacian", "--chunk", "2", "--quiet"]


def kill_job_once(cmd: list[str], ready, timeout: float) -> None:
    """Run ``cmd``; once ``ready()`` (polled), SIGKILL its process group: the driver and the local Ray it started."""
    driver = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while time.time() < deadline and not ready():
        assert driver.poll() is None, "the job ended before it could be interrupted"
        time.sleep(0.05)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()


def test_killed_driver_resumes_from_committed_chunks(archive, reference, tmp_path):
    cmd = submit_command(archive, tmp_path, "resumed")
    kill_job_once(cmd, lambda: len(list(tmp_path.glob("frames/*/*.commits/*"))) >= 8, 180)
    committed = {p: p.stat().st_mtime_ns for p in tmp_path.glob("frames/*/*.commits/*")}
    assert committed, "nothing was committed before the kill"
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert all(p.stat().st_mtime_ns == t for p, t in committed.items()), "committed chunks were recomputed"
    assert_same_results(tmp_path, reference, "resumed")


def test_driver_killed_half_way_then_rerun_does_only_the_clips_left(archive, reference, tmp_path):
    cmd = submit_command(archive, tmp_path, "half")
    kill_job_once(cmd, lambda: bool(list(tmp_path.glob("metrics/date=*/job_id=half/[!.]*.parquet"))), 300)
    time.sleep(3)  # a Ray worker outside the process group dies when it sees its raylet gone, maybe after one more row
    finished = finished_rows(tmp_path, "half")
    assert 1 <= len(finished) < len(CLIPS), finished.keys()
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert f"kept {len(finished)} already done" in rerun.stdout
    assert_same_results(tmp_path, reference, "half")
    after = finished_rows(tmp_path, "half")
    assert {c: after[c] for c in finished} == finished and all(np.isfinite(r["SSIM"]) for r in after.values())


def test_driver_killed_at_random_points_then_rerun_gives_identical_frames(archive, reference, tmp_path):
    """SIGKILL the whole job (driver and its local Ray) at random moments, twice, then let it finish."""
    import random

    cmd = submit_command(archive, tmp_path, "random")
    rng = random.Random(int(os.environ.get("TEMCOCO_TEST_SEED", "11")))
    for _ in range(2):
        driver = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            driver.wait(timeout=rng.uniform(8.0, 30.0))
        except subprocess.TimeoutExpired:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()
    finished = settled_rows(tmp_path, "random")
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert_same_results(tmp_path, reference, "random")
    after = finished_rows(tmp_path, "random")
    assert {c: after[c] for c in finished} == finished  # every row finished before the rerun: unchanged
    summary = json.loads((tmp_path / "jobs" / "random.json").read_text())
    assert summary["kept"] == len(finished) and summary["ok"] == len(CLIPS)  # the rerun did only the clips left
    assert (f"kept {len(finished)} already done" in rerun.stdout) == bool(finished)


def settled_rows(out: Path, job_id: str) -> dict[str, dict]:
    """The job's ok rows once no more arrive: a Ray worker outside the killed process group dies when it
    sees its raylet gone, maybe after one more row."""
    rows = finished_rows(out, job_id)
    for _ in range(10):
        time.sleep(2)
        again = finished_rows(out, job_id)
        if again.keys() == rows.keys():
            return again
        rows = again
    return rows


def finished_rows(out: Path, job_id: str) -> dict[str, dict]:
    """Every column of the job's ok rows, by clip id ({} before the job wrote any)."""
    if not (out / "metrics").exists():
        return {}
    sql = f"SELECT * FROM metrics WHERE job_id = '{job_id}' AND status = 'ok'"
    return {r["clip_id"]: r for r in query(str(out), sql).to_pylist()}


def test_two_jobs_on_one_output_do_not_corrupt_each_other(archive, reference, tmp_path):
    cmd = lambda job: [sys.executable, "-m", "temcoco.cli", "submit", str(archive), "--out", str(tmp_path),  # noqa: E731
                       "--job-id", job, "--method", "laplacian", "--chunk", "2", "--quiet"]
    a, b = subprocess.Popen(cmd("a"), stderr=subprocess.PIPE), subprocess.Popen(cmd("b"), stderr=subprocess.PIPE)
    assert a.wait(timeout=600) == 0, a.stderr.read()
    assert b.wait(timeout=600) == 0, b.stderr.read()
    for job in ("a", "b"):
        assert_same_results(tmp_path, reference, job)
    for clip in CLIPS:
        assert open_frames(str(outputs(tmp_path, clip, "laplacian-1")[1])).shape[0] == 30
