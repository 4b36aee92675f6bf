"""The archive path's stages in-process: chunked fusion through zarr equals one-pass fusion."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from tests.support.archives import write_pair
from temcoco.clip_result import Status
from temcoco.metrics.policy import MetricPolicy
from temcoco.model.registry import METHODS, load_method
from temcoco.storage.archive import ClipSource
from temcoco.storage.frames import open_frames
from temcoco.storage.layout import ClipLayout
from temcoco.storage.identity import fingerprint
from temcoco.storage.video import iter_frames, probe
from temcoco.workers.encode_and_measure import encode_and_measure
from temcoco.workers.fuse_chunk import fuse_chunk
from temcoco.workers.fused_array import prepare_output
from temcoco.workers.ingest import Limits, ingest


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    root = write_pair(tmp_path_factory.mktemp("stages"), 9, 30, 44, seed=5)
    return ClipSource("c", str(root / "ir"), str(root / "vi"))


def stage_and_fuse(source: ClipSource, out: str, chunk: int, method):
    """Ingest ``source`` to zarr and fuse every chunk; (layout, ingested)."""
    layout = ClipLayout(out, source.clip_id, "job", method.version)
    ingested = ingest(source, layout, fingerprint(source), chunk)
    for spec in prepare_output(layout, ingested, method.temporal_radius):
        assert fuse_chunk(layout, spec, ingested.fingerprint, method) == spec.stop - spec.start
    assert prepare_output(layout, ingested, method.temporal_radius) == []  # every chunk committed
    return layout, ingested


def fuse_through_zarr(source: ClipSource, out: str, chunk: int, method) -> np.ndarray:
    layout, _ = stage_and_fuse(source, out, chunk, method)
    return open_frames(layout.fused_frames)[:]


def video_frames(url: str) -> np.ndarray:
    """The decoded frames of a fused video: (T, H, W, 3) uint8."""
    return np.stack([frame.image for frame in iter_frames(url, 3)])


@pytest.fixture(scope="module")
def clip_16(tmp_path_factory):
    """9 frames of 32 x 48 (the same frames give the same video, see VideoWriter: two videos compare exactly)."""
    root = write_pair(tmp_path_factory.mktemp("clip16"), 9, 32, 48, seed=5)
    return ClipSource("c", str(root / "ir"), str(root / "vi"))


@pytest.mark.parametrize("method", METHODS)
def test_chunks_through_zarr_equal_one_pass(clip, tmp_path, method):
    fusion = load_method(method, device="cpu")
    one_pass = fuse_through_zarr(clip, str(tmp_path / "a"), 1000, fusion)
    for chunk in (1, 4):
        assert np.array_equal(fuse_through_zarr(clip, str(tmp_path / f"c{chunk}"), chunk, fusion), one_pass)


def test_committed_chunks_are_not_fused_again(clip, tmp_path):
    fusion = load_method("average")
    layout = ClipLayout(str(tmp_path), "c", "job", fusion.version)
    ingested = ingest(clip, layout, fingerprint(clip), 4)
    first = prepare_output(layout, ingested, 0)
    assert fuse_chunk(layout, first[0], ingested.fingerprint, fusion) == 4
    assert fuse_chunk(layout, first[0], ingested.fingerprint, fusion) == 0  # duplicated work item: skipped
    assert [s.start for s in prepare_output(layout, ingested, 0)] == [4, 8]
    # another model version has results of its own
    other = ClipLayout(str(tmp_path), "c", "job", "other-1")
    assert [s.start for s in prepare_output(other, ingested, 0)] == [0, 4, 8]
    # a later job with another chunk size keeps the array's chunking and its committed chunks
    again = ingest(clip, ClipLayout(str(tmp_path), "c", "job2", fusion.version), ingested.fingerprint, 3)
    assert [s.start for s in prepare_output(ClipLayout(str(tmp_path), "c", "job2", fusion.version), again, 0)] == [4, 8]


@pytest.mark.parametrize("verify_content", [False, True])
def test_fingerprint_follows_content(clip, tmp_path, verify_content):
    before = fingerprint(clip, verify_content=verify_content)
    assert fingerprint(clip, verify_content=verify_content) == before
    path = sorted(Path(clip.vi).iterdir())[0]
    data = path.read_bytes()
    try:
        path.write_bytes(data + b"\0")
        assert fingerprint(clip, verify_content=verify_content) != before
    finally:
        path.write_bytes(data)


def test_only_the_content_fingerprint_sees_a_rewrite_that_keeps_size_and_mtime(clip):
    """The listing identity is what rsync compares: a same-size rewrite with the old mtime is invisible to it."""
    path = sorted(Path(clip.vi).iterdir())[0]
    data, stat = path.read_bytes(), path.stat()
    listed, content = fingerprint(clip), fingerprint(clip, verify_content=True)
    try:
        path.write_bytes(bytes(255 - b for b in data))
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert fingerprint(clip) == listed
        assert fingerprint(clip, verify_content=True) != content
    finally:
        path.write_bytes(data)


@pytest.mark.parametrize("chunk", [9, 16, 8])
def test_a_clip_of_one_chunk_is_fused_in_memory_with_the_same_result(clip_16, tmp_path, chunk):
    """9 frames: chunk 9 and 16 keep the clip in memory (nothing staged), chunk 8 stages it; the
    fused frames, video and metrics are those of the staged path."""
    from temcoco.job import JobConfig
    from temcoco.storage.results import SCHEMA, query
    from temcoco.workers.clip import ClipRun, Done, Started, finish, start

    fusion = load_method("average")
    job = JobConfig("archive", str(tmp_path / "out"), job_id="job", method="average", chunk=chunk)
    layout = ClipLayout(job.out, clip_16.clip_id, job.job_id, fusion.version)
    run = ClipRun(clip_16, layout, "2026-11-29", 0.0)
    outcome = start(run, job, fusion, Limits())
    staging = tmp_path / "out" / "staging"
    if chunk >= 9:
        assert isinstance(outcome, Done) and outcome.result.status is Status.OK and outcome.chunks == 1
        assert not staging.exists() or not any(staging.rglob("*.json"))  # nothing was staged
    else:
        assert isinstance(outcome, Started) and len(outcome.todo) == 2
        assert (Path(layout.staged_inputs) / "zarr.json").exists()
        for spec in outcome.todo:
            fuse_chunk(layout, spec, outcome.ingested.fingerprint, fusion)
        assert finish(run, outcome.ingested, job, fusion).result.status is Status.OK
    staged, ingested = stage_and_fuse(clip_16, str(tmp_path / "z"), chunk, fusion)
    measured = encode_and_measure(staged, ingested, policy=job.metrics)
    fused = open_frames(staged.fused_frames)[:]
    assert np.array_equal(open_frames(layout.fused_frames)[:], fused)
    assert np.array_equal(video_frames(layout.fused_video), video_frames(staged.fused_video))
    assert probe(layout.fused_video).fps == probe(staged.fused_video).fps
    row = query(job.out, "SELECT * FROM metrics").to_pylist()[0]
    columns = [k for k in SCHEMA.names if k in measured and k != "metrics_seconds"]
    assert len(columns) > 10 and row["SSIM"] is not None
    assert {k: row[k] for k in columns} == pytest.approx({k: measured[k] for k in columns}, nan_ok=True)


def test_ingest_probes_each_source_once(clip, tmp_path, monkeypatch):
    """Each probe opens a source (on object storage: several requests), so ingest probes each side once."""
    from temcoco.storage import pairing

    probed = []
    real_probe = pairing.probe
    monkeypatch.setattr(pairing, "probe", lambda url, *args: probed.append(url) or real_probe(url, *args))
    layout = ClipLayout(str(tmp_path), "c", "job", "v")
    ingest(clip, layout, fingerprint(clip), 4)
    assert sorted(probed) == sorted([clip.ir, clip.vi])


@pytest.mark.parametrize("policy", [MetricPolicy("off"), MetricPolicy("sampled", 4), MetricPolicy("full")])
def test_rows_record_their_metric_policy(clip, tmp_path, policy):
    """off: the row has status, frames and timings and null metrics; sampled: frames 0, 4, 8 are scored."""
    from temcoco.job import JobConfig
    from temcoco.storage.results import METRIC_COLUMNS, query
    from temcoco.workers.clip import ClipRun, start

    fusion = load_method("average")
    job = JobConfig("archive", str(tmp_path / "out"), job_id="job", method="average", metrics=policy)
    layout = ClipLayout(job.out, clip.clip_id, job.job_id, fusion.version)
    assert start(ClipRun(clip, layout, "2026-11-29", 0.0), job, fusion, Limits()).result.status is Status.OK
    row = query(job.out, "SELECT * FROM metrics").to_pylist()[0]
    assert row["status"] == "ok" and row["frames"] == 9 and row["seconds"] > 0 and row["metrics_seconds"] >= 0
    assert row["metrics_policy"] == policy.mode
    assert row["metric_stride"] == {"off": None, "sampled": 4, "full": 1}[policy.mode]
    if policy.mode == "off":
        assert all(row[name] is None for name in METRIC_COLUMNS) and row["flow_method"] is None
        return
    assert row["SSIM"] is not None and row["flowD"] is not None
    series = json.loads(Path(layout.preview).read_text())["series"]["SSIM"]
    assert len(series["frame"]) == 9  # one bin a frame: unscored frames are null
    scored = [t for t, v in enumerate(series["mean"]) if v is not None]
    assert scored == ([0, 4, 8] if policy.mode == "sampled" else list(range(9)))
    assert row["SSIM"] == pytest.approx(np.mean([series["mean"][t] for t in scored]), rel=1e-5)
