"""The archive-fusion flow: discover pairs, then per clip fingerprint -> ingest -> fuse -> finish -> row.

A rerun of a job id keeps the clips the job already finished for the same inputs and model (their
rows untouched; known from one query of the job's rows, see :mod:`temcoco.storage.finished`) and
runs the rest; ``--redo`` runs every clip again.

Prefect tracks clips in batches: one task run per ``BATCH_CLIPS`` clips, with a table of its
clips' results (a task run costs the driver about 13 ms and the Prefect server a database row:
too much per clip for 60,000 clips a night), recorded as each batch ends. The Ray actor pool runs
the stages: a short clip is one round trip (``temcoco.workers.clip``), and so is a longer one
streamed through one actor; the job's last long clips fan their chunks out. The driver's one loop
(:class:`ClipLoop`) begins clips, decides which are streamed, and waits on the pool; it holds only
the clips in flight and the job's counts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import platform
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

import temcoco
from temcoco.clip_result import ClipResult, Status
from temcoco.errors import ClipError, TemcocoError
from temcoco.flows.progress import current as progress
from temcoco.job import JobConfig, new_job_id
from temcoco.metrics import SeamRatio
from temcoco.overlap import ChunkSpec
from temcoco.storage.archive import Clips, ClipSource, discover
from temcoco.storage.compaction import compact_after_job
from temcoco.storage.finished import FinishedClip, finished_clips, with_finished
from temcoco.storage.fs import check_writable, read_json, remove_tree, retrying
from temcoco.storage.jobs import JobSummary, now_utc, write_failed, write_finished, write_running
from temcoco.storage.layout import ClipLayout, job_summary, staging
from temcoco.storage.lease import JobLease
from temcoco.storage.spill import SortedRecords, sort_records
from temcoco.workers.actor import MethodInfo
from temcoco.workers.clip import ClipRun, Done, Started, publish
from temcoco.workers.pool import WorkerPool, failure_line

BATCH_CLIPS = 64  # clips per Prefect task run
BATCHES_IN_FLIGHT = 2  # the next batch starts while the last clips of the one before finish
CLIPS_IN_FLIGHT_PER_WORKER = 2  # clips in flight per worker (one waits while one runs)
FAILURES_KEPT = 100  # failed clips named in the job summary, in clip order (the table has them all)


def versions() -> dict[str, str]:
    """temcoco, the shipped model, the published network and the key dependencies."""
    import av
    import prefect
    import ray
    import torch
    import zarr

    from temcoco.model.checkpoint import weights_version
    from temcoco.model.networks import SHIPPED_WEIGHTS, new_network
    from temcoco.model.paper.config import PARAMETERS

    small = sum(p.numel() for p in new_network("small").parameters())
    try:
        model = f"{weights_version(SHIPPED_WEIGHTS)} (the small network, {small:,} parameters; shipped)"
    except TemcocoError as e:
        model = f"unavailable ({e})"
    paper = f"the published network, {PARAMETERS:,} parameters; no weights shipped (temcoco convert-weights)"
    return {"temcoco": temcoco.__version__, "model": model, "paper": paper, "python": platform.python_version(),
            "torch": torch.__version__, "ray": ray.__version__, "prefect": prefect.__version__,
            "zarr": zarr.__version__, "av": av.__version__}


@dataclass(frozen=True)
class PendingClip:
    """A clip to run, with this job's finished row of it when only its inputs' identity (which the actor
    computes) decides whether that row is kept."""

    source: ClipSource
    finished: FinishedClip | None = None


@dataclass(frozen=True)
class ClipBatch:
    """Clips tracked by one Prefect task run (with a table of per-clip results)."""

    number: int
    clips: tuple[PendingClip, ...]

    @property
    def label(self) -> str:
        first, last = self.clips[0].source.clip_id, self.clips[-1].source.clip_id
        return f"{self.number}: {first}" + (f" .. {last} ({len(self.clips)} clips)" if len(self.clips) > 1 else "")


def batches(clips: Iterable[PendingClip], size: int) -> Iterator[ClipBatch]:
    clips = iter(clips)
    for number in itertools.count(1):
        group = tuple(itertools.islice(clips, size))
        if not group:
            return
        yield ClipBatch(number, group)


@task(name="clips", cache_policy=NO_CACHE, task_run_name="clips {batch.label}")
def record_batch(batch: ClipBatch, results: list[ClipResult]) -> None:
    """The batch's clips have ended (their rows are written or kept): their failures logged, and a
    table of their results in Prefect."""
    logger = get_run_logger()
    for result in results:
        if result.status is Status.FAILED:
            logger.warning("clip %s failed: %s", result.clip_id, result.error)
    try:
        create_table_artifact([result.table_row() for result in results], description=f"clips {batch.label}")
    except Exception as e:  # noqa: BLE001 - the rows are written; the artifact is only a view of them
        logger.warning("clips %s: per-clip results not shown in Prefect: %s", batch.label, failure_line(e))


class ClipInFlight:
    """One clip through its stages on the pool: ``start`` (a streamed clip ends there), then (a longer
    clip) its chunks fanned out and ``finish``. ``done`` gets its result once: ``failed`` with a reason
    if a stage failed, its row written (by the actor, or here for a clip that failed) or kept."""

    def __init__(self, clip: PendingClip, job: JobConfig, method: MethodInfo, date: str, pool: WorkerPool,
                 done: Callable[[ClipResult], None], stream: bool = False) -> None:
        layout = ClipLayout(job.out, clip.source.clip_id, job.job_id, method.version)
        self.run = ClipRun(clip.source, layout, date, time.time(), clip.finished, stream)
        self.job, self.method, self.pool, self.done = job, method, pool, done
        self.chunks_left = 0
        self.chunk_error: tuple[int, Exception] | None = None  # the failure of the clip's first failed chunk

    def begin(self) -> None:
        if self.run.source.error:
            self.failed(ClipError(self.run.source.error))
        else:
            self.pool.start(self.run, self.started, self.failed)

    def started(self, outcome: Started | Done) -> None:
        if isinstance(outcome, Done):
            progress().add(chunks_total=outcome.chunks, chunks_done=outcome.chunks, frames_fused=outcome.frames_fused)
            self.end(outcome.result)
            return
        self.chunks_left = len(outcome.todo)
        progress().add(chunks_total=len(outcome.todo))  # chunks committed earlier are not work of this job
        for spec in outcome.todo:
            self.pool.fuse_chunk(self.run.layout, spec, outcome.ingested.fingerprint,
                                 lambda _, spec=spec: self.chunk_ended(outcome, spec),
                                 lambda e, spec=spec: self.chunk_ended(outcome, spec, e))

    def chunk_ended(self, started: Started, spec: ChunkSpec, error: Exception | None = None) -> None:
        """Once every chunk has ended, the clip is finished, or fails with its first failed chunk's error."""
        if error is None:
            progress().add(chunks_done=1, frames_fused=spec.stop - spec.start)
        elif self.chunk_error is None or spec.start < self.chunk_error[0]:
            self.chunk_error = (spec.start, error)
        self.chunks_left -= 1
        if self.chunks_left:
            return
        if self.chunk_error:
            self.failed(self.chunk_error[1])
        else:
            self.pool.finish(self.run, started.ingested, lambda outcome: self.end(outcome.result), self.failed)

    def failed(self, error: Exception) -> None:
        self.end(publish(self.run, self.job, self.method, {"status": Status.FAILED, "error": failure_line(error)}))

    def end(self, result: ClipResult) -> None:
        progress().add(clips_done=1)
        self.done(result)


@dataclass
class OpenBatch:
    """A batch whose clips have begun: its results by position, folded when all have ended."""

    batch: ClipBatch
    results: list[ClipResult | None]
    left: int


class ClipLoop:
    """The driver's one loop: clips begin while fewer than ``CLIPS_IN_FLIGHT_PER_WORKER`` per worker
    are in flight and at most ``BATCHES_IN_FLIGHT`` batches are open; the pool's :meth:`~WorkerPool.step`
    runs their stages; batches are folded into ``tally`` in clip order as they end.

    A long clip is streamed through one actor while another clip waits to begin behind it (every worker
    has clips of its own, so fanning its chunks out would add staging and no speed), and always with one
    worker; the job's last clips are staged and their chunks fanned out, so workers left without a clip
    share them (see :mod:`temcoco.workers.stream_clip`).
    """

    def __init__(self, job: JobConfig, pool: WorkerPool, date: str, tally: Tally, todo: Iterator[ClipBatch]) -> None:
        self.job, self.pool, self.date, self.tally, self.todo = job, pool, date, tally, todo
        self.limit = CLIPS_IN_FLIGHT_PER_WORKER * len(pool.actors)
        self.open: deque[OpenBatch] = deque()
        self.feed: deque[tuple[OpenBatch, int, PendingClip]] = deque()  # clips of the last batch opened, not begun
        self.upcoming: ClipBatch | None = next(todo, None)  # the next batch, not opened yet
        self.in_flight = 0

    def run(self) -> None:
        self.fill()
        while self.in_flight:
            self.pool.step()
            self.fill()

    def fill(self) -> None:
        while self.in_flight < self.limit and (entry := self.next_clip()):
            batch, position, clip = entry
            self.in_flight += 1
            stream = len(self.pool.actors) == 1 or self.waiting
            ClipInFlight(clip, self.job, self.pool.method, self.date, self.pool,
                         lambda result, b=batch, p=position: self.ended(b, p, result), stream).begin()

    @property
    def waiting(self) -> bool:
        """Whether a clip is yet to begin."""
        return bool(self.feed) or self.upcoming is not None

    def next_clip(self) -> tuple[OpenBatch, int, PendingClip] | None:
        """The next clip to begin: of the batch last opened, else of the next one, if the window allows."""
        if not self.feed and len(self.open) < BATCHES_IN_FLIGHT and self.upcoming is not None:
            batch, self.upcoming = self.upcoming, next(self.todo, None)
            opened = OpenBatch(batch, [None] * len(batch.clips), len(batch.clips))
            self.open.append(opened)
            self.feed.extend((opened, position, clip) for position, clip in enumerate(batch.clips))
        return self.feed.popleft() if self.feed else None

    def ended(self, batch: OpenBatch, position: int, result: ClipResult) -> None:
        self.in_flight -= 1
        batch.results[position] = result
        batch.left -= 1
        while self.open and not self.open[0].left:
            done = self.open.popleft()
            record_batch(done.batch, done.results)
            for result in done.results:
                self.tally.add(result)


@dataclass
class Tally:
    """The job's counts, folded batch by batch: the driver never holds every clip's result (nor every
    failure: ``failures`` keeps the first ``FAILURES_KEPT``; all are rows of the metrics table)."""

    clips: int = 0
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    kept: int = 0
    frames: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    seams: SeamRatio = field(default_factory=SeamRatio)

    def add(self, result: ClipResult) -> None:
        self.clips += 1
        self.kept += result.kept
        match result.status:
            case Status.OK:
                self.ok += 1
                self.frames += result.frames or 0
                self.seams.add(result.flowD_seam, result.flowD_inner)
            case Status.SKIPPED:
                self.skipped += 1
            case Status.FAILED:
                self.failed += 1
                if len(self.failures) < FAILURES_KEPT:
                    self.failures[result.clip_id] = result.error or ""


@dataclass(frozen=True)
class JobStart:
    """When and how the run of a job began: its ``date`` partition (kept by a rerun), its start time
    (``started``, ISO 8601 UTC; ``began``, for the run's length) and whether it resumes an earlier run."""

    date: str
    started: str
    began: float
    resumed: bool


@dataclass(frozen=True)
class Fused:
    """What the workers did: every clip's result folded, the method they ran and their work by node."""

    tally: Tally
    method: MethodInfo
    work_by_node: dict[str, dict[str, int]]


@flow(name="fuse_archive", log_prints=False)
def fuse_archive(job: JobConfig) -> JobSummary:
    """Fuse every IR/VI pair of ``job.archive`` into ``job.out`` (DESIGN.md); returns the job summary.

    The job id's lease is held throughout (one live run per job id); the summary says ``running``
    once the clips are known, then ``finished`` (or ``failed``, with a job-level error)."""
    job = job if job.job_id else replace(job, job_id=new_job_id())
    check_writable(job.out, job.storage_options)
    with JobLease(job.out, job.job_id, job.storage_options):
        with discovered(job) as clips:
            start = begin(job, clips)
            with failure_recorded(job, start, len(clips)):
                fused = fuse_clips(job, clips, start)
        _end_of_job_cleanup(job)
        summary = summarise(job, start, fused)
        retrying("the job summary", lambda: write_finished(job.out, summary, job.archive, job.storage_options),
                 on=(OSError, TemcocoError))
        compact_after_job(job.out, job.job_id, job.storage_options, get_run_logger())
        report(job)
    return summary


@contextlib.contextmanager
def discovered(job: JobConfig) -> Iterator[Clips]:
    """The archive's clips, streamed (see :func:`temcoco.storage.archive.discover`); none is an error."""
    so = job.storage_options
    with retrying(f"archive {job.archive}", lambda: discover(job.archive, so, job.allow_sources)) as clips:
        if not clips:
            raise TemcocoError(f"archive {job.archive} has no clips: put pairs in ir/ and vi/ (see DESIGN.md)")
        yield clips


def begin(job: JobConfig, clips: Clips) -> JobStart:
    """Write the ``running`` summary. A rerun of the job id keeps its date partition, and resumes unless ``--redo``."""
    began, started = time.perf_counter(), now_utc()
    earlier = read_json(job_summary(job.out, job.job_id), job.storage_options) or {}
    date = earlier.get("date") or dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
    write_running(job.out, job.job_id, date, started, job.archive, len(clips), job.storage_options)
    progress().add(clips_total=len(clips))
    return JobStart(date, started, began, resumed=bool(earlier) and not job.redo)


@contextlib.contextmanager
def failure_recorded(job: JobConfig, start: JobStart, clips: int) -> Iterator[None]:
    """A job-level error is the user's message (raised on); the summary only records it, as ``failed``."""
    try:
        yield
    except Exception as e:
        with contextlib.suppress(OSError, TemcocoError):
            write_failed(job.out, job.job_id, start.date, start.started, job.archive, clips, failure_line(e),
                         job.storage_options)
        raise


def summarise(job: JobConfig, start: JobStart, fused: Fused) -> JobSummary:
    tally, method = fused.tally, fused.method
    return JobSummary(
        job_id=job.job_id, date=start.date, method=method.name, model_version=method.version,
        clips=tally.clips, ok=tally.ok, failed=tally.failed, skipped=tally.skipped, kept=tally.kept,
        seconds=time.perf_counter() - start.began, frames=tally.frames, failures=tally.failures, versions=versions(),
        work_by_node=fused.work_by_node, seam_ratio=tally.seams.value, started=start.started,
    )


def fuse_clips(job: JobConfig, clips: Clips, start: JobStart) -> Fused:
    """Every clip, run by the driver's one loop (:class:`ClipLoop`), its result folded into a :class:`Tally`.
    A resumed job keeps the clips it already finished (see :func:`pending`)."""
    tally = Tally()
    with WorkerPool(job) as pool, _finished_rows(job, start.resumed) as finished:
        todo = pending(job, pool.method.version, with_finished(clips, finished), tally)
        ClipLoop(job, pool, start.date, tally, batches(todo, BATCH_CLIPS)).run()
        return Fused(tally, pool.method, pool.work_by_node())


def _finished_rows(job: JobConfig, resumed: bool) -> SortedRecords:
    """The job's finished rows (one query), when it resumes; else none."""
    if not resumed:
        return sort_records((), key=lambda record: record[0])
    return finished_clips(job.out, job.job_id, job.storage_options)


def pending(job: JobConfig, model_version: str, clips: Iterable[tuple[ClipSource, FinishedClip | None]],
            tally: Tally) -> Iterator[PendingClip]:
    """The clips to run. A clip this job finished with this model and these sources is kept (its row
    untouched, added to ``tally``) when discovery's listing gives its inputs' identity and that is the
    identity its row was made from; when only the actor can tell (frame folders, manifest sources,
    ``--verify-content``) the row goes with the clip."""
    for source, row in clips:
        if row is None or not row.made_from(source, model_version):
            yield PendingClip(source)
        elif source.identity is None or job.verify_content:
            yield PendingClip(source, row)
        elif row.fingerprint == source.identity:
            tally.add(row.result)
            progress().add(clips_done=1)
        else:
            yield PendingClip(source)  # its inputs changed since


def _end_of_job_cleanup(job: JobConfig) -> None:
    """What is left in the job's staging is the staged inputs of failed clips: dropped unless kept."""
    if job.keep_staging:
        return
    try:
        remove_tree(staging(job.out, job.job_id), job.storage_options)
    except (OSError, TemcocoError) as e:
        get_run_logger().warning("job %s: staging not removed (temcoco gc will): %s", job.job_id, e)


def report(job: JobConfig) -> None:
    """The job's HTML report; one that cannot be written is logged (it is a view of results already safe)."""
    try:
        report_task(job.out, job.job_id, job.storage_options)
    except Exception as e:  # noqa: BLE001
        get_run_logger().error("job %s: the report could not be written: %s", job.job_id, failure_line(e))


@task(name="report", cache_policy=NO_CACHE)
def report_task(out: str, job_id: str, storage_options: dict) -> str:
    from temcoco.report import render

    return render(out, job_id, storage_options)
