"""The archive-fusion flow end to end: real Prefect (test harness), real local Ray, real files."""

import json

import numpy as np
import pytest

from tests.support.archives import add_bad_clips, good_archive, outputs
from temcoco.storage.frames import open_frames
from temcoco.storage.results import query
from tests.support.media import read_video


@pytest.fixture(scope="module")
def job(tmp_path_factory, ray_cluster, prefect_harness):
    from temcoco.flows.fuse_archive import fuse_archive
    from temcoco.job import JobConfig

    root = tmp_path_factory.mktemp("flow")
    archive = good_archive(root / "archive", clips=2, frames=12)
    bad = add_bad_clips(archive)
    out = root / "out"
    summary = fuse_archive(JobConfig(str(archive), str(out), job_id="j1", method="laplacian", workers=2, chunk=5))
    return archive, out, summary, bad


def test_summary_counts_and_job_file(job):
    _, out, summary, bad = job
    assert (summary.ok, summary.failed, summary.skipped) == (2, len(bad), 0)
    saved = json.loads((out / "jobs" / "j1.json").read_text())
    assert saved["status"] == "finished" and saved["ok"] == 2 and set(saved["failures"]) == set(bad)


def test_good_clips_have_video_zarr_and_metrics(job):
    _, out, _, _ = job
    rows = {r["clip_id"]: r for r in query(str(out), "SELECT * FROM metrics WHERE job_id = 'j1'").to_pylist()}
    for clip in ("clip0", "clip 1 vidéo"):
        r = rows[clip]
        assert r["status"] == "ok" and r["frames"] == 12 and (r["height"], r["width"]) == (48, 64)
        assert r["method"] == "laplacian" and r["model_version"] == "laplacian-1"
        assert all(r[k] is not None and np.isfinite(r[k]) for k in ("EN", "SD", "SF", "AG", "SSIM"))
        assert (r["metrics_policy"], r["metric_stride"]) == ("sampled", 8)  # the default policy: frames 0 and 8
        assert 0 < r["metrics_seconds"] <= r["seconds"]
        video_path, zarr_path = outputs(out, clip, "laplacian-1")
        assert r["video"] == str(video_path)
        video = read_video(str(video_path))
        zarr_frames = open_frames(str(zarr_path))
        assert video.shape == zarr_frames.shape == (12, 48, 64, 3)
        assert np.abs(video.astype(int) - zarr_frames[:].astype(int)).mean() < 6  # H.264 4:2:0 of the same frames


def test_bad_clips_are_failed_rows_with_reasons(job):
    _, out, _, bad = job
    rows = {r["clip_id"]: r for r in query(str(out), "SELECT clip_id, status, error FROM metrics").to_pylist()}
    for clip, word in bad.items():
        assert rows[clip]["status"] == "failed" and word in rows[clip]["error"].lower(), rows[clip]
        assert "\n" not in rows[clip]["error"] and "ray::" not in rows[clip]["error"], rows[clip]


def test_zarr_chunks_equal_the_fusion_chunk(job):
    _, out, _, _ = job
    assert open_frames(str(outputs(out, "clip0", "laplacian-1")[1])).chunks[0] == 5


def test_incremental_rerun_skips_unchanged_clips(job):
    from temcoco.flows.fuse_archive import fuse_archive
    from temcoco.job import JobConfig

    archive, out, _, bad = job
    summary = fuse_archive(JobConfig(str(archive), str(out), job_id="j2", method="laplacian", workers=1, chunk=5,
                           incremental=True))
    assert (summary.ok, summary.skipped, summary.failed) == (0, 2, len(bad))
    rows = query(str(out), "SELECT status, note FROM metrics WHERE job_id = 'j2' AND status = 'skipped'").to_pylist()
    assert all("unchanged since job j1" in r["note"] for r in rows)


def test_the_job_compacts_its_rows_when_it_ends(job):
    _, out, _, bad = job
    manifest = json.loads((out / "metrics" / "_compacted.json").read_text())
    assert "j1" in {j for part in manifest["parts"] for _, j in part["jobs"]}
    assert not [p for p in (out / "metrics").glob("date=*/job_id=j1/*.parquet") if not p.name.startswith(".")]
    assert query(str(out), "SELECT count(*) AS n FROM metrics WHERE job_id = 'j1'").to_pylist() == [{"n": 2 + len(bad)}]


def test_the_driver_waits_on_its_workers_without_a_thread_per_call(job, tmp_path):
    """One loop waits on every worker (ray.wait): the driver's threads do not grow with workers or clips
    in flight (before: a task runner thread per batch, a thread per clip in flight, one per worker)."""
    import threading

    from temcoco.flows.fuse_archive import fuse_archive
    from temcoco.job import JobConfig

    archive, _, _, _ = job
    before, stop = {t.ident for t in threading.enumerate()}, threading.Event()
    peak: list[str] = []  # the names of the most threads the job had started at one time

    def sample() -> None:
        while not stop.wait(0.01):
            started = [t.name for t in threading.enumerate() if t.ident not in before and t is not sampler]
            peak[:] = max(peak, started, key=len)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    summary = fuse_archive(JobConfig(str(archive), str(tmp_path / "out"), job_id="threads", method="laplacian",
                                     workers=2, chunk=3))
    stop.set()
    sampler.join()
    assert summary.ok == 2
    assert len(peak) <= 3, f"threads the driver started during the job: {peak}"
