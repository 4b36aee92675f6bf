"""Rows for other programs: CSV (lines end with ``\\n``), JSON (one array) and JSON lines (one object
a line). Values are written literally; rows are written as they come, never all held at once."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import TextIO

FORMATS = ("table", "csv", "json", "jsonl")  # "table" is for people: temcoco.termtable


def write_rows(format: str, columns: list[str], rows: Iterable[dict], stream: TextIO) -> None:
    """Write ``rows`` (dicts keyed by ``columns``) to ``stream`` as ``csv``, ``json`` or ``jsonl``."""
    if format == "csv":
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([row[c] for c in columns] for row in rows)
    elif format == "jsonl":
        for row in rows:
            stream.write(_json(row) + "\n")
    elif format == "json":
        stream.write("[")
        for n, row in enumerate(rows):
            stream.write((", " if n else "") + _json(row))
        stream.write("]\n")
    else:
        raise ValueError(f"not a row format: {format}")


def _json(row: dict) -> str:
    return json.dumps(row, default=str, ensure_ascii=False)
