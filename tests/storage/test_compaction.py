"""Compaction of the metrics table: fewer files, the same table at every step, killed and rerun."""

import json
import logging
import shutil
from pathlib import Path

import pytest

from temcoco.storage import compaction
from temcoco.storage.compaction import compact, compact_after_job
from temcoco.storage.lease import JobLease
from temcoco.storage.results import query, write_row

TABLE = "SELECT date, job_id, clip_id, status, SSIM FROM metrics ORDER BY ALL"


def fill(out: Path, jobs: dict[str, int], ssim: float = 1.0) -> None:
    """``jobs``: job id -> how many clips; one loose row per clip."""
    for job, clips in jobs.items():
        for i in range(clips):
            write_row(str(out), "2026-11-28", job, f"clip {i}", {"clip_id": f"clip {i}", "status": "ok", "SSIM": ssim + i})


def table(out: Path) -> list[dict]:
    return query(str(out), TABLE).to_pylist()


def loose_files(out: Path) -> list[Path]:
    return sorted(p for p in (out / "metrics").glob("date=*/job_id=*/*.parquet") if not p.name.startswith("."))


def parts(out: Path) -> list[str]:
    """The part files the manifest names, in its order."""
    return [p["name"] for p in json.loads((out / "metrics" / "_compacted.json").read_text())["parts"]]


def test_compaction_folds_loose_rows_into_parts_of_at_most_n_rows(tmp_path):
    fill(tmp_path, {"a": 3, "b": 4})
    before = table(tmp_path)
    done = compact(str(tmp_path), rows_per_part=3)
    assert (done.folded, done.written, done.parts) == (7, 3, 3)
    assert loose_files(tmp_path) == [] and table(tmp_path) == before
    assert sorted(parts(tmp_path)) == sorted(p.name for p in (tmp_path / "metrics" / "_parts").iterdir())
    fill(tmp_path, {"c": 2})  # the next job: appended to the last part, which is not full
    compact(str(tmp_path), rows_per_part=3)
    assert len(parts(tmp_path)) == 3 and len(table(tmp_path)) == 9 and loose_files(tmp_path) == []


def test_a_query_at_every_step_of_a_compaction_sees_each_row_once(tmp_path, monkeypatch):
    fill(tmp_path, {"a": 3, "b": 2})
    compact(str(tmp_path), rows_per_part=2)
    fill(tmp_path, {"c": 3})
    write_row(str(tmp_path), "2026-11-28", "a", "clip 1", {"clip_id": "clip 1", "status": "failed", "SSIM": None})
    expected = table(tmp_path)
    assert sum(r["job_id"] == "a" and r["clip_id"] == "clip 1" for r in expected) == 1
    seen = []

    def observed(step):
        def wrapper(*args, **kwargs):
            seen.append(table(tmp_path))
            return step(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(compaction, "write_parts", observed(compaction.write_parts))  # before any part
    monkeypatch.setattr(compaction, "publish", observed(compaction.publish))  # parts written, not yet named
    monkeypatch.setattr(compaction, "delete", observed(compaction.delete))  # committed, nothing deleted
    compact(str(tmp_path), rows_per_part=2)
    seen.append(table(tmp_path))
    assert len(seen) == 4 and all(s == expected for s in seen)


class Killed(Exception):
    pass


@pytest.mark.parametrize("step", ["write_parts", "publish", "delete"])
def test_a_compaction_killed_and_rerun_gives_the_same_table_and_parts(tmp_path, monkeypatch, step):
    fill(tmp_path / "ref", {"a": 3, "b": 2})
    compact(str(tmp_path / "ref"), rows_per_part=2)
    fill(tmp_path / "ref", {"c": 3})
    shutil.copytree(tmp_path / "ref", tmp_path / "killed")
    compact(str(tmp_path / "ref"), rows_per_part=2)
    real = getattr(compaction, step)

    def killed_half_way(*args, **kwargs):
        if step == "write_parts":  # one part written, then killed
            real(args[0], args[1].slice(0, 2), *args[2:], **kwargs)
        elif step == "delete":  # some folded rows deleted, then killed
            real(args[0], args[1][:2])
        raise Killed

    monkeypatch.setattr(compaction, step, killed_half_way)
    with pytest.raises(Killed):
        compact(str(tmp_path / "killed"), rows_per_part=2)
    assert table(tmp_path / "killed") == table(tmp_path / "ref")
    monkeypatch.setattr(compaction, step, real)
    compact(str(tmp_path / "killed"), rows_per_part=2)
    assert table(tmp_path / "killed") == table(tmp_path / "ref")
    assert parts(tmp_path / "killed") == parts(tmp_path / "ref") and loose_files(tmp_path / "killed") == []


def test_a_row_rewritten_after_compaction_replaces_its_compacted_copy(tmp_path):
    fill(tmp_path, {"a": 3})
    compact(str(tmp_path), rows_per_part=2)
    write_row(str(tmp_path), "2026-11-28", "a", "clip 0", {"clip_id": "clip 0", "status": "failed", "SSIM": None})
    rows = [(r["clip_id"], r["status"]) for r in table(tmp_path)]
    assert rows == [("clip 0", "failed"), ("clip 1", "ok"), ("clip 2", "ok")]
    compact(str(tmp_path), rows_per_part=2)
    assert [(r["clip_id"], r["status"]) for r in table(tmp_path)] == rows and loose_files(tmp_path) == []


def test_rows_of_a_running_job_stay_loose(tmp_path):
    fill(tmp_path, {"done": 2, "running": 2})
    with JobLease(str(tmp_path), "running"):
        assert compact(str(tmp_path)).folded == 2
        assert compact(str(tmp_path), own_job="running").folded == 2  # the job itself, as it ends
    assert loose_files(tmp_path) == [] and len(table(tmp_path)) == 4


def test_a_failed_compaction_is_logged_and_never_raised(tmp_path, caplog):
    fill(tmp_path, {"a": 2})
    with JobLease(str(tmp_path), compaction.LEASE), caplog.at_level(logging.WARNING):  # another compaction runs
        compact_after_job(str(tmp_path), "a", None, logging.getLogger("test"))
    assert "metrics compaction skipped" in caplog.text and len(loose_files(tmp_path)) == 2


def test_compaction_on_object_storage(s3_server):
    import fsspec

    fs = fsspec.filesystem("s3", use_listings_cache=False)
    fs.mkdir("compaction-bucket")
    out = "s3://compaction-bucket/out"
    for i in range(5):
        write_row(out, "2026-11-28", "a", f"clip {i}", {"clip_id": f"clip {i}", "status": "ok", "SSIM": float(i)})
    before = query(out, TABLE).to_pylist()
    assert compact(out, rows_per_part=2).written == 3
    assert query(out, TABLE).to_pylist() == before and len(before) == 5
    assert fs.find("compaction-bucket/out/metrics/date=2026-11-28") == []
    assert len(fs.find("compaction-bucket/out/metrics/_parts")) == 3


def test_compact_command(tmp_path):
    import subprocess
    import sys

    fill(tmp_path, {"a": 3})
    p = subprocess.run([sys.executable, "-m", "temcoco.cli", "compact", str(tmp_path)], capture_output=True, text=True,
                       check=False)
    assert p.returncode == 0 and "folded 3 rows into 1 new parts; the table has 1 parts" in p.stdout, p.stderr
    assert loose_files(tmp_path) == [] and len(table(tmp_path)) == 3
