"""What one clip came to, as the driver and the job summary see it: a :class:`ClipResult` with a
:class:`Status`, from the actor that wrote the clip's row to the flow's tally and the CLI."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Status(enum.StrEnum):
    """A clip's status: the ``status`` column of its row (the values are the strings rows hold)."""

    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"  # ``--incremental``: unchanged since another job fused it


@dataclass(frozen=True)
class ClipResult:
    """The fields of a clip's row that the job summary and a batch's table need."""

    clip_id: str
    status: Status
    error: str | None = None
    frames: int | None = None
    seconds: float | None = None
    flowD_seam: float | None = None
    flowD_inner: float | None = None
    kept: bool = False  # this job had finished the clip in an earlier run: its row was left as it was

    @classmethod
    def of_row(cls, row: dict) -> ClipResult:
        return cls(row["clip_id"], Status(row["status"]), row.get("error"), row.get("frames"), row.get("seconds"),
                   row.get("flowD_seam"), row.get("flowD_inner"))

    def table_row(self) -> dict:
        """The clip's line in its batch's Prefect table."""
        return {"clip_id": self.clip_id, "status": self.status.value, "frames": self.frames, "seconds": self.seconds,
                "error": self.error}
