"""The archive-fusion flow: discover pairs, then per clip ingest -> fuse -> finish -> row.

Prefect tracks clips and stages (one task run per clip and stage); the Ray actor pool
tracks chunks. The driver only plans and waits: every stage runs on an actor.
"""

from __future__ import annotations

import datetime as dt
import platform
import secrets
import time
from dataclasses import asdict, dataclass, field

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import wait
from prefect.task_runners import ThreadPoolTaskRunner

import temcoco
from temcoco.errors import ClipError, TemcocoError
from temcoco.flows.progress import current as progress
from temcoco.metrics import seam_ratio
from temcoco.storage import results
from temcoco.storage.archive import ClipSource, discover
from temcoco.storage.fs import check_writable, filesystem, join, read_json, retrying, write_json
from temcoco.storage.layout import ClipLayout
from temcoco.workers.actor import WorkerConfig
from temcoco.workers.pool import PoolConfig, WorkerPool
from temcoco.workers.stages import Ingested, prepare_output

EXIT_OK, EXIT_JOB_FAILED, EXIT_SOME_FAILED = 0, 2, 3


@dataclass(frozen=True)
class JobConfig:
    """Everything that defines an archive-fusion job."""

    archive: str
    out: str
    job_id: str
    method: str = "temcoco"
    weights: str | None = None
    workers: int = 1
    cpus_per_worker: int = 1
    chunk: int = 64
    ray_address: str | None = None
    incremental: bool = False
    device: str = "auto"
    storage_options: dict = field(default_factory=dict)


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

    @property
    def exit_code(self) -> int:
        return EXIT_SOME_FAILED if self.failed else EXIT_OK


def new_job_id() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


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
    return pool.call("fingerprint", source).result()


@task(name="ingest", cache_policy=NO_CACHE, task_run_name="ingest {source.clip_id}")
def ingest_task(source: ClipSource, layout: ClipLayout, fingerprint: str, chunk: int, pool: WorkerPool) -> Ingested:
    return pool.call("ingest", source, layout, fingerprint, chunk).result()


@task(name="fuse", cache_policy=NO_CACHE, task_run_name="fuse {layout.clip_id}")
def fuse_task(layout: ClipLayout, ingested: Ingested, version: str, pool: WorkerPool, storage_options: dict) -> int:
    todo = prepare_output(layout, ingested, version, storage_options)
    progress().add(chunks_total=-(-ingested.frames // ingested.chunk))
    progress().add(chunks_done=-(-ingested.frames // ingested.chunk) - len(todo))
    futures = []
    for spec in todo:
        f = pool.call("fuse_chunk", layout, spec)
        f.add_done_callback(lambda f, n=spec.stop - spec.start: f.exception() or progress().add(chunks_done=1, frames_fused=n))
        futures.append(f)
    return sum(f.result() for f in futures)


@task(name="finish", cache_policy=NO_CACHE, task_run_name="finish {layout.clip_id}")
def finish_task(layout: ClipLayout, ingested: Ingested, pool: WorkerPool) -> dict:
    return pool.call("finish", layout, ingested).result()


@task(name="clip", cache_policy=NO_CACHE, task_run_name="clip {source.clip_id}")
def clip_task(source: ClipSource, job: JobConfig, method: dict, date: str, pool: WorkerPool) -> dict:
    """All stages of one clip; always returns (and writes) the clip's row, ``failed`` with a reason if needed."""
    began = time.perf_counter()
    layout = ClipLayout(job.out, source.clip_id, job.job_id)
    so = job.storage_options
    row = {"clip_id": source.clip_id, "method": method["method"], "model_version": method["model_version"],
           "ir": source.ir, "vi": source.vi}
    try:
        if source.error:
            raise ClipError(source.error)
        fp = fingerprint_task(source, pool)
        row["fingerprint"] = fp
        state = read_json(layout.state, so) if job.incremental else None
        if state and state.get("fingerprint") == fp and state.get("model_version") == method["model_version"]:
            row.update(status="skipped", note=f"unchanged since job {state['job_id']}",
                       frames=state.get("frames"), height=state.get("height"), width=state.get("width"),
                       fps=state.get("fps"))
        else:
            ingested = ingest_task(source, layout, fp, job.chunk, pool)
            fuse_task(layout, ingested, method["model_version"], pool, so)
            metrics = finish_task(layout, ingested, pool)
            row.update(status="ok", note=ingested.note or None, frames=ingested.frames, height=ingested.height,
                       width=ingested.width, fps=ingested.fps, **{k: metrics.get(k) for k in results.SCHEMA.names if k in metrics})
    except Exception as e:  # noqa: BLE001 - one broken clip never sinks the job: it becomes a failed row
        row.update(status="failed", error=failure_reason(e))
        get_run_logger().warning("clip %s failed: %s", source.clip_id, row["error"])
    row.update(seconds=time.perf_counter() - began, finished_at=dt.datetime.now(dt.timezone.utc))
    results.write_row(job.out, date, job.job_id, row, so)
    if row["status"] == "ok":
        write_json(layout.state, {"job_id": job.job_id, **{k: row.get(k) for k in (
            "fingerprint", "model_version", "method", "frames", "height", "width", "fps")}}, so)
        _drop_staged_inputs(layout, so)
    progress().add(clips_done=1)
    return row


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
    """The aligned inputs are only needed until the clip is done (commit markers are kept)."""
    fs, path = filesystem(layout.inputs, storage_options)
    if fs.exists(path):
        fs.rm(path, recursive=True)
    fs, marker = filesystem(layout.ingest_marker, storage_options)
    if fs.exists(marker):
        fs.rm_file(marker)


@flow(name="fuse_archive", task_runner=ThreadPoolTaskRunner(max_workers=16), log_prints=False)
def fuse_archive(
    archive: str, out: str, job_id: str | None = None, method: str = "temcoco", weights: str | None = None,
    workers: int = 1, cpus_per_worker: int = 1, chunk: int = 64, ray_address: str | None = None,
    incremental: bool = False, device: str = "auto", storage_options: dict | None = None,
) -> dict:
    """Fuse every IR/VI pair of ``archive`` into ``out`` (DESIGN.md); returns the job summary."""
    job = JobConfig(archive, out, job_id or new_job_id(), method, weights, workers, cpus_per_worker, chunk,
                    ray_address, incremental, device, storage_options or {})
    return asdict(run_job(job))


def run_job(job: JobConfig) -> JobSummary:
    began = time.perf_counter()
    so = job.storage_options
    if job.chunk < 1 or job.workers < 1 or job.cpus_per_worker < 1:
        raise TemcocoError("--chunk, --workers and --cpus-per-worker must be at least 1")
    check_writable(job.out, so)
    clips = retrying(f"archive {job.archive}", lambda: discover(job.archive, so))
    if not clips:
        raise TemcocoError(f"archive {job.archive} has no clips: put pairs in ir/ and vi/ (see DESIGN.md)")
    summary_url = join(job.out, "jobs", f"{job.job_id}.json")
    earlier = read_json(summary_url, so) or {}
    date = earlier.get("date") or dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
    write_json(summary_url, {"job_id": job.job_id, "date": date, "status": "running", "archive": job.archive,
                             "clips": len(clips)}, so)
    progress().add(clips_total=len(clips))
    worker = WorkerConfig(job.method, job.weights, job.device, job.cpus_per_worker, so)
    with WorkerPool(PoolConfig(job.workers, job.cpus_per_worker, job.ray_address), worker) as pool:
        method = pool.call("describe").result()
        futures = [clip_task.submit(c, job, method, date, pool) for c in clips]
        wait(futures)
        rows = [f.result() for f in futures]
        work = pool.work_by_node()
    summary = JobSummary(
        job_id=job.job_id, date=date, method=method["method"], model_version=method["model_version"],
        clips=len(rows), ok=sum(r["status"] == "ok" for r in rows),
        failed=sum(r["status"] == "failed" for r in rows), skipped=sum(r["status"] == "skipped" for r in rows),
        seconds=time.perf_counter() - began, frames=sum(r.get("frames") or 0 for r in rows if r["status"] == "ok"),
        failures={r["clip_id"]: r["error"] for r in rows if r["status"] == "failed"}, versions=versions(),
        work_by_node=work, seam_ratio=seam_ratio(r for r in rows if r["status"] == "ok"),
    )
    write_json(summary_url, {**asdict(summary), "status": "done", "archive": job.archive, "out": job.out}, so)
    report_task(job.out, job.job_id, so)
    return summary


@task(name="report", cache_policy=NO_CACHE)
def report_task(out: str, job_id: str, storage_options: dict) -> str:
    from temcoco.report import render

    return render(out, job_id, storage_options)
