"""`temcoco jobs`: the jobs under OUT, one line each, and one job's summary as `submit` printed it."""

import datetime as dt
import os
import socket
import subprocess
import sys
import time
import uuid

import pytest
from typer.testing import CliRunner

from temcoco import cli
from temcoco.storage.fs import write_json
from temcoco.storage.jobs import JobSummary, list_jobs, write_failed, write_finished, write_running
from temcoco.storage.layout import job_lease
from tests.support.archives import good_archive

DAY = dt.datetime(2026, 5, 1, 2, 0, tzinfo=dt.timezone.utc)


def started(hours: int) -> str:
    return (DAY + dt.timedelta(hours=hours)).isoformat()


def summary(job_id: str, failed: int, hours: int) -> JobSummary:
    failures = {f"c{i:03d}": "unreadable" for i in range(min(failed, 100))}
    return JobSummary(job_id, "2026-05-01", "average", "average-1", clips=failed + 2, ok=2, failed=failed, skipped=0,
                      seconds=125.0, frames=40, failures=failures, started=started(hours))


def write_jobs(out: str) -> None:
    """A finished job, one with failed clips, a killed one, a running one and one that failed as a whole."""
    write_finished(out, summary("ok-job", 0, 1), "/archive")
    write_finished(out, summary("failing", 150, 2), "/archive")
    write_running(out, "killed", "2026-05-01", started(3), "/archive", 7)
    dead = {"owner": "x", "host": socket.gethostname(), "pid": 2**22 + 7}  # a pid no process has
    write_json(job_lease(out, "killed"), {**dead, "expires": (DAY + dt.timedelta(hours=3, minutes=5)).timestamp() + 60})
    write_running(out, "live", "2026-05-01", started(4), "/archive", 9)
    write_json(job_lease(out, "live"), {"owner": "y", "host": socket.gethostname(), "pid": os.getpid(),
                                        "expires": time.time() + 600})
    write_failed(out, "broken", "2026-05-01", started(0), "/archive", 4, "no worker could start: out of memory")


@pytest.fixture(params=["local", "s3"])
def out(request, tmp_path) -> str:
    if request.param == "local":
        url = str(tmp_path / "out")
    else:
        import s3fs

        request.getfixturevalue("s3_server")
        s3fs.S3FileSystem(use_listings_cache=False).mkdir(bucket := f"jobs-{uuid.uuid4().hex[:12]}")
        url = f"s3://{bucket}/out"
    write_jobs(url)
    return url


def jobs(*args: str) -> str:
    result = CliRunner().invoke(cli.app, ["jobs", *args], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    return result.output


def test_one_line_per_job_newest_first_with_counts_and_exit_status(out):
    lines = jobs(out).splitlines()
    assert lines[0].split() == ["job", "started", "duration", "method", "variant", "clips", "ok", "failed", "skipped",
                                "status"]
    assert [line.split()[0] for line in lines[2:]] == ["live", "killed", "failing", "ok-job", "broken"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    assert rows["ok-job"] == ["2026-05-01", "03:00", "2m05s", "average", "average-1", "2", "2", "0", "0", "exit", "0"]
    assert rows["failing"][-5:] == ["2", "150", "0", "exit", "3"]
    assert rows["killed"] == ["2026-05-01", "05:00", "5m00s", "7", "killed"], "stopped at its lease's last renewal"
    assert rows["live"][-2:] == ["9", "running"]
    assert rows["broken"][-3:] == ["4", "exit", "2"]


def test_a_job_prints_the_summary_submit_printed(out, monkeypatch, tmp_path):
    import temcoco.flows.fuse_archive as flow_module

    job = summary("failing", 150, 2)
    monkeypatch.setattr(flow_module, "fuse_archive", lambda config: job)
    submitted = CliRunner().invoke(cli.app, ["submit", str(tmp_path), "--out", out, "--quiet"])
    assert submitted.exit_code == 3
    printed = jobs(out, "--job", "failing")
    assert printed == submitted.output
    assert printed.count("  failed c") == 100 and "… and 50 more failed clips: temcoco metrics" in printed


def test_a_killed_a_running_and_a_failed_job_say_what_happened(out):
    killed = jobs(out, "--job", "killed")
    assert killed.startswith("job killed: killed (started 2026-05-01 05:00 UTC, stopped after 5m00s, 7 clips)")
    assert f"resume it: temcoco submit /archive --out {out} --job-id killed" in killed
    assert jobs(out, "--job", "live").startswith("job live: running (started 2026-05-01 06:00 UTC")
    assert jobs(out, "--job", "broken").startswith(
        "job broken: failed (started 2026-05-01 02:00 UTC, 4 clips): no worker could start: out of memory")


@pytest.mark.parametrize("where", ["missing", "empty"])
def test_a_missing_or_empty_output_is_a_one_line_error(where, tmp_path):
    if where == "empty":
        (tmp_path / "out" / "jobs").mkdir(parents=True)
    for args in (["jobs", str(tmp_path / "out")], ["jobs", str(tmp_path / "out"), "--job", "x"]):
        p = subprocess.run([sys.executable, "-m", "temcoco.cli", *args], capture_output=True, text=True, timeout=120)
        assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert f"no jobs under {tmp_path / 'out'}" in p.stderr


def test_a_job_that_fails_as_a_whole_records_why(monkeypatch, tmp_path):
    """The flow's own summary: `running` with its start time, then `failed` with the job-level error."""
    import temcoco.flows.fuse_archive as flow_module
    from temcoco.errors import TemcocoError
    from temcoco.job import JobConfig

    def no_workers(job, clips, start):
        assert [j.status for j in list_jobs(job.out)] == ["running"]
        raise TemcocoError("no worker could start")

    monkeypatch.setattr(flow_module, "fuse_clips", no_workers)
    archive = good_archive(tmp_path / "archive", clips=1, frames=3)
    with pytest.raises(TemcocoError):
        flow_module.fuse_archive.fn(JobConfig(str(archive), str(tmp_path / "out"), job_id="whole", method="average"))
    [job] = list_jobs(str(tmp_path / "out"))
    assert (job.status, job.exit_code, job.error, job.clips) == ("failed", 2, "no worker could start", 1)
    assert dt.datetime.now(dt.timezone.utc) - job.started < dt.timedelta(minutes=5)
