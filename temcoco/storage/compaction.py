"""Compaction of the metrics table: loose rows folded into a few large parts (DESIGN.md 'Output layout').

Each finished clip publishes one loose row file; a night of 60,000 clips would leave 60,000 files,
which no query over object storage can list in useful time. When a job ends, :func:`compact` folds
the loose rows of every job that no live run holds into parts of ``ROWS_PER_PART`` rows:

1. list the table, then read the manifest (``OUT/metrics/_compacted.json``);
2. read the loose rows to fold, and the parts to rewrite: the last part when it is not full, and
   every part holding a row that a folded loose row replaces (same job and row key: a resumed job);
3. write the merged rows, sorted by date, job id and row key, as new parts named by their content
   hash, under ``OUT/metrics/_parts/`` (a name starting with ``_``: invisible until named);
4. publish the new manifest in one atomic write: the commit;
5. delete the folded loose rows, then the parts no manifest names any more (those the commit
   replaced are kept until the next one, for queries that read the previous manifest).

Readers (:func:`temcoco.storage.results.dataset`) read the parts the manifest names, less the rows a
loose row replaces, plus every loose row; so a query at any moment sees every row once. Killed at any
step and run again, a compaction gives the same parts: the rows are the same and sorted, and a part's
name is its content's hash. Only one compaction runs at a time under an OUT (a lease, as for job ids).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from dataclasses import dataclass

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from temcoco.storage import layout, results
from temcoco.storage.fs import filesystem, write_bytes
from temcoco.storage.lease import JobLease, is_held
from temcoco.storage.results import PART_SCHEMA, ROW, SCHEMA, Listing, LooseRow

ROWS_PER_PART = 100_000
LEASE = "_compaction"  # lease name under OUT/jobs: one compaction at a time (not a valid job id)


@dataclass(frozen=True)
class Compacted:
    """What one compaction did."""

    folded: int  # loose rows folded into parts
    written: int  # parts written
    parts: int  # parts the manifest names now
    deleted: int  # files deleted (folded rows, replaced parts)


def compact(out: str, storage_options: dict | None = None, own_job: str | None = None,
            rows_per_part: int = ROWS_PER_PART) -> Compacted:
    """Fold the loose rows of every job no live run holds, and of ``own_job`` (the caller's), into parts."""
    with JobLease(out, LEASE, storage_options):
        url = layout.metrics_table(out)
        fs, root = filesystem(url, storage_options)
        listing = results.list_table(fs, root)
        folded = foldable(out, listing, own_job, storage_options)
        manifest, written = listing.manifest, 0
        if folded:
            rewrite = parts_to_rewrite(listing, folded, rows_per_part)
            merged = merge(read_parts(fs, listing, rewrite), read_loose(fs, folded), folded)
            new = write_parts(url, merged, rows_per_part, storage_options)
            kept = [p for p in listing.manifest["parts"] if p not in rewrite]
            names = {p["name"] for p in new}
            manifest = {"parts": kept + new, "superseded": [p["name"] for p in rewrite if p["name"] not in names]}
            publish(url, manifest, storage_options)
            written = len(new)
        deleted = delete(fs, [r.path for r in folded] + orphans(listing, manifest))
        return Compacted(folded=len(folded), written=written, parts=len(manifest["parts"]), deleted=deleted)


def compact_after_job(out: str, job_id: str, storage_options: dict | None, log: logging.Logger | logging.LoggerAdapter) -> None:
    """Compact at the end of ``job_id``. A failure is logged, never raised: the loose rows stay queryable
    and the next compaction folds them."""
    try:
        done = compact(out, storage_options, own_job=job_id)
        log.info("metrics compaction: %d rows folded into %d new parts (%d in all)", done.folded, done.written, done.parts)
    except Exception as e:  # noqa: BLE001 - compaction is an optimisation: it never fails the job
        log.warning("metrics compaction skipped, the rows stay as they are: %s", e)


def foldable(out: str, listing: Listing, own_job: str | None, storage_options: dict | None) -> list[LooseRow]:
    """The loose rows of jobs that no live run holds (a live run may still rewrite them), and of ``own_job``."""
    live = {j: j != own_job and is_held(out, j, storage_options) for j in {r.job_id for r in listing.loose}}
    return [r for r in listing.loose if not live[r.job_id]]


def parts_to_rewrite(listing: Listing, folded: list[LooseRow], rows_per_part: int) -> list[dict]:
    """The last part when not full, and every part of a job with a folded row (which may replace one of its rows)."""
    parts = listing.manifest["parts"]
    jobs = {(r.date, r.job_id) for r in folded}
    last = parts[-1]["name"] if parts and parts[-1]["rows"] < rows_per_part else None
    return [p for p in parts if p["name"] == last or jobs & {tuple(j) for j in p["jobs"]}]


LOOSE_BATCH = 1_000  # loose row files read and combined at a time


def read_parts(fs: fsspec.AbstractFileSystem, listing: Listing, parts: list[dict]) -> pa.Table:
    tables = [pq.read_table(io.BytesIO(fs.cat_file(listing.part_path(p["name"]))), schema=PART_SCHEMA) for p in parts]
    return pa.concat_tables([PART_SCHEMA.empty_table(), *tables])


def read_loose(fs: fsspec.AbstractFileSystem, rows: list[LooseRow]) -> pa.Table:
    """The loose rows' files as one table of PART_SCHEMA, ``LOOSE_BATCH`` files at a time (a one-row
    table costs tens of kB of buffers until combined: 20,000 at once took 1.4 GB)."""
    batches = [_read_loose_batch(fs, rows[i: i + LOOSE_BATCH]) for i in range(0, len(rows), LOOSE_BATCH)]
    return pa.concat_tables([PART_SCHEMA.empty_table(), *batches])


def _read_loose_batch(fs: fsspec.AbstractFileSystem, rows: list[LooseRow]) -> pa.Table:
    """Some loose rows' files (fetched together: concurrently from object stores) as one compact table."""
    data = fs.cat([r.path for r in rows])
    tables = [_row_table(data[r.path]) for r in rows]
    counts = [t.num_rows for t in tables]

    def column(values: list[str]) -> pa.Array:
        return pa.array([v for v, n in zip(values, counts) for _ in range(n)], pa.string())

    table = pa.concat_tables(tables)
    for name, values in (("date", [r.date for r in rows]), ("job_id", [r.job_id for r in rows]), (ROW, [r.key for r in rows])):
        table = table.append_column(name, column(values))
    return table.select(PART_SCHEMA.names).combine_chunks()


def _row_table(data: bytes) -> pa.Table:
    """One row file as a table of SCHEMA (about 1 ms: tiny files are read without threads or pre-buffering)."""
    table = pq.ParquetFile(pa.BufferReader(data), pre_buffer=False).read(use_threads=False)
    return table if table.schema.equals(SCHEMA) else table.select(SCHEMA.names).cast(SCHEMA)


def merge(parts: pa.Table, loose: pa.Table, folded: list[LooseRow]) -> pa.Table:
    """The parts' rows less those the folded rows replace, plus the folded rows; sorted, so a rerun writes the same bytes."""
    replaced = {f"{r.date}/{r.job_id}/{r.key}" for r in folded}
    merged = pa.concat_tables([results.without(parts, replaced), loose])
    return merged.sort_by([("date", "ascending"), ("job_id", "ascending"), (ROW, "ascending")])


def write_parts(url: str, table: pa.Table, rows_per_part: int, storage_options: dict | None) -> list[dict]:
    """Write ``table`` as parts of ``rows_per_part`` rows named by their content hash; their manifest entries."""
    entries = []
    for start in range(0, table.num_rows, rows_per_part):
        part = table.slice(start, rows_per_part)
        buf = io.BytesIO()
        pq.write_table(part, buf, compression="zstd", row_group_size=rows_per_part)
        data = buf.getvalue()
        name = f"part-{hashlib.blake2b(data, digest_size=10).hexdigest()}.parquet"
        write_bytes(layout.table_part(url, name), data, storage_options)
        jobs = part.group_by(["date", "job_id"]).aggregate([]).sort_by([("date", "ascending"), ("job_id", "ascending")])
        entries.append({"name": name, "rows": part.num_rows, "jobs": [[d, j] for d, j in zip(
            jobs["date"].to_pylist(), jobs["job_id"].to_pylist())]})
    return entries


def publish(url: str, manifest: dict, storage_options: dict | None) -> None:
    """The commit: the manifest of the metrics table at ``url``, in one atomic write."""
    write_bytes(layout.table_manifest(url), json.dumps(manifest, sort_keys=True).encode(), storage_options)


def orphans(listing: Listing, manifest: dict) -> list[str]:
    """Part files that ``manifest`` neither names nor keeps for readers of the manifest before it."""
    keep = {listing.part_path(n) for n in [p["name"] for p in manifest["parts"]] + manifest["superseded"]}
    return [p for p in listing.files if p not in keep and p.rsplit("/", 1)[-1].startswith("part-")]


def delete(fs: fsspec.AbstractFileSystem, paths: list[str]) -> int:
    """Delete ``paths`` (in bulk on object stores); returns how many."""
    if paths:
        fs.rm(paths)
    return len(paths)

