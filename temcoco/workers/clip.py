"""One clip as an actor runs it: few round trips, and the clip's row written where it was made.

``start`` fingerprints the clip, keeps it when this job already finished it for these inputs (when
only the actor can tell: see :mod:`temcoco.storage.finished`), skips it when ``--incremental``
finds it unchanged since an earlier job, ingests it and plans its chunks. A clip of at most one
chunk is decoded into memory, not staged; it, and any clip with at most one chunk left to fuse,
is fused, finished and recorded in the same call (one round trip and no staging for a typical
short clip). A longer one is streamed through this actor in the same call when the driver says so
(:attr:`ClipRun.stream`: :mod:`temcoco.workers.stream_clip`); else it is staged and comes back as
:class:`Started`, its chunks are fanned out over the pool, and ``finish`` completes it.
Every step is idempotent (see :mod:`temcoco.workers.ingest`, :mod:`temcoco.storage.commits`), so a
call may be retried whole.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from temcoco import PIPELINE_VERSION
from temcoco.clip_result import ClipResult, Status
from temcoco.errors import TemcocoError
from temcoco.job import JobConfig
from temcoco.model.base import FusionMethod
from temcoco.overlap import ChunkSpec
from temcoco.storage import results
from temcoco.storage.archive import ClipSource
from temcoco.storage.finished import FinishedClip
from temcoco.storage.fs import read_json, remove_tree, retrying, write_json
from temcoco.storage.identity import fingerprint
from temcoco.storage.layout import ClipLayout
from temcoco.workers import ingest
from temcoco.workers.encode_and_measure import encode_and_measure
from temcoco.workers.fuse_chunk import fuse_chunk
from temcoco.workers.fused_array import prepare_output
from temcoco.workers.stream_clip import stream_clip

log = logging.getLogger(__name__)

STATE_FIELDS = ("fingerprint", "video", "frames", "height", "width", "fps")


@dataclass(frozen=True)
class ClipRun:
    """What the driver passes with every call of one clip: where it goes, when it began (epoch s), this
    job's finished row of it, kept when the clip's inputs still have the identity it was made from, and
    whether a long clip is streamed (:mod:`temcoco.workers.stream_clip`) or staged and fanned out."""

    source: ClipSource
    layout: ClipLayout
    date: str
    began: float
    finished: FinishedClip | None = None
    stream: bool = False  # a clip longer than a chunk is streamed through this actor, not fanned out


@dataclass(frozen=True)
class Started:
    """A clip ingested with more than one chunk to fuse: the driver fans ``todo`` out, then finishes it."""

    ingested: ingest.Ingested
    todo: tuple[ChunkSpec, ...]


@dataclass(frozen=True)
class Done:
    """A clip whose row is written (or kept); ``result`` is what the job summary needs of it."""

    result: ClipResult
    chunks: int = 0  # chunks fused by this call
    frames_fused: int = 0


def start(run: ClipRun, job: JobConfig, method: FusionMethod, limits: ingest.Limits) -> Started | Done:
    """Fingerprint; keep, skip or ingest, plan; a clip with at most one chunk to fuse is completed here."""
    so = job.storage_options
    fp = input_identity(run.source, job)
    if run.finished is not None and run.finished.fingerprint == fp:
        return Done(run.finished.result)  # this job finished it from these inputs: its row stays as it is
    state = read_json(run.layout.state, so) if job.incremental else None
    if (state and state.get("job_id") != job.job_id  # an earlier job's: this job's own rows are never made skipped
            and state.get("fingerprint") == fp and state.get("pipeline") == PIPELINE_VERSION):
        return Done(publish(run, job, method, {
            "status": Status.SKIPPED, "note": f"unchanged since job {state['job_id']}",
            **{k: state.get(k) for k in STATE_FIELDS}}))
    ingested, inputs = ingest.staged(run.layout, fp, job.chunk, so), None
    if ingested is None:
        pair = ingest.open_pair(run.source, fp, job.chunk, so, limits, method.temporal_radius)
        short = ingest.decode_in_memory(pair)
        if short is None and run.stream:
            streamed = stream_clip(pair, run.layout, method, job.metrics, so)
            done = record(run, streamed.ingested, streamed.metrics, job, method, staged=False)
            return Done(done.result, streamed.chunks, streamed.frames_fused)
        staged = None if short else ingest.stage_to_zarr(pair, run.layout, so)
        ingested, inputs = (short.ingested, short.inputs) if short else (staged, None)
    todo = prepare_output(run.layout, ingested, method.temporal_radius, so)
    if inputs is None and len(todo) > 1:
        return Started(ingested, tuple(todo))
    frames = sum(fuse_chunk(run.layout, spec, fp, method, so, inputs) for spec in todo)
    return Done(finish(run, ingested, job, method, inputs).result, len(todo), frames)


def input_identity(source: ClipSource, job: JobConfig) -> str:
    """The clip's fingerprint: the listing identity discovery's listing gave, else its own listing, or
    with ``--verify-content`` the hash of its bytes (see :mod:`temcoco.storage.identity`)."""
    if source.identity and not job.verify_content:
        return source.identity
    return fingerprint(source, job.storage_options, job.verify_content)


def finish(run: ClipRun, ingested: ingest.Ingested, job: JobConfig, method: FusionMethod,
           inputs: ingest.Inputs | None = None) -> Done:
    """Encode and measure the fused clip, record its ``--incremental`` state, drop its staged inputs
    (``inputs``: the frames of a clip that was not staged) and write its row."""
    metrics = encode_and_measure(run.layout, ingested, job.storage_options, inputs, job.metrics)
    return record(run, ingested, metrics, job, method, staged=inputs is None)


def record(run: ClipRun, ingested: ingest.Ingested, metrics: dict, job: JobConfig, method: FusionMethod,
           staged: bool) -> Done:
    """The fused clip's ``--incremental`` state and its row, its staged inputs (if ``staged``) dropped."""
    row = {"status": Status.OK, "note": ingested.note or None, "fingerprint": ingested.fingerprint,
           "video": run.layout.fused_video, "frames": ingested.frames, "height": ingested.height,
           "width": ingested.width, "fps": ingested.fps,
           **{k: metrics.get(k) for k in results.SCHEMA.names if k in metrics}}
    _record_state(run.layout, row, job, method, staged)
    return Done(publish(run, job, method, row))


def _record_state(layout: ClipLayout, row: dict, job: JobConfig, method: FusionMethod, staged: bool) -> None:
    """The clip's ``--incremental`` state (retried; a failure fails the clip), then its staged inputs are
    dropped, marker first so no rerun trusts half-deleted inputs (a failure there is left to ``temcoco gc``)."""
    state = {"job_id": job.job_id, "pipeline": PIPELINE_VERSION, **{k: row.get(k) for k in STATE_FIELDS},
             "model_version": method.version, "method": method.name}
    try:
        retrying("its state", lambda: write_json(layout.state, state, job.storage_options), on=(OSError, TemcocoError))
    except TemcocoError as e:
        raise TemcocoError(f"fused, but could not record its state: {e}") from e
    if not staged:
        return
    try:
        remove_tree(layout.ingest_marker, job.storage_options)
        remove_tree(layout.staged_inputs, job.storage_options)
    except (OSError, TemcocoError) as e:
        log.warning("clip %s: staged inputs not removed (temcoco gc will): %s", layout.clip_id, e)


def publish(run: ClipRun, job: JobConfig, method: FusionMethod, fields: dict) -> ClipResult:
    """Write the clip's row (retried); returns what the job summary needs of it. A row that cannot be written
    makes the clip count as failed, with that reason. ``method`` may also be the driver's
    ``MethodInfo`` (the driver publishes the rows of clips that failed)."""
    source = run.source
    row = {"clip_id": source.clip_id, "method": method.name, "model_version": method.version,
           "ir": source.ir, "vi": source.vi, **fields,
           "seconds": time.time() - run.began, "finished_at": dt.datetime.now(dt.timezone.utc)}
    try:
        retrying("its metrics row", lambda: results.write_row(job.out, run.date, job.job_id, source.row_key, row,
                                                               job.storage_options), on=(OSError, TemcocoError))
    except TemcocoError as e:
        row.update(status=Status.FAILED, error=f"could not write its metrics row: {e}")
    return ClipResult.of_row(row)
