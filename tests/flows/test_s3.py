"""The whole submit flow against a real S3-API server (moto's) on loopback."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.support.archives import add_bad_clips, good_archive


@pytest.fixture(scope="module")
def s3_job(tmp_path_factory, s3_server, ray_cluster, prefect_harness):
    import s3fs

    from temcoco.flows.fuse_archive import fuse_archive
    from temcoco.job import JobConfig

    fs = s3fs.S3FileSystem(use_listings_cache=False)
    fs.mkdir("archive-bucket")
    local = good_archive(tmp_path_factory.mktemp("s3") / "archive", clips=2, frames=9)
    bad = add_bad_clips(local)
    fs.put(str(local) + "/", "archive-bucket/a/", recursive=True)
    summary = fuse_archive(JobConfig("s3://archive-bucket/a", "s3://archive-bucket/out", job_id="s3job", method="average",
                           workers=2, chunk=4))
    return fs, summary, bad


def test_submit_reads_and_writes_s3(s3_job):
    fs, summary, bad = s3_job
    assert (summary.ok, summary.failed) == (2, len(bad))
    assert fs.exists("archive-bucket/out/fused/average-1/clip0.mp4")
    assert fs.exists("archive-bucket/out/fused/average-1/clip%201%20vid%C3%A9o.mp4")
    assert json.loads(fs.cat("archive-bucket/out/jobs/s3job.json"))["status"] == "finished"
    assert not fs.exists("archive-bucket/out/staging/s3job/clip0.zarr")  # staged inputs are dropped when done
    assert "clip 1 vidéo" in fs.cat("archive-bucket/out/reports/s3job.html").decode()  # the report, streamed up


@pytest.mark.parametrize("where", ["local", "s3"])
def test_a_file_written_piece_by_piece_appears_whole_or_not_at_all(where, s3_server, tmp_path):
    import fsspec

    from temcoco.storage.fs import filesystem, open_atomic

    if where == "s3":
        fsspec.filesystem("s3", use_listings_cache=False).mkdir("atomic-bucket")
    url = f"{tmp_path}/r/page.html" if where == "local" else "s3://atomic-bucket/r/page.html"
    fs, path = filesystem(url)
    with open_atomic(url) as f:
        f.write(b"<p>one</p>")
        assert not fs.exists(path)  # nothing visible while it is written
        f.write(b"<p>two</p>")
    assert fs.cat_file(path) == b"<p>one</p><p>two</p>"
    with pytest.raises(RuntimeError), open_atomic(url) as f:
        f.write(b"half")
        raise RuntimeError("the writer failed")
    assert fs.cat_file(path) == b"<p>one</p><p>two</p>"  # the old content stays, no temp file is left
    assert [p.rsplit("/", 1)[1] for p in fs.ls(path.rsplit("/", 1)[0], detail=False)] == ["page.html"]


def test_a_json_file_is_read_in_one_request(moto_server):
    """Previews, states and summaries are read a clip at a time: one GET each, no HEAD before it."""
    import s3fs

    from temcoco.storage.fs import read_json, write_json

    server, _ = moto_server
    s3fs.S3FileSystem(use_listings_cache=False).mkdir("json-bucket")
    write_json("s3://json-bucket/a.json", {"clip": "a"})
    server.log.requests.clear()
    assert read_json("s3://json-bucket/a.json") == {"clip": "a"} and read_json("s3://json-bucket/none.json") is None
    assert [method for method, path, _ in server.log.requests] == ["GET", "GET"]


def test_metrics_cli_queries_s3(s3_job):
    env = {**os.environ}
    p = subprocess.run([sys.executable, "-m", "temcoco.cli", "metrics", "s3://archive-bucket/out", "--format", "json",
                        "--sql", "SELECT clip_id, status, frames, EN FROM metrics ORDER BY clip_id"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    rows = {r["clip_id"]: r for r in json.loads(p.stdout)}
    assert rows["clip0"]["status"] == "ok" and rows["clip0"]["frames"] == 9 and np.isfinite(rows["clip0"]["EN"])
    assert rows["orphan"]["status"] == "failed"


def test_secrets_are_never_printed(s3_job):
    p = subprocess.run([sys.executable, "-m", "temcoco.cli", "metrics", "s3://no-such-bucket/out"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode != 0
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in p.stdout + p.stderr


def test_unreachable_object_store_is_a_clear_error_after_retries(tmp_path):
    env = {**os.environ, "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "a",
           "AWS_SECRET_ACCESS_KEY": "do-not-print-me", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_MAX_ATTEMPTS": "1"}  # botocore's own retries off: temcoco's backoff is what is tested
    p = subprocess.run([sys.executable, "-m", "temcoco.cli", "submit", "s3://bucket/archive", "--out", "s3://bucket/out",
                        "--method", "average"], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 2
    assert "unreachable after 3 attempts" in p.stderr and "Traceback" not in p.stderr
    assert "do-not-print-me" not in p.stdout + p.stderr


def test_jobs_cli_lists_the_s3_job_and_prints_its_summary(s3_job):
    _, summary, bad = s3_job
    run = lambda *args: subprocess.run([sys.executable, "-m", "temcoco.cli", "jobs", "s3://archive-bucket/out", *args],  # noqa: E731
                                       capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "120"})
    listed = run()
    assert listed.returncode == 0, listed.stderr
    [line] = [line for line in listed.stdout.splitlines() if line.startswith("s3job ")]
    assert line.split()[-6:] == [str(2 + len(bad)), "2", str(len(bad)), "0", "exit", "3"]
    assert line.split()[1] == summary.started[:10], "the run's start time, from its summary"
    printed = run("--job", "s3job").stdout
    assert printed.startswith(f"job s3job: 2 ok, {len(bad)} failed") and "  failed orphan: " in printed
