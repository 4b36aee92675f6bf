"""Where everything of one clip lives under OUT (see DESIGN.md 'Output layout').

Results are keyed by what made them: ``<variant>`` is the model version of the method that
fused them, so jobs with different methods, models or weights never touch each other's
files. A clip's name in a path is its :func:`~temcoco.storage.keys.clip_key`.
"""

from __future__ import annotations

from dataclasses import dataclass

from temcoco.storage.fs import join
from temcoco.storage.keys import clip_key


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
        return join(self.out, "frames", self.variant, f"{self.key}.zarr")

    @property
    def chunk_commits(self) -> str:
        """Folder of commit markers, one per fused chunk (see :meth:`commit_marker`)."""
        return join(self.out, "frames", self.variant, f"{self.key}.commits")

    def commit_marker(self, start: int) -> str:
        """Written last by the writer of the fused chunk whose core frames start at ``start``."""
        return join(self.chunk_commits, f"{start:012d}")

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
        return join(self.out, "reports", self.job_id, f"{self.key}.json")

    @property
    def state(self) -> str:
        """Written when the clip is done: fingerprint, pipeline version and job id (for ``--incremental``)."""
        return join(self.out, "state", self.variant, f"{self.key}.json")


def staging(out: str, job_id: str) -> str:
    """The job's staging folder (removed by ``temcoco gc`` once the job is no longer running)."""
    return join(out, "staging", job_id)


def fused_folder(out: str, variant: str) -> str:
    """The fused videos of one model version."""
    return join(out, "fused", variant)


def jobs_folder(out: str) -> str:
    """Job summaries and leases (see :mod:`temcoco.storage.jobs`)."""
    return join(out, "jobs")


def job_summary(out: str, job_id: str) -> str:
    return join(jobs_folder(out), f"{job_id}.json")


def job_lease(out: str, job_id: str) -> str:
    """Held by the live run of a job id (see :mod:`temcoco.storage.lease`)."""
    return join(jobs_folder(out), f"{job_id}.lease")


def job_report(out: str, job_id: str) -> str:
    """The job's HTML report."""
    return join(out, "reports", f"{job_id}.html")
