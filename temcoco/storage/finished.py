"""What a rerun of a job id keeps: the clips the job already finished, read with one query.

When a job id is run again, its rows are queried once (a listing of the metrics table and one
scan of the job's rows, however many clips) and spilled to local disk sorted by clip id, then
walked in step with discovery's clips (sorted the same way): the driver never asks the store
about one clip, and never holds every row. A clip is kept, untouched, when this job finished it
(``ok`` or ``skipped``) with the same model and the same sources, and its inputs' identity (see
:mod:`temcoco.storage.identity`) is the one its row was made from.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields

from temcoco.clip_result import ClipResult, Status
from temcoco.storage.archive import ClipSource
from temcoco.storage.fs import filesystem
from temcoco.storage.layout import metrics_table
from temcoco.storage.results import query_rows
from temcoco.storage.spill import SortedRecords, sort_records

FINISHED = (Status.OK, Status.SKIPPED)  # a row with one of these statuses is a clip this job has done


@dataclass(frozen=True)
class FinishedClip:
    """This job's row of a finished clip: what deciding to keep it, and the job summary, need."""

    clip_id: str
    status: str
    model_version: str | None
    fingerprint: str | None
    ir: str | None
    vi: str | None
    frames: int | None
    seconds: float | None
    flowD_seam: float | None
    flowD_inner: float | None

    def made_from(self, source: ClipSource, model_version: str) -> bool:
        """Whether this row is of ``source``'s entry with the same sources and model (its inputs' identity aside)."""
        return (source.line is None and (self.ir, self.vi) == (source.ir, source.vi)
                and self.model_version == model_version)

    @property
    def result(self) -> ClipResult:
        """What the job summary needs of the row, marked as kept."""
        return ClipResult(self.clip_id, Status(self.status), None, self.frames, self.seconds, self.flowD_seam,
                          self.flowD_inner, kept=True)


COLUMNS = tuple(f.name for f in fields(FinishedClip))


def finished_clips(out: str, job_id: str, storage_options: dict | None = None) -> SortedRecords:
    """The finished rows of ``job_id`` under ``out`` (as tuples of :data:`COLUMNS`), sorted by clip id in
    local files: one query of the table (none at all when it does not exist yet). Close it when done."""
    fs, root = filesystem(metrics_table(out), storage_options)
    if not fs.exists(root):
        return sort_records((), key=_clip_id)
    statuses = ", ".join(f"'{s}'" for s in FINISHED)
    sql = f"SELECT {', '.join(COLUMNS)} FROM metrics WHERE job_id = '{job_id}' AND status IN ({statuses})"  # ids are checked
    return sort_records((tuple(row[c] for c in COLUMNS) for row in query_rows(out, sql, storage_options)), key=_clip_id)


def _clip_id(record: tuple) -> str:
    return record[0]


def with_finished(clips: Iterable[ClipSource], finished: Iterable[tuple]) -> Iterator[tuple[ClipSource, FinishedClip | None]]:
    """Each clip with this job's finished row of its clip id, or None; both streams sorted by clip id."""
    rows = iter(finished)
    row = next(rows, None)
    for source in clips:
        while row is not None and row[0] < source.clip_id:
            row = next(rows, None)
        yield source, FinishedClip(*row) if row is not None and row[0] == source.clip_id else None
