"""`temcoco schedule` for real: a Prefect server on loopback, a deployment firing every minute.

Slow by nature (cron fires at minute boundaries): about 3 to 4 minutes.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import httpx
import pytest

from temcoco.storage.results import query
from tests.support.archives import good_archive

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, check, timeout: float, every: float = 2.0):
    """Poll ``check()`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(args, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    """End ``process`` and what it started (its own session: flow runs, a local Ray)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def prefect_server(tmp_path):
    """A real Prefect server (its own PREFECT_HOME and database); yields the environment that points at it."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "RAY_ADDRESS"))}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), PREFECT_API_URL=f"http://127.0.0.1:{port}/api",
               PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_UI_ENABLED="false",
               PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="5", PREFECT_RUNNER_POLL_FREQUENCY="2")
    server = start([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)], env,
                   tmp_path / "server.log")
    try:
        wait_for("the Prefect server", lambda: _healthy(env["PREFECT_API_URL"]) or server.poll() is not None, 180)
        assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
        yield env
    finally:
        stop(server)


def _healthy(api: str) -> bool:
    try:
        return httpx.get(f"{api}/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def flow_runs(api: str) -> list[dict]:
    """Every flow run the server knows, by expected start time."""
    return httpx.post(f"{api}/flow_runs/filter", json={"sort": "EXPECTED_START_TIME_ASC"}, timeout=30).json()


def completed_runs(api: str) -> list[dict]:
    return [r for r in flow_runs(api) if r["state_type"] == "COMPLETED"]


def done_jobs(out: Path) -> list[dict]:
    """The summaries of finished jobs, oldest first (job ids start with their UTC start time)."""
    summaries = [json.loads(p.read_text()) for p in sorted((out / "jobs").glob("*.json"))]
    return [s for s in summaries if s.get("status") == "finished"]


def statuses(out: Path, job_id: str) -> dict[str, str]:
    rows = query(str(out), f"SELECT clip_id, status FROM metrics WHERE job_id = '{job_id}'").to_pylist()
    return {r["clip_id"]: r["status"] for r in rows}


def test_schedule_fires_fuses_skips_unchanged_and_never_overlaps(tmp_path, prefect_server):
    archive, out = good_archive(tmp_path / "archive", clips=2, frames=6), tmp_path / "out"
    scheduler = start([sys.executable, "-m", "temcoco.cli", "schedule", str(archive), "--out", str(out),
                       "--cron", "* * * * *", "--method", "average", "--workers", "1", "--quiet"],
                      prefect_server, tmp_path / "schedule.log")
    api = prefect_server["PREFECT_API_URL"]
    try:
        first, second = wait_for("two finished nightly jobs", lambda: _running(scheduler, tmp_path) and
                                 len(done_jobs(out)) >= 2 and done_jobs(out)[:2], 330)
        assert statuses(out, first["job_id"]) == {"clip0": "ok", "clip 1 vidéo": "ok"}
        assert statuses(out, second["job_id"]) == {"clip0": "skipped", "clip 1 vidéo": "skipped"}
        changed = archive / "vi" / "clip0" / "0003.png"
        cv2.imwrite(str(changed), 255 - cv2.imread(str(changed)))
        changed_at = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        after = wait_for("a job started after the change", lambda: [j for j in done_jobs(out)
                                                                    if j["job_id"] > changed_at], 200)
        assert statuses(out, after[0]["job_id"]) == {"clip0": "ok", "clip 1 vidéo": "skipped"}
        # a job's summary is written before its compaction and report: wait for the run itself to end
        wait_for("three completed flow runs", lambda: len(completed_runs(api)) >= 3, 180)
    finally:
        stop(scheduler)
    runs = flow_runs(api)
    completed = completed_runs(api)
    assert all(r["deployment_id"] == runs[0]["deployment_id"] for r in runs)
    last_end = max(r["end_time"] for r in completed)
    earlier = [r for r in runs if (r["start_time"] or "9") <= last_end]  # later firings were cut short by the stop
    assert not [r for r in earlier if r["state_type"] in ("FAILED", "CRASHED")], runs
    spans = sorted((r["start_time"], r["end_time"]) for r in completed)
    assert all(later[0] >= earlier[1] for earlier, later in itertools.pairwise(spans)), spans
    deployment = httpx.get(f"{api}/deployments/{runs[0]['deployment_id']}", timeout=30).json()
    assert deployment["global_concurrency_limit"]["limit"] == 1
    assert deployment["concurrency_options"]["collision_strategy"] == "CANCEL_NEW"


def _running(scheduler: subprocess.Popen, tmp_path: Path) -> bool:
    """True while `temcoco schedule` runs; fails the test with its output when it has stopped."""
    if scheduler.poll() is not None:
        pytest.fail("temcoco schedule stopped: " + (tmp_path / "schedule.log").read_text(errors="replace")[-3000:])
    return True
