"""What the CLI says about jobs: the summary ``submit`` prints when a job ends (and ``temcoco jobs
OUT --job ID`` prints again later), and the one-line-per-job list of ``temcoco jobs OUT``."""

from __future__ import annotations

import shlex

from temcoco.storage.jobs import JobRecord, JobSummary
from temcoco.storage.layout import fused_folder, job_report
from temcoco.termtable import TextTable, cell

JOB_COLUMNS = ("job", "started", "duration", "method", "variant", "clips", "ok", "failed", "skipped", "status")
NUMERIC = {"duration", "clips", "ok", "failed", "skipped"}


def summary_lines(summary: JobSummary, out: str) -> list[str]:
    """The finished job's summary: counts, failed clips with their reasons (the first ones the summary
    kept), the query that lists the rest, and where its videos, report and metrics are."""
    seams = f", seam ratio {summary.seam_ratio:.3f}" if summary.seam_ratio is not None else ""
    kept = f" (kept {summary.kept} already done)" if summary.kept else ""
    lines = [f"job {summary.job_id}: {summary.ok} ok, {summary.failed} failed, {summary.skipped} skipped "
             f"of {summary.clips} clips{kept}, {summary.frames} frames in {summary.seconds:.1f} s "
             f"({summary.method} {summary.model_version}){seams}"]
    lines += [f"  failed {clip}: {reason}" for clip, reason in summary.failures.items()]
    if summary.failed > len(summary.failures):
        query = f"SELECT clip_id, error FROM metrics WHERE job_id = '{summary.job_id}' AND status = 'failed'"
        lines.append(f"  … and {summary.failed - len(summary.failures)} more failed clips: "
                     f"temcoco metrics {shlex.quote(out)} --sql \"{query}\"")  # job ids are safe in quotes
    lines.append(f"videos: {fused_folder(out, summary.model_version)}/  report: {job_report(out, summary.job_id)}  "
                 f"metrics: temcoco metrics {shlex.quote(out)} --job {summary.job_id}")
    return lines


def state_lines(job: JobRecord, out: str) -> list[str]:
    """A job without a finished summary: what it is doing or what stopped it, and what to do next."""
    started = f"started {job.started:%Y-%m-%d %H:%M} UTC" if job.started else "start unknown"
    clips = f", {job.clips} clips" if job.clips is not None else ""
    rows = f"its rows so far: temcoco metrics {shlex.quote(out)} --job {job.job_id}"
    if job.status == "running":
        return [f"job {job.job_id}: running ({started}{clips}); {rows}"]
    if job.status == "failed":
        return [f"job {job.job_id}: failed ({started}{clips}): {job.error}"]
    archive = shlex.quote(job.archive) if job.archive else "ARCHIVE"
    return [f"job {job.job_id}: killed ({started}, stopped after {duration(job.seconds) or 'an unknown time'}{clips}); "
            f"{rows}",
            f"  resume it: temcoco submit {archive} --out {shlex.quote(out)} --job-id {job.job_id}"]


def jobs_table(jobs: list[JobRecord]) -> TextTable:
    return TextTable(list(JOB_COLUMNS), [_job_cells(j) for j in jobs], NUMERIC)


def _job_cells(job: JobRecord) -> list[str]:
    s = job.summary
    status = f"exit {job.exit_code}" if job.exit_code is not None else job.status
    counts = (s.ok, s.failed, s.skipped) if s else (None, None, None)
    return [job.job_id, f"{job.started:%Y-%m-%d %H:%M}" if job.started else "", duration(job.seconds),
            cell(s.method if s else None), cell(s.model_version if s else None), cell(job.clips),
            *(cell(n) for n in counts), status]


def duration(seconds: float | None) -> str:
    """``seconds`` as ``42 s``, ``12m05s`` or ``3h02m``; nothing when unknown."""
    if seconds is None:
        return ""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"
