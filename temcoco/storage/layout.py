"""Where everything of one clip lives under OUT (see DESIGN.md 'Output layout')."""

from __future__ import annotations

from dataclasses import dataclass

from temcoco.storage.fs import join


@dataclass(frozen=True)
class ClipLayout:
    """Locations of one clip's data under the output root ``out``, for the job ``job_id``.

    Staged inputs are per job (each job is the single writer of its copy); fused frames and
    their chunk commit markers are per clip and shared by jobs that fuse the same inputs with
    the same model version (so a resumed or concurrent job reuses them).
    """

    out: str
    clip_id: str
    job_id: str

    @property
    def fused_video(self) -> str:
        """The fused H.264 video."""
        return join(self.out, "fused", f"{self.clip_id}.mp4")

    @property
    def fused_frames(self) -> str:
        """The fused frames: zarr array (T, H, W, 3) uint8."""
        return join(self.out, "frames", f"{self.clip_id}.zarr")

    @property
    def chunk_commits(self) -> str:
        """Folder of commit markers, one per fused chunk (see :meth:`commit_marker`)."""
        return join(self.out, "frames", f"{self.clip_id}.commits")

    def commit_marker(self, start: int) -> str:
        """Written last by the writer of the fused chunk whose core frames start at ``start``."""
        return join(self.chunk_commits, f"{start:012d}")

    @property
    def staged_inputs(self) -> str:
        """The decoded, aligned inputs: zarr group with ``ir`` (T, H, W, 1) and ``vi`` (T, H, W, 3)."""
        return join(self.out, "staging", self.job_id, f"{self.clip_id}.zarr")

    @property
    def ingest_marker(self) -> str:
        """Written last by ingest: the staged inputs are complete (JSON with fingerprint and frame count)."""
        return join(self.out, "staging", self.job_id, f"{self.clip_id}.ingest.json")

    @property
    def preview(self) -> str:
        """The clip's part of the job report: frame strips and per-frame metric series (JSON)."""
        return join(self.out, "reports", self.job_id, f"{self.clip_id}.json")

    @property
    def state(self) -> str:
        """Written when the clip is done: fingerprint, model version and job id (for ``--incremental``)."""
        return join(self.out, "state", f"{self.clip_id}.json")
