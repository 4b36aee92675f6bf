"""Where everything of one clip lives under OUT (see DESIGN.md 'Output layout')."""

from __future__ import annotations

from dataclasses import dataclass

from temcoco.storage.fs import join


@dataclass(frozen=True)
class ClipLayout:
    """Locations of one clip's data under the output root ``out``, for the job ``job_id``.

    Aligned inputs are staged per job (each job is the single writer of its copy); fused
    frames and their commit markers are per clip and shared by jobs that fuse the same
    inputs with the same model version (so a resumed or concurrent job reuses them).
    """

    out: str
    clip_id: str
    job_id: str

    @property
    def video(self) -> str:
        """Fused H.264 video."""
        return join(self.out, "fused", f"{self.clip_id}.mp4")

    @property
    def fused(self) -> str:
        """Fused frames, zarr array (T, H, W, 3) uint8."""
        return join(self.out, "frames", f"{self.clip_id}.zarr")

    @property
    def inputs(self) -> str:
        """Aligned inputs, zarr group with arrays ``ir`` (T, H, W, 1) and ``vi`` (T, H, W, 3)."""
        return join(self.out, "staging", self.job_id, f"{self.clip_id}.zarr")

    @property
    def ingest_marker(self) -> str:
        """Written last by ingest: the inputs are complete (JSON with fingerprint and frame count)."""
        return join(self.out, "staging", self.job_id, f"{self.clip_id}.ingest.json")

    def commit_marker(self, start: int) -> str:
        """Written last by the writer of fused core frames starting at ``start``."""
        return join(self.commits, f"{start:012d}")

    @property
    def commits(self) -> str:
        return join(self.out, "frames", f"{self.clip_id}.commits")

    @property
    def preview(self) -> str:
        """The clip's part of the job report: frame strips and per-frame metric series (JSON)."""
        return join(self.out, "reports", self.job_id, f"{self.clip_id}.json")

    @property
    def state(self) -> str:
        """Written when the clip is done: fingerprint, method version and its metrics row."""
        return join(self.out, "state", f"{self.clip_id}.json")
