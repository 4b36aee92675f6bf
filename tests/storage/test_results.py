import datetime as dt

import pytest

from temcoco.errors import TemcocoError
from temcoco.storage.commits import committed_chunks
from temcoco.storage.layout import ClipLayout
from temcoco.storage.results import query, write_row


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
