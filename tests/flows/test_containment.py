"""A poison clip never stops the night: bounded retries, resource limits, contained failures,
no leaked secrets (DESIGN.md 'Limits and retries', 'Secrets')."""

import io
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import av
import numpy as np
import pytest

from tests.support.archives import outputs, write_mp4
from tests.conftest import SECRET_KEY
from temcoco.demo import synthetic_clip
from temcoco.errors import ClipError
from temcoco.job import JobConfig
from temcoco.model.registry import load_method
from temcoco.storage.frames import open_frames
from temcoco.storage.results import query
from temcoco.storage.video import probe
from temcoco.workers.ingest import Limits


def huge_png(path: Path, width: int = 20000, height: int = 20000) -> None:
    """A valid gray PNG of width x height zeros: a few hundred KB that would decode to gigabytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    z, row, body = zlib.compressobj(9), b"\0" * (width + 1), []
    for _ in range(height):
        body.append(z.compress(row))
    body.append(z.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(body)) + chunk(b"IEND", b""))


def huge_header_video(path: Path) -> None:
    """A 16x16 MPEG-2 video whose sequence header declares 16383x16383 frames."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="matroska") as c:
        s = c.add_stream("mpeg2video", rate=25)
        s.width, s.height, s.pix_fmt = 16, 16, "yuv420p"
        for _ in range(3):
            for p in s.encode(av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    data = bytearray(buf.getvalue())
    i = data.find(b"\x00\x00\x01\xb3")  # sequence header: 12-bit width and height
    data[i + 4 : i + 7] = b"\xff\xff\xff"
    j = data.find(b"\x00\x00\x01\xb5", i)  # sequence extension: 2 more bits each
    data[j + 5] |= 0x01
    data[j + 6] |= 0xE0
    path.write_bytes(bytes(data))


def test_a_small_png_of_huge_size_is_refused_before_decoding(tmp_path):
    (tmp_path / "f").mkdir()
    huge_png(tmp_path / "f" / "0000.png")
    assert (tmp_path / "f" / "0000.png").stat().st_size < 2_000_000
    with pytest.raises(ClipError, match=r"20000x20000 \(400.0 Mpx\), above the limit of 16.8 Mpx.*--max-pixels"):
        probe(str(tmp_path / "f"))


def test_a_video_whose_header_declares_a_huge_size_is_refused(tmp_path):
    huge_header_video(tmp_path / "v.mkv")
    with pytest.raises(ClipError, match="16383x16383.*--max-pixels"):
        probe(str(tmp_path / "v.mkv"))
    with pytest.raises(ClipError, match="corrupt"):  # with the limit raised, decoding is tried (and fails here)
        probe(str(tmp_path / "v.mkv"), max_pixels=16383 * 16383)


def test_a_chunk_that_would_not_fit_the_worker_is_refused():
    Limits(memory=8 << 30).check_chunk(72, 480, 640)
    with pytest.raises(ClipError, match="needs about .* GiB, above this worker's 1.0 GiB: use a smaller --chunk"):
        Limits(memory=1 << 30).check_chunk(72, 4096, 4096)


def archive_with_poison(root: Path, frames: int = 8) -> None:
    """Two ordinary clips and one bright one ('poison') that the faulty methods react to."""
    for i, name in enumerate(("a", "b")):
        ir, vi = synthetic_clip(frames, 48, 64, seed=i)
        write_mp4(root / "ir" / f"{name}.mp4", ir)
        write_mp4(root / "vi" / f"{name}.mp4", vi)
    bright = np.full((frames, 48, 64, 3), 240, np.uint8)
    write_mp4(root / "ir" / "poison.mp4", bright[..., 0])
    write_mp4(root / "vi" / "poison.mp4", bright)


def test_a_clip_that_kills_its_worker_fails_after_bounded_retries(tmp_path, ray_cluster, prefect_harness):
    from temcoco.flows.fuse_archive import fuse_archive

    archive_with_poison(tmp_path / "archive")
    began = time.monotonic()
    summary = fuse_archive(JobConfig(str(tmp_path / "archive"), str(tmp_path / "out"), job_id="poison", chunk=4,
                                     method="tests.support.faulty_methods:kill_on_bright", workers=2, max_retries=2))
    assert time.monotonic() - began < 300
    assert (summary.ok, summary.failed) == (2, 1), summary.failures
    assert summary.failures["poison"] == "worker died 3 times fusing frames 0-3 (out of memory?)"


def test_a_chunk_that_raises_once_is_retried_and_gives_the_same_frames(tmp_path, ray_cluster, prefect_harness):
    from temcoco.flows.fuse_archive import fuse_archive

    archive_with_poison(tmp_path / "archive")
    for f in Path(os.environ.get("TMPDIR", "/tmp")).glob("temcoco-raise-once-*"):
        f.unlink()
    summary = fuse_archive(JobConfig(str(tmp_path / "archive"), str(tmp_path / "out"), job_id="flaky", chunk=4,
                                     method="tests.support.faulty_methods:raise_once_at_frame_4", workers=2))
    assert (summary.ok, summary.failed) == (3, 0), summary.failures
    from temcoco.storage.pairing import iter_pairs

    average = load_method("average")
    for name in ("a", "b", "poison"):
        fused = open_frames(str(outputs(tmp_path / "out", name, "raise-once-1")[1]))[:]
        ir, vi = map(np.stack, zip(*iter_pairs(str(tmp_path / "archive" / "ir" / f"{name}.mp4"),
                                               str(tmp_path / "archive" / "vi" / f"{name}.mp4"))))
        assert np.array_equal(fused, average.fuse(ir, vi)), name


def test_workers_that_cannot_start_are_a_job_level_error(tmp_path):
    archive_with_poison(tmp_path / "archive", frames=2)
    p = subprocess.run([sys.executable, "-m", "temcoco.cli", "submit", str(tmp_path / "archive"), "--out",
                        str(tmp_path / "out"), "--method", "tests.support.faulty_methods:fail_to_start", "--quiet"],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 2, p.stderr
    assert "no fusion worker could start" in p.stderr and "weights not found on this node" in p.stderr


@pytest.fixture
def failing_writes(tmp_path, monkeypatch):
    """``plan(part, times)``: the next ``times`` atomic publications to URLs containing ``part`` fail, in this
    process and in the workers of a job whose method is ``tests.support.faulty_methods:failing_writes`` with the
    returned folder as its weights."""
    import temcoco.report
    import temcoco.storage.fs as fs
    from tests.support.faulty_methods import install_write_faults

    def plan(part: str, times: int) -> str:
        folder = tmp_path / "write-faults"
        (folder / "tokens").mkdir(parents=True)
        (folder / "part").write_text(part)
        for i in range(times):
            (folder / "tokens" / f"{i:04d}").touch()
        for module, name in ((fs, "open_atomic"), (temcoco.report, "open_atomic"), (fs, "time")):
            monkeypatch.setattr(module, name, getattr(module, name))  # restored after the test
        install_write_faults(folder)
        return str(folder)

    return plan


@pytest.mark.parametrize("part, times, failed", [
    ("/metrics/", 2, 0),  # a row write fails twice: retried, nothing lost
    ("/state/", 1, 0),
    ("/state/", 100, 3),  # state can never be written: the clips fail, the job finishes
    ("/metrics/", 100, 3),  # no row can be written: every clip counts as failed, the job finishes
    ("/reports/", 100, 0),  # no report, no clip previews: logged, the job finishes with its summary
])
def test_storage_failures_after_fusion_are_contained(tmp_path, ray_cluster, prefect_harness, failing_writes,
                                                     part, times, failed):
    from temcoco.flows.fuse_archive import fuse_archive

    archive_with_poison(tmp_path / "archive", frames=4)
    faults = failing_writes(part, times)
    summary = fuse_archive(JobConfig(str(tmp_path / "archive"), str(tmp_path / "out"), job_id="w", chunk=4,
                                     method="tests.support.faulty_methods:failing_writes", weights=faults))
    assert summary.failed == failed, summary.failures
    assert summary.ok == 3 - failed
    assert not any((Path(faults) / "tokens").iterdir()) or times == 100  # every planned failure happened
    saved = (tmp_path / "out" / "jobs" / "w.json").read_text()
    assert '"status":"finished"' in saved


def test_an_actor_killed_at_the_end_of_a_job_changes_nothing(tmp_path, ray_cluster, prefect_harness, monkeypatch):
    import ray

    from temcoco.flows.fuse_archive import fuse_archive
    from temcoco.workers.pool import WorkerPool

    real = WorkerPool.work_by_node

    def kill_then_count(self):
        ray.kill(self.actors[0])
        return real(self)

    monkeypatch.setattr(WorkerPool, "work_by_node", kill_then_count)
    archive_with_poison(tmp_path / "archive", frames=4)
    summary = fuse_archive(JobConfig(str(tmp_path / "archive"), str(tmp_path / "out"), job_id="k", method="average",
                                     chunk=4, workers=2))
    assert summary.ok == 3 and (tmp_path / "out" / "reports" / "k.html").exists()


def test_secrets_never_leave_the_process_that_was_given_them(tmp_path, s3_server):
    """A job on moto S3 with a distinctive secret key (environment) and secret storage option: neither
    appears in the Ray session's files, the Prefect database, or anything under OUT."""
    import s3fs

    fs = s3fs.S3FileSystem(use_listings_cache=False)
    fs.mkdir("secret-bucket")
    archive_with_poison(tmp_path / "archive", frames=4)
    fs.put(str(tmp_path / "archive") + "/", "secret-bucket/a/", recursive=True)
    option_secret = "temcoco-option-secret-5d2a8e61"
    ray_dir = Path(tempfile.mkdtemp(prefix="r", dir="/tmp"))  # Ray's socket paths must stay short
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "RAY_TMPDIR": str(ray_dir)}
    p = subprocess.run([sys.executable, "-m", "temcoco.cli", "submit", "s3://secret-bucket/a", "--out",
                        "s3://secret-bucket/out", "--method", "average", "--job-id", "s", "--quiet",
                        "--storage-options", f'{{"secret": "{option_secret}", "key": "testing"}}'],
                       capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0, p.stderr
    secrets = [SECRET_KEY.encode(), option_secret.encode()]
    searched = 0
    for root in (ray_dir, tmp_path / "prefect"):
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                data = path.read_bytes()
                searched += 1
                assert not any(s in data for s in secrets), path
    assert searched > 10  # the session's logs and the Prefect database were there to search
    for key in fs.find("secret-bucket/out"):
        assert not any(s in fs.cat_file(key) for s in secrets), key
    assert query("s3://secret-bucket/out", "SELECT count(*) AS n FROM metrics").to_pylist()[0]["n"] == 3


def test_a_worker_killed_by_one_call_is_not_charged_to_the_next(tmp_path, ray_cluster):
    """After a worker dies, Ray restarts it; a call handed to it meanwhile must not fail as if it had
    killed the worker (it would, as 'the actor is restarting', and be charged a death)."""
    from temcoco.storage.archive import discover
    from temcoco.storage.layout import ClipLayout
    from temcoco.workers.clip import ClipRun, Started
    from temcoco.workers.pool import WorkerPool

    archive_with_poison(tmp_path / "archive")
    clips = {c.clip_id: c for c in discover(str(tmp_path / "archive"))}
    job = JobConfig(str(tmp_path / "archive"), str(tmp_path / "out"), job_id="crossfire", chunk=4,
                    method="tests.support.faulty_methods:kill_on_bright", workers=1, max_retries=0)
    with WorkerPool(job) as pool:
        def run(clip_id: str) -> ClipRun:
            layout = ClipLayout(job.out, clip_id, job.job_id, pool.method.version)
            return ClipRun(clips[clip_id], layout, "2026-11-29", time.time())

        def ended(calls: dict) -> dict:
            """Run the pool until every call queued by ``calls[name](then, fail)`` has ended: what each ended with."""
            results = {}
            for name, call in calls.items():
                call(lambda r, name=name: results.setdefault(name, r), lambda e, name=name: results.setdefault(name, e))
            while len(results) < len(calls):
                pool.step()
            return results

        poisoned = run("poison")
        started = ended({"poisoned": lambda *reply: pool.start(poisoned, *reply)})["poisoned"]
        assert isinstance(started, Started)  # 8 frames in chunks of 4: its chunks are fanned out
        for _ in range(3):  # one worker: each next call waits for the worker the poison chunk kills
            results = ended({
                "poison": lambda *reply: pool.fuse_chunk(poisoned.layout, started.todo[0], started.ingested.fingerprint,
                                                         *reply),
                "innocent": lambda *reply: pool.start(run("a"), *reply)})
            assert isinstance(results["poison"], ClipError)
            assert "worker died 1 times fusing frames 0-3" in str(results["poison"])
            assert isinstance(results["innocent"], Started)
