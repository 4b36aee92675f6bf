"""What ``temcoco metrics`` asks the metrics table, and how many of the answer's rows it shows.

Without ``--sql`` it shows the summary columns (those ``make demo`` shows, and a short error),
every row of the newest job first; ``--columns`` picks others, ``--all-columns`` takes every one,
``--job`` keeps one job's rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa

from temcoco.errors import TemcocoError
from temcoco.storage.results import TABLE_SCHEMA

SUMMARY_COLUMNS = ("clip_id", "job_id", "status", "frames", "seconds", "EN", "SSIM", "VIF", "Qabf", "flowD", "error")
ERROR_CHARS = 40  # the summary's error is cut to this many characters in a table (csv and json: whole)


@dataclass(frozen=True)
class MetricsView:
    """The SQL to run, and the columns a table shows shortened (characters)."""

    sql: str
    shorten: dict[str, int]


def metrics_view(sql: str | None, columns: str | None, all_columns: bool, job: str | None) -> MetricsView:
    """The view the options ask for (a one-line error when they contradict each other)."""
    if sql is not None:
        if columns or all_columns or job:
            raise TemcocoError("--sql cannot be combined with --columns, --all-columns or --job: put them in the SQL")
        return MetricsView(sql, {})
    if columns and all_columns:
        raise TemcocoError("--columns and --all-columns exclude each other")
    names = TABLE_SCHEMA.names if all_columns else _columns(columns) if columns else list(SUMMARY_COLUMNS)
    where = f"WHERE job_id = '{job.replace(chr(39), chr(39) * 2)}' " if job else ""
    selected = ", ".join(f'"{n}"' for n in names)
    newest_job_first = ("SELECT *, max(finished_at) OVER (PARTITION BY job_id) AS _job_end "
                        f"FROM metrics {where}")
    return MetricsView(f"SELECT {selected} FROM ({newest_job_first}) ORDER BY _job_end DESC NULLS LAST, "
                       "job_id DESC, clip_id", {} if columns or all_columns else {"error": ERROR_CHARS})


def _columns(text: str) -> list[str]:
    """``--columns a,b,c`` as the table's own names (any case); a one-line error naming unknown ones."""
    known = {n.lower(): n for n in TABLE_SCHEMA.names}
    asked = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in asked if c.lower() not in known]
    if unknown or not asked:
        raise TemcocoError(f"unknown column{'s' if len(unknown) > 1 else ''} {', '.join(unknown) or repr(text)}: "
                           f"choose from {', '.join(TABLE_SCHEMA.names)}")
    return [known[c.lower()] for c in asked]


@dataclass
class LimitedRows:
    """The rows of a query's batches, at most ``limit`` of them (None: all); once iterated,
    ``left_out`` is how many rows the limit left out (counted, not converted)."""

    batches: Iterator[pa.RecordBatch]
    limit: int | None
    left_out: int = 0

    def __iter__(self) -> Iterator[dict]:
        taken = 0
        for batch in self.batches:
            n = batch.num_rows if self.limit is None else min(batch.num_rows, self.limit - taken)
            if n:
                yield from batch.slice(0, n).to_pylist()
            taken += n
            self.left_out += batch.num_rows - n


def numeric_columns(schema: pa.Schema) -> set[str]:
    return {f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)}
