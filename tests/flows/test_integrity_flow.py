"""Integrity end to end (real Prefect, real Ray): hostile clip names on local disk and S3, two
methods at once on one OUT, bounded staging, gc, incremental state per variant and pipeline."""

import json
import os
import threading

import numpy as np

from tests.support.archives import outputs, write_mp4
from temcoco.demo import synthetic_clip
from temcoco.job import JobConfig
from temcoco.model.registry import load_method
from temcoco.storage.frames import open_frames
from temcoco.storage.results import query

# Every kind of legal file name the issue lists: spaces, non-ASCII, '::', '[ ]', '*', '?', '%', '#', a leading '-'
NAMES = ["cam 1", "clip vidéo", "cam::1", "cam[1]", "*", "?", "cam%41", "#tag", "-lead", "[bold]x",
         "cam[/]x".replace("/", "_"), "a~b", "日本語 ナイト", "cam?[*]", "100%", "cam*", "a b [c] (d)", "x:y", "a#b%c",
         "ü  spaced  ü"]


def hostile_archive(root, frames=3) -> dict[str, np.ndarray]:
    """ir/<name>.mp4 + vi/<name>.mp4 for every name; returns name -> (IR, VI) frames."""
    made = {}
    for i, name in enumerate(NAMES):
        ir, vi = synthetic_clip(frames, 48, 64, seed=i)
        write_mp4(root / "ir" / f"{name}.mp4", ir)
        write_mp4(root / "vi" / f"{name}.mp4", vi)
        made[name] = (ir, vi)
    return made


def check_rows(out: str, job_id: str, frames: int) -> list[dict]:
    rows = query(out, f"SELECT clip_id, status, error, frames, video FROM metrics WHERE job_id = '{job_id}'").to_pylist()
    assert sorted(r["clip_id"] for r in rows) == sorted(NAMES)
    bad = [r for r in rows if r["status"] != "ok" or r["frames"] != frames]
    assert not bad, bad
    assert len({r["video"] for r in rows}) == len(NAMES)
    return rows


def test_hostile_names_complete_with_the_right_rows_locally(tmp_path, ray_cluster, prefect_harness):
    from temcoco.flows.fuse_archive import fuse_archive

    hostile_archive(tmp_path / "archive")
    out = tmp_path / "out"
    summary = fuse_archive(JobConfig(str(tmp_path / "archive"), str(out), job_id="names", method="average",
                                     workers=2, chunk=2))
    assert (summary.ok, summary.failed) == (len(NAMES), 0), summary.failures
    for row in check_rows(str(out), "names", 3):
        assert os.path.isfile(row["video"]) and row["video"].startswith(str(out / "fused" / "average-1") + "/")
    assert not (out / "staging" / "names").exists()


def test_hostile_names_complete_with_the_right_rows_on_s3(tmp_path, s3_server, ray_cluster, prefect_harness):
    import s3fs

    from temcoco.flows.fuse_archive import fuse_archive

    fs = s3fs.S3FileSystem(use_listings_cache=False)
    fs.mkdir("names-bucket")
    hostile_archive(tmp_path / "archive")
    for side in ("ir", "vi"):
        for f in (tmp_path / "archive" / side).iterdir():
            fs.put_file(str(f), f"names-bucket/a/{side}/{f.name}")
    summary = fuse_archive(JobConfig("s3://names-bucket/a", "s3://names-bucket/out", job_id="names", method="max",
                                     workers=2, chunk=2))
    assert (summary.ok, summary.failed) == (len(NAMES), 0), summary.failures
    for row in check_rows("s3://names-bucket/out", "names", 3):
        assert fs.exists(row["video"]) and row["video"].startswith("s3://names-bucket/out/fused/max-1/")
    assert not fs.exists("names-bucket/out/staging/names")


def test_two_methods_at_once_on_one_output(tmp_path, ray_cluster, prefect_harness):
    """Two flows with different methods run at the same time on one OUT: every frame of both
    variants equals its one-pass fusion, and each row names its own video."""
    from temcoco.flows.fuse_archive import fuse_archive

    archive = tmp_path / "archive"
    sources = {}
    for i, name in enumerate(("yard_a", "yard b")):
        ir, vi = synthetic_clip(9, 32, 48, seed=10 + i)
        write_mp4(archive / "ir" / f"{name}.mp4", ir)
        write_mp4(archive / "vi" / f"{name}.mp4", vi)
        sources[name] = (str(archive / "ir" / f"{name}.mp4"), str(archive / "vi" / f"{name}.mp4"))
    out = tmp_path / "out"
    summaries, errors = {}, []

    def run(job_id, method):
        try:
            summaries[method] = fuse_archive(JobConfig(str(archive), str(out), job_id=job_id, method=method, chunk=2))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=run, args=("avg", "average")), threading.Thread(target=run, args=("mx", "max"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and all(s.ok == 2 for s in summaries.values()), (errors, summaries)
    from temcoco.overlap import fuse_window, stream_windows
    from temcoco.storage.pairing import iter_pairs

    for method, job_id in (("average", "avg"), ("max", "mx")):
        fusion = load_method(method)
        rows = {r["clip_id"]: r for r in query(str(out), f"SELECT * FROM metrics WHERE job_id = '{job_id}'").to_pylist()}
        for name, (ir, vi) in sources.items():
            expected = np.concatenate([fuse_window(fusion, s, *w) for s, w in stream_windows(iter_pairs(ir, vi), 100, 0)])
            video, frames = outputs(out, name, fusion.version)
            assert np.array_equal(open_frames(str(frames))[:], expected), (method, name)
            assert rows[name]["video"] == str(video) and video.is_file()


def test_failed_clips_leave_no_staging_unless_asked_and_gc_frees_the_rest(tmp_path, ray_cluster, prefect_harness):
    from temcoco.flows.fuse_archive import fuse_archive
    from temcoco.storage.gc import collect

    archive = tmp_path / "archive"
    ir, vi = synthetic_clip(12, 32, 48)
    write_mp4(archive / "ir" / "good.mp4", ir)
    write_mp4(archive / "vi" / "good.mp4", vi)
    write_mp4(archive / "ir" / "bad.mp4", ir)
    write_mp4(archive / "vi" / "bad.mp4", vi)
    data = (archive / "vi" / "bad.mp4").read_bytes()
    (archive / "vi" / "bad.mp4").write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    for job_id, keep in (("drop", False), ("keep", True)):
        summary = fuse_archive(JobConfig(str(archive), str(out), job_id=job_id, method="average", chunk=4,
                                         keep_staging=keep, workers=2))  # good, the last clip, is staged
        assert summary.failed == 1
    assert not (out / "staging" / "drop").exists()
    assert (out / "staging" / "keep").exists()
    (out / "state" / "average-1" / ".tmp-dead-good.json").write_text("{")  # left by a killed writer
    done = collect(str(out))
    assert not (out / "staging" / "keep").exists() and not (out / "state" / "average-1" / ".tmp-dead-good.json").exists()
    assert done.freed > 0 and len(done.removed) == 2


def test_incremental_state_follows_variant_and_pipeline_version(tmp_path, ray_cluster, prefect_harness):
    from temcoco.flows.fuse_archive import fuse_archive

    archive = tmp_path / "archive"
    ir, vi = synthetic_clip(4, 48, 64)
    write_mp4(archive / "ir" / "c.mp4", ir)
    write_mp4(archive / "vi" / "c.mp4", vi)
    out = tmp_path / "out"
    job = lambda job_id, method: JobConfig(str(archive), str(out), job_id=job_id, method=method, incremental=True)  # noqa: E731
    assert fuse_archive(job("1", "average")).ok == 1
    assert fuse_archive(job("2", "max")).ok == 1  # another variant has its own state
    assert fuse_archive(job("3", "average")).skipped == 1
    state_file = out / "state" / "average-1" / "c.json"
    state = json.loads(state_file.read_text())
    state_file.write_text(json.dumps({**state, "pipeline": "0"}))  # fused by an older pipeline
    assert fuse_archive(job("4", "average")).ok == 1
