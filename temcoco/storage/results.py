"""The metrics table: one parquet file per clip per job, hive-partitioned by date and job id.

``OUT/metrics/date=YYYY-MM-DD/job_id=<id>/<clip key>.parquet``. The file name is derived
from the clip id, so a retried or resumed clip replaces its row instead of adding one.
DuckDB queries the dataset through pyarrow and fsspec (works the same on local disk and s3).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from pyarrow.fs import FSSpecHandler, PyFileSystem

from temcoco.errors import TemcocoError
from temcoco.storage.fs import filesystem, join, write_bytes

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
        *[(name, pa.float64()) for name in METRIC_COLUMNS],
        ("finished_at", pa.timestamp("us", tz="UTC")),
    ]
)
PARTITIONS = pa.schema([("date", pa.string()), ("job_id", pa.string())])


def row_path(out: str, date: str, job_id: str, row_key: str) -> str:
    key = hashlib.sha1(row_key.encode()).hexdigest()[:16]
    return join(out, "metrics", f"date={date}", f"job_id={job_id}", f"{key}.parquet")


def write_row(out: str, date: str, job_id: str, row_key: str, row: dict, storage_options: dict | None = None) -> None:
    """Publish one clip's row (missing columns are null) atomically; ``row_key`` names its file, so a
    retried clip replaces its own row and no other."""
    table = pa.Table.from_pylist([{name: row.get(name) for name in SCHEMA.names}], schema=SCHEMA)
    buf = io.BytesIO()
    pq.write_table(table, buf)
    write_bytes(row_path(out, date, job_id, row_key), buf.getvalue(), storage_options)


def dataset(out: str, storage_options: dict | None = None) -> ds.Dataset:
    """The metrics table of ``out`` as a pyarrow dataset (columns of SCHEMA plus date, job_id)."""
    fs, root = filesystem(join(out, "metrics"), storage_options)
    if not fs.exists(root):
        raise TemcocoError(f"no metrics table under {out}: run `temcoco submit` first")
    return ds.dataset(
        root, schema=pa.unify_schemas([SCHEMA, PARTITIONS]), format="parquet",
        filesystem=PyFileSystem(FSSpecHandler(fs)), partitioning=ds.partitioning(PARTITIONS, flavor="hive"),
    )


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
    import duckdb

    try:
        reader = _connect(out, storage_options).sql(sql).to_arrow_reader(batch)
    except duckdb.Error as e:
        raise TemcocoError(f"SQL error: {str(e).splitlines()[0]}") from e
    for record_batch in reader:
        yield from record_batch.to_pylist()


def _connect(out: str, storage_options: dict | None):
    """A DuckDB connection with the metrics table of ``out`` as the view ``metrics``."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")  # no bar on stderr during slow scans
    con.register("metrics", dataset(out, storage_options))
    return con
