"""A long clip streamed through one actor: the frames, video, row and preview of the staged, fanned-out path;
a stream killed half way resumes from its committed chunks; the driver streams unless workers would idle."""

from __future__ import annotations

import json
import threading
from collections import deque
from pathlib import Path

import numpy as np
import pytest

from tests.support.archives import write_pair
from temcoco.clip_result import ClipResult, Status
from temcoco.job import JobConfig
from temcoco.metrics.policy import MetricPolicy
from temcoco.model.registry import load_method
from temcoco.storage.archive import ClipSource
from temcoco.storage.frames import open_frames
from temcoco.storage.layout import ClipLayout
from temcoco.storage.results import query
from temcoco.storage.video import iter_frames
from temcoco.workers.clip import ClipRun, Done, Started, finish, start
from temcoco.workers.fuse_chunk import fuse_chunk
from temcoco.workers.ingest import Limits


@pytest.fixture(scope="module")
def clip_16(tmp_path_factory):
    """9 frames of 32 x 48 (the same frames give the same video, see VideoWriter: two videos compare exactly)."""
    root = write_pair(tmp_path_factory.mktemp("stream"), 9, 32, 48, seed=7)
    return ClipSource("c", str(root / "ir"), str(root / "vi"))


class Counted:
    """A fusion method that records the first core frame of each window it fuses, and raises at ``fail_at``."""

    def __init__(self, name: str, fail_at: int | None = None) -> None:
        self.inner, self.fail_at, self.fused = load_method(name), fail_at, []
        self.name, self.version, self.temporal_radius = self.inner.name, self.inner.version, self.inner.temporal_radius

    def fuse(self, ir: np.ndarray, vi: np.ndarray, first: int = 0) -> np.ndarray:
        if first == self.fail_at:
            raise RuntimeError(f"killed at frame {first}")
        self.fused.append(first)
        return self.inner.fuse(ir, vi, first)


def run_clip(source: ClipSource, out: Path, method, stream: bool, chunk: int = 4) -> tuple[ClipLayout, Done]:
    """The clip through the actor's stages, streamed or staged and fanned out; (layout, outcome)."""
    job = JobConfig("archive", str(out), job_id="job", method=method.name, chunk=chunk, metrics=MetricPolicy("full"))
    layout = ClipLayout(job.out, source.clip_id, job.job_id, method.version)
    run = ClipRun(source, layout, "2026-12-07", 0.0, stream=stream)
    outcome = start(run, job, method, Limits())
    if isinstance(outcome, Started):
        for spec in outcome.todo:
            fuse_chunk(layout, spec, outcome.ingested.fingerprint, method)
        outcome = finish(run, outcome.ingested, job, method)
    return layout, outcome


def row(out: Path) -> dict:
    """The clip's row without its timings and its video's URL (under ``out``)."""
    values = query(str(out), "SELECT * FROM metrics").to_pylist()[0]
    assert values.pop("video").startswith(str(out))
    return {k: v for k, v in values.items() if "seconds" not in k and k != "finished_at"}


def video(url: str) -> np.ndarray:
    return np.stack([frame.image for frame in iter_frames(url, 3)])


@pytest.mark.parametrize("name", ["average", "temcoco"])  # temcoco reads 4 halo frames each side
def test_a_streamed_clip_equals_the_staged_one(clip_16, tmp_path, name):
    streamed, outcome = run_clip(clip_16, tmp_path / "s", load_method(name), stream=True)
    assert isinstance(outcome, Done) and outcome.result.status is Status.OK
    assert (outcome.chunks, outcome.frames_fused) == (3, 9)
    assert not (tmp_path / "s" / "staging").exists()  # nothing staged
    staged, _ = run_clip(clip_16, tmp_path / "f", load_method(name), stream=False)
    assert (tmp_path / "f" / "staging").exists()
    assert np.array_equal(open_frames(streamed.fused_frames)[:], open_frames(staged.fused_frames)[:])
    assert np.array_equal(video(streamed.fused_video), video(staged.fused_video))
    streamed_row, staged_row = row(tmp_path / "s"), row(tmp_path / "f")
    assert streamed_row["SSIM"] is not None and streamed_row["flowD_seam"] is not None
    assert streamed_row == pytest.approx(staged_row, nan_ok=True)
    assert json.loads(Path(streamed.preview).read_text()) == json.loads(Path(staged.preview).read_text())


def test_a_stream_killed_half_way_resumes_from_its_committed_chunks(clip_16, tmp_path):
    killed = Counted("average", fail_at=4)
    with pytest.raises(RuntimeError, match="killed at frame 4"):
        run_clip(clip_16, tmp_path / "out", killed, stream=True)
    assert killed.fused == [0]
    left = [t.name for t in threading.enumerate() if t.name in ("decoder", "encoder", "measurer")
            or t.name.startswith("temcoco-flows")]
    assert not left  # a long-lived actor keeps no thread of the failed clip
    rerun = Counted("average")
    layout, outcome = run_clip(clip_16, tmp_path / "out", rerun, stream=True)
    assert rerun.fused == [4, 8]  # frames 0-3 were committed: read back, not fused again
    assert (outcome.result.status, outcome.chunks, outcome.frames_fused) == (Status.OK, 2, 5)
    whole, _ = run_clip(clip_16, tmp_path / "whole", load_method("average"), stream=True)
    assert np.array_equal(open_frames(layout.fused_frames)[:], open_frames(whole.fused_frames)[:])
    assert row(tmp_path / "out") == pytest.approx(row(tmp_path / "whole"), nan_ok=True)


class FakePool:
    """The pool as the driver's loop sees it: ``workers`` actors; each start ends the clip at the next step."""

    def __init__(self, workers: int) -> None:
        from temcoco.workers.actor import MethodInfo

        self.actors, self.method = [None] * workers, MethodInfo("average", "v", 0)
        self.runs: list[ClipRun] = []
        self._started: deque = deque()

    def start(self, run: ClipRun, then, fail) -> None:
        self.runs.append(run)
        self._started.append((run, then))

    def step(self) -> None:
        run, then = self._started.popleft()
        then(Done(ClipResult(run.source.clip_id, Status.OK, frames=1)))


@pytest.mark.parametrize(("workers", "clips", "streamed"), [
    (1, 3, [True, True, True]),  # one worker: fanning out helps nothing
    (2, 5, [True, True, True, True, False]),  # the last clip is fanned out over the workers left idle
    (2, 1, [False]),
])
def test_the_driver_streams_a_clip_while_another_waits_behind_it(monkeypatch, workers, clips, streamed):
    from temcoco.flows import fuse_archive
    from temcoco.flows.fuse_archive import ClipLoop, PendingClip, Tally, batches

    monkeypatch.setattr(fuse_archive, "record_batch", lambda batch, results: None)  # no Prefect here
    pool, tally = FakePool(workers), Tally()
    todo = (PendingClip(ClipSource(f"c{i}", f"ir/c{i}", f"vi/c{i}")) for i in range(clips))
    job = JobConfig("archive", "out", job_id="job", method="average")
    ClipLoop(job, pool, "2026-12-07", tally, batches(todo, 2)).run()
    assert [run.stream for run in pool.runs] == streamed
    assert tally.ok == clips


def test_the_staged_path_reuses_the_chunks_a_killed_stream_committed(clip_16, tmp_path):
    with pytest.raises(RuntimeError):
        run_clip(clip_16, tmp_path / "out", Counted("average", fail_at=4), stream=True)
    assert open_frames(str(tmp_path / "out" / "frames" / "average-1" / "c.zarr")).shape[0] == 4
    method = load_method("average")
    job = JobConfig("archive", str(tmp_path / "out"), job_id="job", method="average", chunk=4)
    layout = ClipLayout(job.out, clip_16.clip_id, job.job_id, method.version)
    run = ClipRun(clip_16, layout, "2026-12-07", 0.0, stream=False)
    started = start(run, job, method, Limits())
    assert [spec.start for spec in started.todo] == [4, 8]  # frames 0-3 stay committed: the array grew to 9
    for spec in started.todo:
        fuse_chunk(layout, spec, started.ingested.fingerprint, method)
    assert finish(run, started.ingested, job, method).result.status is Status.OK
    whole, _ = run_clip(clip_16, tmp_path / "whole", method, stream=True)
    assert np.array_equal(open_frames(layout.fused_frames)[:], open_frames(whole.fused_frames)[:])
