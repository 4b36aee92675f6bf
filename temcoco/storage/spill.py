"""Records sorted by a key in bounded memory: an external sort.

Records are buffered up to ``run_records``; a full buffer is sorted and spilled to a local
temporary file (one JSON array a line: plain data, never pickled); iterating merges the runs
and the buffer lazily. Memory holds one buffer, whatever the number of records; the runs are
removed by :meth:`SortedRecords.close` (or when the object is garbage-collected).
Discovery uses it so that an archive's listing never has to fit in memory.
"""

from __future__ import annotations

import heapq
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import Any

RUN_RECORDS = 20_000  # records a run: about 300 bytes each in memory for discovery's records


class SortedRecords:
    """Add records (tuples of JSON values) in any order; iterate them sorted by ``key``, any number of times."""

    def __init__(self, key: Callable[[tuple], Any], run_records: int | None = None) -> None:
        self._key = key
        self._run_records = run_records or RUN_RECORDS
        self._buffer: list[tuple] = []
        self._runs: list[str] = []
        self._dir: tempfile.TemporaryDirectory | None = None
        self._count = 0

    def add(self, record: tuple) -> None:
        self._buffer.append(record)
        self._count += 1
        if len(self._buffer) >= self._run_records:
            self._spill()

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[tuple]:
        self._buffer.sort(key=self._key)
        return heapq.merge(*(self._read(run) for run in self._runs), iter(self._buffer), key=self._key)

    def close(self) -> None:
        """Remove the spilled runs; the records are gone."""
        if self._dir is not None:
            self._dir.cleanup()
        self._dir, self._runs, self._buffer, self._count = None, [], [], 0

    def __enter__(self) -> SortedRecords:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _spill(self) -> None:
        self._dir = self._dir or tempfile.TemporaryDirectory(prefix="temcoco-sort-")
        self._buffer.sort(key=self._key)
        path = os.path.join(self._dir.name, f"{len(self._runs):06d}.jsonl")
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(record) + "\n" for record in self._buffer)  # ASCII: keeps lone surrogates
        self._runs.append(path)
        self._buffer = []

    @staticmethod
    def _read(path: str) -> Iterator[tuple]:
        with open(path, encoding="utf-8") as f:
            for line in f:
                yield tuple(json.loads(line))


def sort_records(records: Iterable[tuple], key: Callable[[tuple], Any], run_records: int | None = None) -> SortedRecords:
    """``records`` (read as a stream) in a :class:`SortedRecords`; its runs are dropped if reading them fails."""
    out = SortedRecords(key, run_records)
    try:
        for record in records:
            out.add(record)
    except BaseException:
        out.close()
        raise
    return out
