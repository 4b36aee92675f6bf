"""The external sort behind discovery, and discovery of archives larger than one sorted run."""

import random
from pathlib import Path

import pytest

from temcoco.storage import spill
from temcoco.storage.archive import discover
from temcoco.storage.spill import SortedRecords


def test_records_come_back_sorted_from_spilled_runs_and_the_runs_are_removed():
    rng = random.Random(3)
    records = [(f"clip{rng.randrange(50):03d}", rng.randrange(1000), "naïve \udcff name") for _ in range(40)]
    with SortedRecords(key=lambda r: r[:2], run_records=7) as sorted_records:
        for record in records:
            sorted_records.add(record)
        runs = list(Path(sorted_records._dir.name).iterdir())
        assert len(runs) == 5 and len(sorted_records) == 40  # 5 full runs on disk, 5 records in memory
        expected = sorted(records, key=lambda r: r[:2])
        assert list(sorted_records) == expected
        assert list(sorted_records) == expected  # iterable again
    assert not any(run.exists() for run in runs)


@pytest.fixture
def small_runs(monkeypatch):
    """Discovery spills a run every 3 records, so that these small archives cross several runs."""
    monkeypatch.setattr(spill, "RUN_RECORDS", 3)


def test_a_manifest_larger_than_a_run_keeps_order_and_finds_duplicates_across_runs(tmp_path, small_runs):
    ids = [f"cam{i:02d}" for i in range(10)]
    rows = [f"{clip_id},ir.mp4,vi.mp4" for clip_id in reversed(ids)] + ["cam05,ir.mp4,vi.mp4"]  # a duplicate at the end
    (tmp_path / "manifest.csv").write_text("clip_id,ir,vi\n" + "\n".join(rows) + "\n")
    with discover(str(tmp_path)) as clips:
        assert len(clips) == 11
        found = list(clips)
    assert [c.clip_id for c in found] == sorted(ids + ["cam05"])
    twice = [c for c in found if c.clip_id == "cam05"]
    assert [c.line for c in twice] == [6, 12] and all("lines 6, 12" in c.error for c in twice)
    assert all(c.error is None for c in found if c.clip_id != "cam05")


def test_folders_larger_than_a_run_pair_by_clip_id(tmp_path, small_runs):
    for i in range(8):
        for side in ("ir", "vi"):
            (tmp_path / side).mkdir(exist_ok=True)
            (tmp_path / side / f"c{i}.mp4").write_bytes(b"x")
    (tmp_path / "ir" / "orphan.mp4").write_bytes(b"x")
    with discover(str(tmp_path)) as clips:
        found = {c.clip_id: c for c in clips}
        assert len(clips) == 9
    assert all(found[f"c{i}"].error is None and found[f"c{i}"].vi.endswith(f"vi/c{i}.mp4") for i in range(8))
    assert "no visible partner" in found["orphan"].error


def test_an_unreadable_manifest_is_a_clear_error(tmp_path):
    from temcoco.errors import TemcocoError

    (tmp_path / "manifest.csv").write_bytes(b"clip_id,ir,vi\n\xff\xfe,ir.mp4,vi.mp4\n")
    with pytest.raises(TemcocoError, match="cannot be read as UTF-8 CSV"):
        discover(str(tmp_path))


def test_an_s3_folder_is_listed_page_by_page(s3_server, monkeypatch):
    """More entries than a listing page, a sub-folder, and a folder placeholder object."""
    import fsspec

    from temcoco.storage import fs as storage_fs

    s3 = fsspec.filesystem("s3", use_listings_cache=False)
    s3.mkdir("listing-bucket")
    for i in range(7):
        s3.pipe(f"listing-bucket/a/ir/c{i}.mp4", b"x")
    s3.pipe("listing-bucket/a/ir/frames/0001.png", b"x")
    s3.pipe("listing-bucket/a/ir/", b"")
    monkeypatch.setattr(storage_fs, "LISTING_PAGE", 3)
    entries = sorted((name, folder) for name, folder, _ in storage_fs.iter_entries(s3, "listing-bucket/a/ir"))
    assert entries == sorted([(f"c{i}.mp4", False) for i in range(7)] + [("frames", True)])
