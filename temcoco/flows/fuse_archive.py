"""The archive-fusion flow: discover pairs, then per clip fingerprint -> ingest -> fuse -> finish -> row.

Prefect tracks clips (one task run per clip, named after it); the Ray actor pool runs the
stages and chunks. The driver only plans and waits: every stage runs on an actor.
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
from temcoco.workers.pool import WorkerPool, failure_line
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
    """temcoco, the shipped model, the published network and the key dependencies."""
    import av
    import prefect
    import ray
    import torch
    import zarr

    from temcoco.model.inference import weights_version
    from temcoco.model.network import CONFIGS, TemCoCoNet
    from temcoco.model.paper.config import PARAMETERS

    small = sum(p.numel() for p in TemCoCoNet(CONFIGS["small"]).parameters())
    try:
        model = f"{weights_version()} (the small network, {small:,} parameters; shipped)"
    except TemcocoError as e:
        model = f"unavailable ({e})"
    paper = f"the published network, {PARAMETERS:,} parameters; no weights shipped (temcoco convert-weights)"
    return {"temcoco": temcoco.__version__, "model": model, "paper": paper, "python": platform.python_version(),
            "torch": torch.__version__, "ray": ray.__version__, "prefect": prefect.__version__,
            "zarr": zarr.__version__, "av": av.__version__}


def _fuse_chunks(layout: ClipLayout, ingested: Ingested, method: MethodInfo, pool: WorkerPool,
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
        if row["status"] == "ok":
            _record_state(layout, row, job)
    except Exception as e:  # noqa: BLE001 - one broken clip never sinks the job: it becomes a failed row
        row.update(status="failed", error=failure_line(e))
        get_run_logger().warning("clip %s failed: %s", source.clip_id, row["error"])
    row.update(seconds=time.perf_counter() - began, finished_at=dt.datetime.now(dt.timezone.utc))
    try:
        retrying("its metrics row", lambda: results.write_row(job.out, date, job.job_id, source.row_key, row, so),
                 on=(OSError, TemcocoError))
    except TemcocoError as e:  # the summary and the report still count the clip, as failed
        row.update(status="failed", error=f"could not write its metrics row: {e}")
        get_run_logger().error("clip %s: %s", source.clip_id, row["error"])
    progress().add(clips_done=1)
    return row


def _record_state(layout: ClipLayout, row: dict, job: JobConfig) -> None:
    """After a clip is fused: its ``--incremental`` state (retried; a failure fails the clip), then the
    staged inputs are dropped (a failure there is only logged: ``temcoco gc`` frees them later)."""
    state = {"job_id": job.job_id, "pipeline": PIPELINE_VERSION, **{k: row.get(k) for k in (
        "fingerprint", "model_version", "method", "video", "frames", "height", "width", "fps")}}
    try:
        retrying("its state", lambda: write_json(layout.state, state, job.storage_options), on=(OSError, TemcocoError))
    except TemcocoError as e:
        raise TemcocoError(f"fused, but could not record its state: {e}") from e
    try:
        _drop_staged_inputs(layout, job.storage_options)
    except (OSError, TemcocoError) as e:
        get_run_logger().warning("clip %s: staged inputs not removed (temcoco gc will): %s", layout.clip_id, e)


def _fuse_clip(source: ClipSource, layout: ClipLayout, job: JobConfig, method: MethodInfo, pool: WorkerPool) -> dict:
    """The stages of one clip (skipped when ``--incremental`` finds it unchanged); returns its row's fields."""
    if source.error:
        raise ClipError(source.error)
    fp = pool.fingerprint(source).result()
    state = read_json(layout.state, job.storage_options) if job.incremental else None
    if state and state.get("fingerprint") == fp and state.get("pipeline") == PIPELINE_VERSION:
        return {"status": "skipped", "note": f"unchanged since job {state['job_id']}", "fingerprint": fp,
                **{k: state.get(k) for k in ("video", "frames", "height", "width", "fps")}}
    ingested = pool.ingest(source, layout, fp).result()
    _fuse_chunks(layout, ingested, method, pool, job.storage_options)
    metrics = pool.finish(layout, ingested).result()
    return {"status": "ok", "note": ingested.note or None, "fingerprint": fp, "video": layout.fused_video,
            "frames": ingested.frames,
            "height": ingested.height, "width": ingested.width, "fps": ingested.fps,
            **{k: metrics.get(k) for k in results.SCHEMA.names if k in metrics}}


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
    clips = retrying(f"archive {job.archive}", lambda: discover(job.archive, so, job.allow_sources))
    if not clips:
        raise TemcocoError(f"archive {job.archive} has no clips: put pairs in ir/ and vi/ (see DESIGN.md)")
    summary_url = job_summary(job.out, job.job_id)
    earlier = read_json(summary_url, so) or {}
    date = earlier.get("date") or dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
    write_json(summary_url, {"job_id": job.job_id, "date": date, "status": "running", "archive": job.archive,
                             "clips": len(clips)}, so)
    progress().add(clips_total=len(clips))
    with WorkerPool(job) as pool:
        method = pool.method
        futures = [clip_task.submit(c, job, method, date, pool) for c in clips]
        wait(futures)
        rows = [f.result() for f in futures]
        work = pool.work_by_node()
    _end_of_job_cleanup(job)
    summary = JobSummary(
        job_id=job.job_id, date=date, method=method.name, model_version=method.version,
        clips=len(rows), ok=sum(r["status"] == "ok" for r in rows),
        failed=sum(r["status"] == "failed" for r in rows), skipped=sum(r["status"] == "skipped" for r in rows),
        seconds=time.perf_counter() - began, frames=sum(r.get("frames") or 0 for r in rows if r["status"] == "ok"),
        failures={r["clip_id"]: r["error"] for r in rows if r["status"] == "failed"}, versions=versions(),
        work_by_node=work, seam_ratio=seam_ratio(r for r in rows if r["status"] == "ok"),
    )
    retrying("the job summary", lambda: write_json(summary_url, {
        **asdict(summary), "status": "finished", "archive": job.archive, "out": job.out}, so), on=(OSError, TemcocoError))
    compact_after_job(job.out, job.job_id, so, get_run_logger())
    try:
        report_task(job.out, job.job_id, so)
    except Exception as e:  # noqa: BLE001 - the report is a view of results that are already safe
        get_run_logger().error("job %s: the report could not be written: %s", job.job_id, failure_line(e))
    return summary


def _end_of_job_cleanup(job: JobConfig) -> None:
    """What is left in the job's staging is the staged inputs of failed clips: dropped unless kept."""
    if job.keep_staging:
        return
    try:
        remove_tree(staging(job.out, job.job_id), job.storage_options)
    except (OSError, TemcocoError) as e:
        get_run_logger().warning("job %s: staging not removed (temcoco gc will): %s", job.job_id, e)


@task(name="report", cache_policy=NO_CACHE)
def report_task(out: str, job_id: str, storage_options: dict) -> str:
    from temcoco.report import render

    return render(out, job_id, storage_options)
