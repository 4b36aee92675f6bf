"""Resume means resume (issue 22): a rerun of a job id keeps every clip the job finished (its row
untouched, nothing redone) and does only what is left; `--redo` does it all again; `--incremental`
never turns the job's own rows into skipped ones; an unchanged archive is known from its listing."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from tests.support.archives import good_archive, write_folder, write_mp4
from temcoco.clip_result import Status
from temcoco.demo import synthetic_clip
from temcoco.storage.jobs import JobSummary
from temcoco.storage.results import query

CLIPS = ("clip0", "clip1", "clip 2 vidéo")  # clip0: frame folders (identity known only to the actor); others mp4


def rows(out, job_id: str) -> dict[str, dict]:
    """Every column of every row of ``job_id``, by clip id."""
    return {r["clip_id"]: r for r in query(str(out), f"SELECT * FROM metrics WHERE job_id = '{job_id}'").to_pylist()}


def run(archive, out, job_id: str, **options) -> JobSummary:
    from temcoco.flows.fuse_archive import fuse_archive
    from temcoco.flows.progress import reset
    from temcoco.job import JobConfig

    reset()
    return fuse_archive(JobConfig(str(archive), str(out), job_id=job_id, method="average", workers=2, chunk=4,
                                  **options))


def results_written(out: Path) -> dict[Path, int]:
    """Modification times of every video, fused frame, state and report preview under ``out`` (the report
    page itself is rendered again: it shows the summary of the run)."""
    return {p: p.stat().st_mtime_ns for where in ("fused", "frames", "state", "reports")
            for p in (out / where).rglob("*") if p.is_file() and p.suffix != ".html"}


@pytest.fixture
def finished(tmp_path, ray_cluster, prefect_harness):
    archive = good_archive(tmp_path / "archive", clips=3, frames=9)
    out = tmp_path / "out"
    summary = run(archive, out, "J1")
    assert (summary.ok, summary.kept) == (3, 0)
    return archive, out, rows(out, "J1")


@pytest.mark.parametrize("incremental", [False, True])
def test_a_finished_job_rerun_keeps_every_row_and_fuses_nothing(finished, incremental):
    from temcoco.flows.progress import current

    archive, out, before = finished
    written = results_written(out)
    summary = run(archive, out, "J1", incremental=incremental)
    assert (summary.ok, summary.skipped, summary.failed, summary.kept) == (3, 0, 0, 3)
    assert rows(out, "J1") == before  # status, metrics, timings, video, finished_at: as they were
    assert current().chunks_total == current().frames_fused == 0
    assert results_written(out) == written  # no video, frame, state or preview written again
    calls = {stage: n for node in summary.work_by_node.values() for stage, n in node.items()}
    assert calls == {"start": 1}  # only the frame-folder clip: its identity is listed by the actor
    saved = json.loads((out / "jobs" / "J1.json").read_text())
    assert (saved["status"], saved["clips"], saved["ok"], saved["kept"]) == ("finished", 3, 3, 3)
    assert "kept 3 already done" in (out / "reports" / "J1.html").read_text()


def test_redo_does_every_clip_again(finished):
    archive, out, before = finished
    summary = run(archive, out, "J1", redo=True)
    assert (summary.ok, summary.kept) == (3, 0)
    after = rows(out, "J1")
    for clip in CLIPS:
        assert after[clip]["finished_at"] > before[clip]["finished_at"], clip
        assert after[clip]["SSIM"] == before[clip]["SSIM"] and after[clip]["status"] == "ok"


def test_clips_whose_inputs_changed_are_redone_and_the_rest_kept(finished):
    archive, out, before = finished
    ir, vi = synthetic_clip(9, 48, 64, seed=7)
    write_mp4(archive / "vi" / "clip1.mp4", vi)  # a video in vi/: the listing shows it
    write_folder(archive / "vi" / "clip0", vi)  # a frame folder: the actor lists it
    summary = run(archive, out, "J1", incremental=True)
    assert (summary.ok, summary.kept) == (3, 1)
    after = rows(out, "J1")
    assert after["clip 2 vidéo"] == before["clip 2 vidéo"]
    for clip in ("clip0", "clip1"):
        assert after[clip]["fingerprint"] != before[clip]["fingerprint"], clip
        assert after[clip]["finished_at"] > before[clip]["finished_at"] and after[clip]["status"] == "ok"
        assert after[clip]["SSIM"] != before[clip]["SSIM"]


def test_incremental_still_skips_what_an_earlier_job_made(finished):
    archive, out, before = finished
    summary = run(archive, out, "J2", incremental=True)
    assert (summary.ok, summary.skipped, summary.kept) == (0, 3, 0)
    assert all(r["note"] == "unchanged since job J1" for r in rows(out, "J2").values())
    assert rows(out, "J1") == before


def test_an_unchanged_archive_is_skipped_from_its_listing_without_reading_video(finished, monkeypatch):
    """The actor-side stage, run here with every byte read through fsspec counted: none is read. And a
    same-size rewrite that keeps the mtime is invisible to the listing (as to rsync), not to --verify-content."""
    import fsspec

    from temcoco.job import JobConfig
    from temcoco.model.registry import load_method
    from temcoco.storage.archive import discover
    from temcoco.storage.layout import ClipLayout
    from temcoco.workers.clip import ClipRun, Done, start
    from temcoco.workers.ingest import Limits

    archive, out, _ = finished
    read = count_bytes_read(monkeypatch, fsspec.spec.AbstractFileSystem, str(archive))
    method = load_method("average")
    for verify in (False, True):
        job = JobConfig(str(archive), str(out), job_id=f"J-{verify}", method="average", chunk=4, incremental=True,
                        verify_content=verify)
        with discover(str(archive)) as clips:
            for source in clips:
                run = ClipRun(source, ClipLayout(str(out), source.clip_id, job.job_id, method.version), "2026-01-01", 0)
                outcome = start(run, job, method, Limits())
                if not verify:
                    assert isinstance(outcome, Done) and outcome.result.status is Status.SKIPPED
        if not verify:
            assert read == [], read
    assert sum(n for _, n in read) >= sum(p.stat().st_size for p in archive.rglob("*") if p.is_file())


def count_bytes_read(monkeypatch, fs_class, prefix: str) -> list[tuple[str, int]]:
    """Patch ``fs_class.open`` so that every read of a file under ``prefix`` is recorded as (path, bytes)."""
    read: list[tuple[str, int]] = []
    real_open = fs_class.open

    def counting_open(self, path, mode="rb", *args, **kwargs):
        f = real_open(self, path, mode, *args, **kwargs)
        if "r" in mode and str(path).startswith(prefix):
            real_read = f.read

            def read_and_count(*a, **k):
                data = real_read(*a, **k)
                read.append((str(path), len(data)))
                return data

            f.read = read_and_count
        return f

    monkeypatch.setattr(fs_class, "open", counting_open)
    return read


def test_local_incremental_run_over_an_unchanged_archive_decides_from_the_listing(finished):
    """End to end: every source rewritten with other bytes of the same size and its old mtime. A listing
    cannot tell (rsync's rule), so an incremental job skips all without opening one; --verify-content reads them."""
    archive, out, _ = finished
    for path in [p for p in archive.rglob("*") if p.is_file()]:
        stat = path.stat()
        path.write_bytes(bytes(255 - b for b in path.read_bytes()))  # no longer a video or image
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    summary = run(archive, out, "J3", incremental=True)
    assert (summary.skipped, summary.failed) == (3, 0), summary.failures
    summary = run(archive, out, "J4", incremental=True, verify_content=True)
    assert summary.failed == 3  # the bytes were read: none is a video or an image any more


def s3_archive(fs, local: Path, url: str) -> None:
    fs.put(str(local) + "/", url.removeprefix("s3://") + "/", recursive=True)


def test_on_s3_a_rerun_keeps_rows_redoes_changed_clips_and_an_unchanged_night_reads_no_video(
        tmp_path, moto_server, ray_cluster, prefect_harness):
    import s3fs

    server, _ = moto_server
    fs = s3fs.S3FileSystem(use_listings_cache=False)
    fs.mkdir("resume-bucket")
    archive, out = "s3://resume-bucket/archive", "s3://resume-bucket/out"
    s3_archive(fs, good_archive(tmp_path / "archive", clips=3, frames=9), archive)
    assert run(archive, out, "S1").ok == 3
    before = rows(out, "S1")

    log = server.log
    log.requests.clear()
    summary = run(archive, out, "S2", incremental=True)  # an unchanged night
    assert (summary.skipped, summary.failed) == (3, 0)
    assert log.object_reads("/resume-bucket/archive/") == [], "video was read"

    summary = run(archive, out, "S1")
    assert (summary.ok, summary.kept) == (3, 3) and rows(out, "S1") == before

    ir, vi = synthetic_clip(9, 48, 64, seed=7)
    write_mp4(tmp_path / "new.mp4", vi)
    fs.put_file(str(tmp_path / "new.mp4"), "resume-bucket/archive/vi/clip1.mp4")
    summary = run(archive, out, "S1", incremental=True)
    after = rows(out, "S1")
    assert (summary.ok, summary.kept) == (3, 2)
    assert after["clip1"]["fingerprint"] != before["clip1"]["fingerprint"] and after["clip1"]["status"] == "ok"
    assert {c: after[c] for c in CLIPS if c != "clip1"} == {c: before[c] for c in CLIPS if c != "clip1"}
    assert np.isfinite(after["clip1"]["SSIM"])


@pytest.mark.parametrize("where", ["local", "s3"])
def test_discovery_lists_the_identity_an_actor_would_list(where, tmp_path, s3_server):
    """A video's identity from discovery's listing equals the one ``fingerprint`` lists for the clip
    itself (HEAD or stat), and differs from the content fingerprint."""
    import s3fs

    from temcoco.storage.archive import discover
    from temcoco.storage.identity import fingerprint

    local = good_archive(tmp_path / "archive", clips=3, frames=4)
    archive = str(local)
    if where == "s3":
        fs = s3fs.S3FileSystem(use_listings_cache=False)
        fs.mkdir("identity-bucket")
        s3_archive(fs, local, archive := "s3://identity-bucket/archive")
    with discover(archive) as clips:
        sources = {c.clip_id: c for c in clips}
    assert sources["clip0"].identity is None  # a frame folder: its files are not in discovery's listing
    for clip in ("clip1", "clip 2 vidéo"):
        source = sources[clip]
        assert source.identity and source.identity == fingerprint(source) != fingerprint(source, verify_content=True)
