"""The jobs under OUT as their files tell them: ``OUT/jobs/<id>.json`` and ``OUT/jobs/<id>.lease``.

A run holds its job id's lease while it lasts (:mod:`temcoco.storage.lease`) and writes its summary
twice: ``running`` once its clips are known, then ``finished`` (counts, timings, the first failures)
or ``failed`` (a job-level error). So a summary that says ``running`` is a running job while its lease
is live, and a killed one otherwise; a killed run's last sign of life is its lease's last renewal.
"""

from __future__ import annotations

import datetime as dt
import json
import posixpath
import time
from dataclasses import asdict, dataclass, field, fields

from temcoco.errors import TemcocoError
from temcoco.storage.fs import filesystem, is_temp, write_json
from temcoco.storage.layout import job_file, job_summary, jobs_folder
from temcoco.storage.lease import TTL, is_live


@dataclass(frozen=True)
class JobSummary:
    """What a finished job did (``OUT/jobs/<id>.json`` with status ``finished``)."""

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
    failures: dict[str, str]  # the first failed clips in clip order and their reasons (all are metrics rows)
    versions: dict[str, str] = field(default_factory=dict)
    work_by_node: dict[str, dict[str, int]] = field(default_factory=dict)
    seam_ratio: float | None = None  # flowD at chunk boundaries / flowD inside chunks (1.0: seams invisible)
    started: str | None = None  # ISO 8601 UTC; summaries of earlier versions lack it
    kept: int = 0  # clips (counted in ok and skipped) that an earlier run of this job id had finished: not redone

    @classmethod
    def from_json(cls, data: dict) -> JobSummary:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def exit_code(self) -> int:
        return 3 if self.failed else 0


@dataclass(frozen=True)
class JobRecord:
    """One job under OUT: its state derived from its summary and its lease."""

    job_id: str
    status: str  # finished, failed (a job-level error), running or killed
    started: dt.datetime | None
    seconds: float | None  # finished: the run's time; running: so far; killed: until its last sign of life
    clips: int | None
    archive: str | None
    error: str | None = None  # a failed job's reason
    summary: JobSummary | None = None  # a finished job's

    @property
    def exit_code(self) -> int | None:
        """What ``submit`` exited with: 0 or 3 for a finished job, 2 for a failed one, None while none."""
        if self.summary is not None:
            return self.summary.exit_code
        return 2 if self.status == "failed" else None


def now_utc() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def write_running(out: str, job_id: str, date: str, started: str, archive: str, clips: int,
                  storage_options: dict | None = None) -> None:
    write_json(job_summary(out, job_id), {"job_id": job_id, "date": date, "started": started, "status": "running",
                                          "archive": archive, "clips": clips}, storage_options)


def write_finished(out: str, summary: JobSummary, archive: str, storage_options: dict | None = None) -> None:
    write_json(job_summary(out, summary.job_id), {**asdict(summary), "status": "finished", "archive": archive,
                                                  "out": out}, storage_options)


def write_failed(out: str, job_id: str, date: str, started: str, archive: str, clips: int, error: str,
                 storage_options: dict | None = None) -> None:
    write_json(job_summary(out, job_id), {"job_id": job_id, "date": date, "started": started, "status": "failed",
                                          "archive": archive, "clips": clips, "error": error}, storage_options)


def list_jobs(out: str, storage_options: dict | None = None) -> list[JobRecord]:
    """Every job under ``out``, newest first (one listing and one batched read of ``OUT/jobs``)."""
    fs, folder = filesystem(jobs_folder(out), storage_options)
    try:
        names = [posixpath.basename(p) for p in fs.ls(folder, detail=False)]
    except (FileNotFoundError, NotADirectoryError):
        names = []
    names = [n for n in names if not is_temp(n) and not n.startswith((".", "_")) and job_file(n)]
    if not names:
        raise TemcocoError(f"no jobs under {out}: run `temcoco submit ARCHIVE --out {out}` first")
    texts = fs.cat([posixpath.join(folder, n) for n in names], on_error="omit")
    files = {job_file(posixpath.basename(path)): _parse(text) for path, text in texts.items()}  # (id, kind): content
    ids = sorted({job_id for job_id, _ in files})
    jobs = [_record(j, files.get((j, "summary")), files.get((j, "lease"))) for j in ids]
    return sorted(jobs, key=_start_and_id, reverse=True)


def read_job(out: str, job_id: str, storage_options: dict | None = None) -> JobRecord:
    for job in list_jobs(out, storage_options):
        if job.job_id == job_id:
            return job
    raise TemcocoError(f"no job {job_id!r} under {out}: `temcoco jobs {out}` lists them")


def _parse(text: bytes) -> dict | None:
    try:
        value = json.loads(text)
    except ValueError:  # a file some other tool left: not a job's
        return None
    return value if isinstance(value, dict) else None


def _record(job_id: str, saved: dict | None, lease: dict | None) -> JobRecord:
    """The job's state: a live lease means running, whatever an earlier run's summary says."""
    saved = saved or {}
    started = _time(saved.get("started"))
    if is_live(lease):
        status, seconds = "running", _since(started, time.time())
    elif saved.get("status") in ("finished", "failed"):
        status, seconds = saved["status"], saved.get("seconds")
    else:  # a summary that says running, or only a lease: its run is gone
        last_renewal = float(lease["expires"]) - TTL if lease and "expires" in lease else None
        status, seconds = "killed", _since(started, last_renewal)
    summary = JobSummary.from_json(saved) if status == "finished" else None
    return JobRecord(job_id, status, started or _time(saved.get("date")), seconds, saved.get("clips"),
                     saved.get("archive"), saved.get("error"), summary)


def _time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _since(started: dt.datetime | None, until: float | None) -> float | None:
    return None if started is None or until is None else max(0.0, until - started.timestamp())


def _start_and_id(job: JobRecord) -> tuple[float, str]:
    """Sorted newest first by this key (then by id: default ids are start times); jobs of unknown start last."""
    return (job.started.timestamp() if job.started else float("-inf"), job.job_id)
