import datetime as dt
import subprocess
import sys

import pyarrow.compute as pc
import pytest

from temcoco.errors import TemcocoError
from temcoco.storage.commits import committed_chunks
from temcoco.storage.layout import ClipLayout
from temcoco.storage.results import dataset, query, write_row


def test_rows_are_one_per_clip_per_job_and_queryable(tmp_path):
    out = str(tmp_path)
    now = dt.datetime.now(dt.timezone.utc)
    write_row(out, "2026-11-28", "007", "a b é", {"clip_id": "a b é", "status": "ok", "EN": 6.5, "frames": 3, "finished_at": now})
    write_row(out, "2026-11-28", "007", "x", {"clip_id": "x", "status": "failed", "error": "first try"})
    write_row(out, "2026-11-28", "007", "x", {"clip_id": "x", "status": "failed", "error": "retried"})
    write_row(out, "2026-11-29", "008", "x", {"clip_id": "x", "status": "ok"})
    rows = query(out, "SELECT job_id, date, clip_id, status, error, EN FROM metrics ORDER BY job_id, clip_id").to_pylist()
    assert rows == [
        {"job_id": "007", "date": "2026-11-28", "clip_id": "a b é", "status": "ok", "error": None, "EN": 6.5},
        {"job_id": "007", "date": "2026-11-28", "clip_id": "x", "status": "failed", "error": "retried", "EN": None},
        {"job_id": "008", "date": "2026-11-29", "clip_id": "x", "status": "ok", "error": None, "EN": None},
    ]


def test_query_errors_are_clear(tmp_path):
    with pytest.raises(TemcocoError, match="no metrics table"):
        query(str(tmp_path), "SELECT 1")
    write_row(str(tmp_path), "2026-11-28", "1", "a", {"clip_id": "a", "status": "ok"})
    with pytest.raises(TemcocoError, match="SQL error"):
        query(str(tmp_path), "SELECT nope FROM metrics")


def test_temp_files_never_break_readers(tmp_path):
    out = str(tmp_path)
    write_row(out, "2026-11-29", "j", "c", {"clip_id": "c", "status": "ok"})
    partition = tmp_path / "metrics" / "date=2026-11-29" / "job_id=j"
    (partition / ".tmp-0123-abc.parquet").write_bytes(b"PAR1 torn")  # a killed writer's leftover
    assert query(out, "SELECT clip_id FROM metrics").to_pylist() == [{"clip_id": "c"}]
    layout = ClipLayout(out, "c", "j", "average-1")
    (tmp_path / "frames" / "average-1" / "c.commits").mkdir(parents=True)
    (tmp_path / "frames" / "average-1" / "c.commits" / ".tmp-1-000000000000").write_text("{")
    assert committed_chunks(layout, "fp", 2, None) == set()


STREAMED_QUERIES = '''
import sys
from temcoco.storage.results import query_batches
for n in range(int(sys.argv[2])):
    reader = query_batches(sys.argv[1], "SELECT clip_id, status FROM metrics ORDER BY clip_id", batch=2)
    next(iter(reader))  # read one batch and drop the rest, as `temcoco metrics --limit` does
print("done")
'''


def test_many_streamed_queries_never_deadlock(tmp_path):
    """DuckDB starts each scan through ``Scanner.to_reader``, which holds the GIL while Arrow's IO threads,
    reading through fsspec, need it: before the table's scans started without it, this hung (2 runs of 2,
    within ~5 to 180 queries; in CI, the whole run)."""
    out = str(tmp_path)
    for i in range(40):
        write_row(out, "2026-11-29", f"j{i % 3}", f"c{i}", {"clip_id": f"c{i:02d}", "status": "ok", "frames": i})
    try:
        p = subprocess.run([sys.executable, "-c", STREAMED_QUERIES, out, "300"], capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("300 streamed queries did not finish in 120 s: a deadlock")
    assert p.returncode == 0 and p.stdout.decode().split() == ["done"], p.stderr.decode()[-2000:]


def test_the_table_is_a_whole_pyarrow_dataset(tmp_path):
    """Besides DuckDB's ``to_reader``, the dataset's other scans are pyarrow's own."""
    out = str(tmp_path)
    for i in range(3):
        write_row(out, "2026-11-29", "j", f"c{i}", {"clip_id": f"c{i}", "status": "ok", "frames": i})
    table = dataset(out).to_table(columns=["clip_id", "frames"], filter=pc.field("frames") > 0)
    assert sorted(table.to_pylist(), key=str) == [{"clip_id": "c1", "frames": 1}, {"clip_id": "c2", "frames": 2}]
    assert dataset(out).count_rows() == 3
