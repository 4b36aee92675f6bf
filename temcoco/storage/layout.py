"""Every path under OUT (see DESIGN.md 'Output layout'): no other module joins a name onto OUT.

Results are keyed by what made them: ``<variant>`` is the model version of the method that
fused them, so jobs with different methods, models or weights never touch each other's
files. A clip's name in a path is its :func:`~temcoco.storage.keys.clip_key`.

The metrics table's paths take the table's folder (:func:`metrics_table`) as a URL or as a path
in its filesystem: the table is listed and read through fsspec paths.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from temcoco.storage.fs import join
from temcoco.storage.keys import clip_key

COMMIT_SEPARATOR = "-"  # in a commit marker's name: <start>-<fingerprint>-<chunk length>
# OUT's top folders: fused videos, fused frames and commit markers, --incremental state, reports and clip
# previews, job summaries and leases, the metrics table; staged inputs
FUSED, FRAMES, STATE, REPORTS = "fused", "frames", "state", "reports"
JOBS, METRICS, STAGING = "jobs", "metrics", "staging"
JOB_FILES = {"summary": ".json", "lease": ".lease"}  # the files of a job id in the jobs folder, by their suffix


@dataclass(frozen=True)
class ClipLayout:
    """Locations of one clip's data under the output root ``out``, for the job ``job_id`` fusing
    with the model version ``variant``.

    Staged inputs are per job (each job is the single writer of its copy); fused frames and
    their chunk commit markers are per variant and clip, shared by jobs that fuse the same
    inputs with the same model (so a resumed or concurrent job reuses them).
    """

    out: str
    clip_id: str
    job_id: str
    variant: str

    @property
    def key(self) -> str:
        return clip_key(self.clip_id)

    @property
    def fused_video(self) -> str:
        """The fused H.264 video."""
        return join(fused_folder(self.out, self.variant), f"{self.key}.mp4")

    @property
    def fused_frames(self) -> str:
        """The fused frames: zarr array (T, H, W, 3) uint8."""
        return join(frames_folder(self.out, self.variant), f"{self.key}.zarr")

    @property
    def chunk_commits(self) -> str:
        """Folder of commit markers, one per fused chunk (see :meth:`commit_marker`)."""
        return join(frames_folder(self.out, self.variant), f"{self.key}.commits")

    def commit_marker(self, start: int, fingerprint: str, chunk: int) -> str:
        """Written after the frames of the fused chunk whose core frames start at ``start``, for the inputs
        ``fingerprint`` fused in chunks of ``chunk`` frames; its name says all three (see :func:`commit_start`)."""
        return join(self.chunk_commits, COMMIT_SEPARATOR.join((f"{start:012d}", fingerprint, str(chunk))))

    @property
    def staged_inputs(self) -> str:
        """The decoded, aligned inputs: zarr group with ``ir`` (T, H, W, 1) and ``vi`` (T, H, W, 3)."""
        return join(staging(self.out, self.job_id), f"{self.key}.zarr")

    @property
    def ingest_marker(self) -> str:
        """Written last by ingest: the staged inputs are complete (JSON with fingerprint and frame count)."""
        return join(staging(self.out, self.job_id), f"{self.key}.ingest.json")

    @property
    def preview(self) -> str:
        """The clip's part of the job report: frame strips and per-frame metric series (JSON)."""
        return join(reports_folder(self.out), self.job_id, f"{self.key}.json")

    @property
    def state(self) -> str:
        """Written when the clip is done: fingerprint, pipeline version and job id (for ``--incremental``)."""
        return join(self.out, STATE, self.variant, f"{self.key}.json")


def commit_start(name: str, fingerprint: str, chunk: int) -> int | None:
    """The start frame of the chunk that the commit marker named ``name`` vouches for, when it was made for
    the inputs ``fingerprint`` in chunks of ``chunk`` frames; None for any other name (temp files too)."""
    suffix = f"{COMMIT_SEPARATOR}{fingerprint}{COMMIT_SEPARATOR}{chunk}"
    start = name.removesuffix(suffix)
    return int(start) if start != name and start.isdigit() else None


def staging_root(out: str) -> str:
    """Holds one staging folder per job id (see :func:`staging`)."""
    return join(out, STAGING)


def staging(out: str, job_id: str) -> str:
    """The job's staging folder (removed by ``temcoco gc`` once the job is no longer running)."""
    return join(staging_root(out), job_id)


def fused_folder(out: str, variant: str) -> str:
    """The fused videos of one model version."""
    return join(out, FUSED, variant)


def frames_folder(out: str, variant: str) -> str:
    """The fused frames (zarr arrays) and their chunk commit markers of one model version."""
    return join(out, FRAMES, variant)


def reports_folder(out: str) -> str:
    """The job reports (HTML), and per job a folder of its clips' previews."""
    return join(out, REPORTS)


def jobs_folder(out: str) -> str:
    """Job summaries and leases (see :mod:`temcoco.storage.jobs`)."""
    return join(out, JOBS)


def job_summary(out: str, job_id: str) -> str:
    """The job's summary (JSON: running, then finished or failed; see :mod:`temcoco.storage.jobs`)."""
    return join(jobs_folder(out), job_id + JOB_FILES["summary"])


def job_lease(out: str, job_id: str) -> str:
    """Held by the live run of a job id (see :mod:`temcoco.storage.lease`)."""
    return join(jobs_folder(out), job_id + JOB_FILES["lease"])


def job_file(name: str) -> tuple[str, str] | None:
    """(job id, ``"summary"`` or ``"lease"``) of the file named ``name`` in :func:`jobs_folder` (see
    :func:`job_summary`, :func:`job_lease`); None for any other name."""
    for kind, suffix in JOB_FILES.items():
        if name.endswith(suffix):
            return name.removesuffix(suffix), kind
    return None


def job_report(out: str, job_id: str) -> str:
    """The job's HTML report."""
    return join(reports_folder(out), f"{job_id}.html")


def metrics_table(out: str) -> str:
    """The metrics table (see :mod:`temcoco.storage.results`): loose rows, parts and their manifest."""
    return join(out, METRICS)


def loose_row(table: str, date: str, job_id: str, row_key: str) -> str:
    """The loose row file of the clip whose row key is ``row_key`` in job ``job_id`` of ``date``, in the
    table folder ``table``: hive-partitioned, named by a hash of the row key (so a rerun replaces it)."""
    name = hashlib.sha1(row_key.encode()).hexdigest()[:16]
    return join(table, f"date={date}", f"job_id={job_id}", f"{name}.parquet")


def parse_loose_row(table: str, path: str) -> tuple[str, str, str] | None:
    """(date, job id, file stem) of the loose row file ``path`` under ``table`` (see :func:`loose_row`), or
    None for any other file (parts, the manifest, temp files)."""
    parts = path[len(table.rstrip("/")) + 1:].split("/")
    if len(parts) != 3:
        return None
    date, job, name = parts
    if not (date.startswith("date=") and job.startswith("job_id=") and name.endswith(".parquet")) or name[:1] in "._":
        return None
    return date.removeprefix("date="), job.removeprefix("job_id="), name.removesuffix(".parquet")


def table_parts(table: str) -> str:
    """The folder of the table's compacted parts (its ``_`` hides it from hive partition discovery)."""
    return join(table, "_parts")


def table_part(table: str, name: str) -> str:
    """The compacted part named ``name`` (``part-<content hash>.parquet``)."""
    return join(table_parts(table), name)


def table_manifest(table: str) -> str:
    """The compaction manifest: which parts hold compacted rows (its atomic write is a compaction's commit)."""
    return join(table, "_compacted.json")


def published_folders(out: str) -> tuple[str, ...]:
    """The folders under OUT that atomic writes publish into (where a killed writer may leave a temp file);
    staging is not one of them."""
    return tuple(join(out, top) for top in (METRICS, JOBS, STATE, REPORTS, FUSED, FRAMES))
