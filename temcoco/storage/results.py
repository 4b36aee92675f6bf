"""The metrics table: one row per clip per job, hive-partitioned by date and job id.

A finished clip publishes its row as ``OUT/metrics/date=YYYY-MM-DD/job_id=<id>/<row key>.parquet``
(a *loose* row). The file name is derived from the clip's row key, so a retried or resumed clip
replaces its row instead of adding one. When a job ends, :mod:`temcoco.storage.compaction` folds
loose rows into a few large *parts* (``OUT/metrics/_parts/part-<hash>.parquet``, with ``date``,
``job_id`` and the row key ``_row`` as columns) named by the manifest ``OUT/metrics/_compacted.json``.

The table is: the rows of the parts the manifest names, except those for which a loose row of
the same job and row key exists, plus every loose row (a loose row is never older than its
compacted copy). So each row counts once at every moment of a compaction. DuckDB queries it
through pyarrow and fsspec (works the same on local disk and s3).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from pyarrow.fs import FSSpecHandler, PyFileSystem

from temcoco.errors import TemcocoError
from temcoco.storage import layout
from temcoco.storage.fs import filesystem, write_bytes

METRIC_COLUMNS = (  # the metric suite's columns (temcoco.metrics fills them)
    "EN", "SD", "SF", "AG", "MI", "CC", "SCD", "VIF", "Qabf", "Nabf", "SSIM", "MS_SSIM", "PSNR",
    "flowD", "feaCD", "BiSWE", "ref_PSNR", "ref_SSIM", "flowD_seam", "flowD_inner",
)

SCHEMA = pa.schema(
    [
        ("clip_id", pa.string()),
        ("method", pa.string()),
        ("model_version", pa.string()),
        ("status", pa.string()),
        ("error", pa.string()),
        ("note", pa.string()),
        ("video", pa.string()),
        ("ir", pa.string()),
        ("vi", pa.string()),
        ("fingerprint", pa.string()),
        ("frames", pa.int64()),
        ("height", pa.int64()),
        ("width", pa.int64()),
        ("fps", pa.float64()),
        ("seconds", pa.float64()),
        ("flow_method", pa.string()),
        ("metrics_policy", pa.string()),
        ("metric_stride", pa.int64()),
        ("metrics_seconds", pa.float64()),
        *[(name, pa.float64()) for name in METRIC_COLUMNS],
        ("finished_at", pa.timestamp("us", tz="UTC")),
    ]
)
PARTITIONS = pa.schema([("date", pa.string()), ("job_id", pa.string())])


def write_row(out: str, date: str, job_id: str, row_key: str, row: dict, storage_options: dict | None = None) -> None:
    """Publish one clip's row (missing columns are null) atomically; ``row_key`` names its file, so a
    retried clip replaces its own row and no other."""
    table = pa.Table.from_pylist([{name: row.get(name) for name in SCHEMA.names}], schema=SCHEMA)
    buf = io.BytesIO()
    pq.write_table(table, buf)
    write_bytes(layout.loose_row(layout.metrics_table(out), date, job_id, row_key), buf.getvalue(), storage_options)


ROW = "_row"  # column of a part: the row's key, the stem of the loose file it came from
TABLE_SCHEMA = pa.unify_schemas([SCHEMA, PARTITIONS])
PART_SCHEMA = pa.unify_schemas([TABLE_SCHEMA, pa.schema([(ROW, pa.string())])])
# One read per part for the column chunks a query needs (parts are immutable and a few MB each).
FORMAT = ds.ParquetFileFormat(default_fragment_scan_options=ds.ParquetFragmentScanOptions(
    pre_buffer=True, cache_options=pa.CacheOptions(hole_size_limit=4 << 20, range_size_limit=64 << 20)))

JobKey = tuple[str, str]  # (date, job_id)


@dataclass(frozen=True)
class LooseRow:
    """A row published by a clip and not yet folded into a part."""

    date: str
    job_id: str
    key: str  # the stem of its file: the hash of its row key
    path: str  # in its filesystem
    size: int


@dataclass(frozen=True)
class Listing:
    """What one listing of ``OUT/metrics`` found."""

    root: str  # OUT/metrics in its filesystem
    loose: tuple[LooseRow, ...]
    files: dict[str, int]  # every file under the parts folder: path -> size
    details: dict[str, dict]  # every file found: its listing entry
    manifest: dict  # {"generation": n, "parts": [{"name", "rows", "jobs": [[date, job_id], ...]}], "superseded": [...]}

    def part_path(self, name: str) -> str:
        return layout.table_part(self.root, name)

    def compacted_jobs(self) -> set[JobKey]:
        return {(d, j) for part in self.manifest["parts"] for d, j in part["jobs"]}


EMPTY_MANIFEST = {"generation": 0, "parts": [], "superseded": []}


class ListedFiles(FSSpecHandler):
    """fsspec files for pyarrow, opened with what a listing said of them (size, ETag) and without a
    read-ahead cache: no HEAD request per file, only the byte ranges pyarrow asks for."""

    def __init__(self, fs: fsspec.AbstractFileSystem, details: dict[str, dict]) -> None:
        super().__init__(fs)
        self.details = details

    def open_input_file(self, path: str) -> pa.PythonFile:
        if path not in self.details:
            return super().open_input_file(path)
        f = self.fs.open(path, mode="rb", size=int(self.details[path]["size"]), cache_type="none")
        if isinstance(f, fsspec.spec.AbstractBufferedFile):  # object stores: no HEAD for the ETag either
            f.details = self.details[path]
        return pa.PythonFile(f, mode="r")


class ScansWithoutGIL:
    """A pyarrow dataset whose scans start with the GIL released.

    DuckDB scans a registered dataset through ``scanner(columns=, filter=).to_reader()``, and
    ``Scanner.to_reader`` starts the scan holding the GIL. The table's files are read through Python
    (fsspec) on Arrow's IO threads, whose buffers take the GIL when freed, sometimes under a lock the
    starting thread waits for: a deadlock (seen in CI; here a loop of queries hung within 5 to 180).
    ``Scanner.to_batches`` starts the scan, and waits for each batch, with the GIL released."""

    def scanner(self, **options) -> ReadsWithoutGIL:
        return ReadsWithoutGIL(super().scanner(**options))


@dataclass(frozen=True)
class ReadsWithoutGIL:
    """A pyarrow Scanner whose ``to_reader`` streams ``to_batches``; all else is the scanner's."""

    scanner: ds.Scanner

    def to_reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(self.scanner.projected_schema, self.scanner.to_batches())

    def __getattr__(self, name: str):
        return getattr(self.scanner, name)


class FilesDataset(ScansWithoutGIL, ds.FileSystemDataset):
    """The table's files (see :class:`ScansWithoutGIL`)."""


class FilesAndInMemoryDataset(ScansWithoutGIL, ds.UnionDataset):
    """The table's files and the parts read now (see :class:`ScansWithoutGIL`)."""


def parse_loose(root: str, path: str, size: int) -> LooseRow | None:
    """The loose row at ``path`` (see :func:`temcoco.storage.layout.loose_row`) of the table ``root``, or
    None for any other file."""
    parsed = layout.parse_loose_row(root, path)
    return LooseRow(*parsed, path, size) if parsed else None


def list_table(fs: fsspec.AbstractFileSystem, root: str) -> Listing:
    """One recursive listing of the table, then its manifest (in this order: a compaction that commits in
    between deletes loose rows only after they are in a part the newer manifest names)."""
    details = fs.find(root, detail=True)
    found = {path: int(info.get("size") or 0) for path, info in details.items()}
    if not found and not fs.exists(root):
        raise TemcocoError(f"no metrics table under {root}: run `temcoco submit` first")
    loose = tuple(r for r in (parse_loose(root, p, n) for p, n in sorted(found.items())) if r)
    parts_prefix = layout.table_parts(root) + "/"
    files = {p: n for p, n in found.items() if p.startswith(parts_prefix)}
    manifest_path = layout.table_manifest(root)
    manifest = json.loads(fs.cat_file(manifest_path)) if manifest_path in found else EMPTY_MANIFEST
    return Listing(root, loose, files, details, manifest)


def hidden_rows(listing: Listing) -> set[str]:
    """``date/job_id/key`` of compacted rows that a loose row of the same job and key replaces."""
    compacted = listing.compacted_jobs()
    return {f"{r.date}/{r.job_id}/{r.key}" for r in listing.loose if (r.date, r.job_id) in compacted}


def _row_ids(table: pa.Table) -> pa.ChunkedArray:
    return pc.binary_join_element_wise(table["date"], table["job_id"], table[ROW], "/")


def without(table: pa.Table, hidden: set[str]) -> pa.Table:
    """``table`` (of PART_SCHEMA) less the rows named in ``hidden``."""
    return table.filter(pc.invert(pc.is_in(_row_ids(table), value_set=pa.array(sorted(hidden), pa.string()))))


def table_dataset(fs: fsspec.AbstractFileSystem, listing: Listing) -> ds.Dataset:
    """The table as one pyarrow dataset: untouched parts and loose rows are read lazily; a part holding rows
    that loose rows replace (a job resumed after its compaction, or a compaction killed before it deleted
    the rows it folded) is read now, less those rows."""
    arrow_fs = PyFileSystem(ListedFiles(fs, listing.details))
    hidden = hidden_rows(listing)
    replaced_jobs = {tuple(h.split("/", 2)[:2]) for h in hidden}
    fragments, partial = [], []
    for part in listing.manifest["parts"]:
        path = listing.part_path(part["name"])
        if path not in listing.files:
            raise FileNotFoundError(path)
        if replaced_jobs & {tuple(j) for j in part["jobs"]}:
            partial.append(without(pq.read_table(path, filesystem=arrow_fs, schema=PART_SCHEMA), hidden))
        else:
            fragments.append(FORMAT.make_fragment(path, arrow_fs, file_size=listing.files[path]))
    for r in listing.loose:
        where = (ds.field("date") == r.date) & (ds.field("job_id") == r.job_id)
        fragments.append(FORMAT.make_fragment(r.path, arrow_fs, partition_expression=where, file_size=r.size))
    lazy = FilesDataset(fragments, TABLE_SCHEMA, FORMAT, arrow_fs)
    if not partial:
        return lazy
    read_now = ds.InMemoryDataset(pa.concat_tables(partial).select(TABLE_SCHEMA.names))
    return FilesAndInMemoryDataset(TABLE_SCHEMA, [lazy, read_now])


def dataset(out: str, storage_options: dict | None = None) -> ds.Dataset:
    """The metrics table of ``out`` as a pyarrow dataset (columns of SCHEMA plus date, job_id).

    A compaction that commits while the table is being listed can delete a file the listing found:
    the table is listed again, once."""
    fs, root = filesystem(layout.metrics_table(out), storage_options)
    try:
        return table_dataset(fs, list_table(fs, root))
    except FileNotFoundError:
        return table_dataset(fs, list_table(fs, root))


def query(out: str, sql: str, storage_options: dict | None = None) -> pa.Table:
    """Run ``sql`` against the view ``metrics`` with DuckDB."""
    import duckdb

    try:
        return _connect(out, storage_options).sql(sql).to_arrow_table()
    except duckdb.Error as e:
        raise TemcocoError(f"SQL error: {str(e).splitlines()[0]}") from e


def query_rows(out: str, sql: str, storage_options: dict | None = None, batch: int = 1024) -> Iterator[dict]:
    """The rows of ``sql`` (view ``metrics``) one by one, fetched ``batch`` rows at a time, so the
    whole result is never held in memory."""
    for record_batch in query_batches(out, sql, storage_options, batch):
        yield from record_batch.to_pylist()


def query_batches(out: str, sql: str, storage_options: dict | None = None, batch: int = 1024) -> pa.RecordBatchReader:
    """The result of ``sql`` (view ``metrics``) as a stream of batches of ``batch`` rows."""
    import duckdb

    try:
        return _connect(out, storage_options).sql(sql).to_arrow_reader(batch)
    except duckdb.Error as e:
        raise TemcocoError(f"SQL error: {str(e).splitlines()[0]}") from e


def _connect(out: str, storage_options: dict | None):
    """A DuckDB connection with the metrics table of ``out`` as the view ``metrics``."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")  # no bar on stderr during slow scans
    con.register("metrics", dataset(out, storage_options))
    return con
