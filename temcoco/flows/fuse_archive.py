"""The archive-fusion flow: discover pairs, then per clip ingest -> fuse -> finish -> row.

Prefect tracks clips and stages (one task run per clip and stage); the Ray actor pool
tracks chunks. The driver only plans and waits: every stage runs on an actor.
"""

from __future__ import annotations

import datetime as dt
import platform
import time
from dataclasses import asdict, dataclass, replace

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import wait
from prefect.task_runners import ThreadPoolTaskRunner

import temcoco
from temcoco.errors import ClipError, TemcocoError
from temcoco.flows.progress import current as progress
from temcoco.job import JobConfig, new_job_id
from temcoco.metrics import seam_ratio
from temcoco.storage import results
from temcoco.storage.archive import ClipSource, discover
from temcoco.storage.compaction import compact_after_job
from temcoco.storage.fs import check_writable, read_json, remove_tree, retrying, write_json
from temcoco.storage.layout import ClipLayout, job_summary, staging
from temcoco.storage.lease import JobLease
from temcoco.workers.actor import MethodInfo
from temcoco.workers.pool import WorkerPool
from temcoco.workers.stages import PIPELINE_VERSION, Ingested, prepare_output


@dataclass
class JobSummary:
    job_id: str
    date: str
    method: str
    model_version: str
    clips: int
    ok: int
    failed: int
    skipped: int
    seconds: float
    frames: int
    failures: dict[str, str]
    versions: dict[str, str]
    work_by_node: dict[str, dict[str, int]]
    seam_ratio: float | None  # flowD at chunk boundaries / flowD inside chunks (1.0: seams invisible)


def versions() -> dict[str, str]:
    """temcoco, the shipped model and the key dependencies."""
    import av
    import prefect
    import ray
    import torch
    import zarr

    from temcoco.model.inference import weights_version

    try:
        model = weights_version()
    except TemcocoError as e:
        model = f"unavailable ({e})"
    return {"temcoco": temcoco.__version__, "model": model, "python": platform.python_version(),
            "torch": torch.__version__, "ray": ray.__version__, "prefect": prefect.__version__,
            "zarr": zarr.__version__, "av": av.__version__}


@task(name="fingerprint", cache_policy=NO_CACHE, task_run_name="fingerprint {source.clip_id}")
def fingerprint_task(source: ClipSource, pool: WorkerPool) -> str:
    return pool.fingerprint(source).result()


@task(name="ingest", cache_policy=NO_CACHE, task_run_name="ingest {source.clip_id}")
def ingest_task(source: ClipSource, layout: ClipLayout, fingerprint: str, pool: WorkerPool) -> Ingested:
    return pool.ingest(source, layout, fingerprint).result()


@task(name="fuse", cache_policy=NO_CACHE, task_run_name="fuse {layout.clip_id}")
def fuse_task(layout: ClipLayout, ingested: Ingested, method: MethodInfo, pool: WorkerPool,
              storage_options: dict) -> int:
    """Fuse the chunks without a commit marker, ``method.temporal_radius`` halo frames each side."""
    todo = prepare_output(layout, ingested, method.temporal_radius, storage_options)
    progress().add(chunks_total=len(todo))  # chunks committed earlier are not work of this job
    futures = []
    for spec in todo:
        f = pool.fuse_chunk(layout, spec, ingested.fingerprint)
        f.add_done_callback(lambda f, n=spec.stop - spec.start: f.exception() or progress().add(chunks_done=1, frames_fused=n))
        futures.append(f)
    return sum(f.result() for f in futures)


@task(name="finish", cache_policy=NO_CACHE, task_run_name="finish {layout.clip_id}")
def finish_task(layout: ClipLayout, ingested: Ingested, pool: WorkerPool) -> dict:
    return pool.finish(layout, ingested).result()


@task(name="clip", cache_policy=NO_CACHE, task_run_name="clip {source.clip_id}")
def clip_task(source: ClipSource, job: JobConfig, method: MethodInfo, date: str, pool: WorkerPool) -> dict:
    """All stages of one clip; always returns (and writes) the clip's row, ``failed`` with a reason if needed."""
    began = time.perf_counter()
    layout = ClipLayout(job.out, source.clip_id, job.job_id, method.version)
    so = job.storage_options
    row = {"clip_id": source.clip_id, "method": method.name, "model_version": method.version,
           "ir": source.ir, "vi": source.vi}
    try:
        row.update(_fuse_clip(source, layout, job, method, pool))
    except Exception as e:  # noqa: BLE001 - one broken clip never sinks the job: it becomes a failed row
        row.update(status="failed", error=failure_reason(e))
        get_run_logger().warning("clip %s failed: %s", source.clip_id, row["error"])
    row.update(seconds=time.perf_counter() - began, finished_at=dt.datetime.now(dt.timezone.utc))
    results.write_row(job.out, date, job.job_id, source.row_key, row, so)
    if row["status"] == "ok":
        write_json(layout.state, {"job_id": job.job_id, "pipeline": PIPELINE_VERSION, **{k: row.get(k) for k in (
            "fingerprint", "model_version", "method", "video", "frames", "height", "width", "fps")}}, so)
        _drop_staged_inputs(layout, so)
    progress().add(clips_done=1)
    return row


def _fuse_clip(source: ClipSource, layout: ClipLayout, job: JobConfig, method: MethodInfo, pool: WorkerPool) -> dict:
    """The stages of one clip (skipped when ``--incremental`` finds it unchanged); returns its row's fields."""
    if source.error:
        raise ClipError(source.error)
    fp = fingerprint_task(source, pool)
    state = read_json(layout.state, job.storage_options) if job.incremental else None
    if state and state.get("fingerprint") == fp and state.get("pipeline") == PIPELINE_VERSION:
        return {"status": "skipped", "note": f"unchanged since job {state['job_id']}", "fingerprint": fp,
                **{k: state.get(k) for k in ("video", "frames", "height", "width", "fps")}}
    ingested = ingest_task(source, layout, fp, pool)
    fuse_task(layout, ingested, method, pool, job.storage_options)
    metrics = finish_task(layout, ingested, pool)
    return {"status": "ok", "note": ingested.note or None, "fingerprint": fp, "video": layout.fused_video,
            "frames": ingested.frames,
            "height": ingested.height, "width": ingested.width, "fps": ingested.fps,
            **{k: metrics.get(k) for k in results.SCHEMA.names if k in metrics}}


def failure_reason(error: BaseException) -> str:
    """One line saying why a clip failed: the worker's own error, not Ray's wrapper and traceback."""
    cause = getattr(error, "cause", None)  # ray.exceptions.RayTaskError carries the actor's exception
    if isinstance(cause, BaseException):
        error = cause
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if isinstance(error, TemcocoError) and message:
        return message
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _drop_staged_inputs(layout: ClipLayout, storage_options: dict) -> None:
    """The staged inputs are only needed until the clip is done: the marker goes first, so no
    rerun ever trusts half-deleted inputs (commit markers are kept)."""
    remove_tree(layout.ingest_marker, storage_options)
    remove_tree(layout.staged_inputs, storage_options)


@flow(name="fuse_archive", task_runner=ThreadPoolTaskRunner(max_workers=16), log_prints=False)
def fuse_archive(job: JobConfig) -> dict:
    """Fuse every IR/VI pair of ``job.archive`` into ``job.out`` (DESIGN.md); returns the job summary."""
    return asdict(run_job(job if job.job_id else replace(job, job_id=new_job_id())))


def run_job(job: JobConfig) -> JobSummary:
    """Run ``job`` while holding its job id's lease (one live run per job id)."""
    check_writable(job.out, job.storage_options)
    with JobLease(job.out, job.job_id, job.storage_options):
        return _run_clips(job)


def _run_clips(job: JobConfig) -> JobSummary:
    began = time.perf_counter()
    so = job.storage_options
    clips = retrying(f"archive {job.archive}", lambda: discover(job.archive, so))
    if not clips:
        raise TemcocoError(f"archive {job.archive} has no clips: put pairs in ir/ and vi/ (see DESIGN.md)")
    summary_url = job_summary(job.out, job.job_id)
    earlier = read_json(summary_url, so) or {}
    date = earlier.get("date") or dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
    write_json(summary_url, {"job_id": job.job_id, "date": date, "status": "running", "archive": job.archive,
                             "clips": len(clips)}, so)
    progress().add(clips_total=len(clips))
    with WorkerPool(job) as pool:
        method = pool.describe().result()
        futures = [clip_task.submit(c, job, method, date, pool) for c in clips]
        wait(futures)
        rows = [f.result() for f in futures]
        work = pool.work_by_node()
    if not job.keep_staging:  # what is left is the staged inputs of failed clips
        remove_tree(staging(job.out, job.job_id), so)
    summary = JobSummary(
        job_id=job.job_id, date=date, method=method.name, model_version=method.version,
        clips=len(rows), ok=sum(r["status"] == "ok" for r in rows),
        failed=sum(r["status"] == "failed" for r in rows), skipped=sum(r["status"] == "skipped" for r in rows),
        seconds=time.perf_counter() - began, frames=sum(r.get("frames") or 0 for r in rows if r["status"] == "ok"),
        failures={r["clip_id"]: r["error"] for r in rows if r["status"] == "failed"}, versions=versions(),
        work_by_node=work, seam_ratio=seam_ratio(r for r in rows if r["status"] == "ok"),
    )
    write_json(summary_url, {**asdict(summary), "status": "done", "archive": job.archive, "out": job.out}, so)
    compact_after_job(job.out, job.job_id, so, get_run_logger())
    report_task(job.out, job.job_id, so)
    return summary


@task(name="report", cache_policy=NO_CACHE)
def report_task(out: str, job_id: str, storage_options: dict) -> str:
    from temcoco.report import render

    return render(out, job_id, storage_options)
