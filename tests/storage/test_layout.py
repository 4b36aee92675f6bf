"""temcoco/storage/layout.py is the one place that builds paths under OUT (DESIGN.md 'Output layout')."""

import re
from pathlib import Path

import pytest

import temcoco
from temcoco.storage import layout
from temcoco.storage.layout import ClipLayout

PACKAGE = Path(temcoco.__file__).parent
# A path under OUT built by hand: OUT joined to a name, an f-string or pathlib path below OUT, or a name
# that only layout.py may know (OUT's staging and reports folders, the metrics table's hive partitions,
# parts and manifest, commit markers, ingest markers, leases).
OUT_PATH = re.compile(r"""(?<!["']\.)join\(\s*(?:\w+\.)?out_?\b  # join(out, ...), join(self.out, ...), not ", ".join(out)
                        | \{(?:\w+\.)?out_?\}/                 # f"{out}/..."
                        | \bout_?\s*/\s*["']                   # out / "fused"
                        | ["'](?:staging|reports|_parts|_compacted\.json)["']
                        | ["'](?:date|job_id)=
                        | ["']\.(?:commits|ingest\.json|lease)["']""", re.VERBOSE)


OWN_FOLDERS = ("model",)  # training writes into its run folder (also named ``out``), never under a job's OUT


def out_paths_built_outside_layout(package: Path) -> list[str]:
    """``file:line: code`` of every line of ``package`` outside layout.py that builds a path under OUT
    (comments left out)."""
    found = []
    for path in sorted(package.rglob("*.py")):
        if path == package / "storage" / "layout.py" or path.relative_to(package).parts[0] in OWN_FOLDERS:
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if OUT_PATH.search(line.split("  # ")[0]):
                found.append(f"{path.relative_to(package)}:{n}: {line.strip()}")
    return found


def test_no_module_but_layout_builds_a_path_under_out():
    assert out_paths_built_outside_layout(PACKAGE) == []


def test_the_check_sees_the_ways_a_path_under_out_is_built(tmp_path):
    (tmp_path / "storage").mkdir()
    (tmp_path / "storage" / "layout.py").write_text('STAGING = "staging"\n')
    lines = ['url = join(out, "staging", job_id)', 'url = join(self.out, "metrics")', 'print(f"{out}/fused/")',
             "print(out / 'fused')", 'manifest = "_compacted.json"', 'name = f"date={date}"', 'suffix = ".lease"',
             'x = join(job.out, "state")']
    fine = ['ok = join(layout.chunk_commits, name)', 'ok = ", ".join(out)', 'n = 160  # room for ".commits"']
    (tmp_path / "m.py").write_text("\n".join([*lines, *fine]))
    assert [f.split(": ", 1)[1] for f in out_paths_built_outside_layout(tmp_path)] == lines


def test_paths_are_those_of_the_output_layout():
    """The table of DESIGN.md 'Output layout', for a clip id that needs escaping, on an object store."""
    out, c = "s3://b/out", ClipLayout("s3://b/out/", "cam 1", "j1", "small-1")
    assert c.fused_video == f"{out}/fused/small-1/cam%201.mp4"
    assert c.fused_frames == f"{out}/frames/small-1/cam%201.zarr"
    assert c.commit_marker(128, "fp", 64) == f"{out}/frames/small-1/cam%201.commits/000000000128-fp-64"
    assert c.staged_inputs == f"{out}/staging/j1/cam%201.zarr"
    assert c.ingest_marker == f"{out}/staging/j1/cam%201.ingest.json"
    assert c.preview == f"{out}/reports/j1/cam%201.json"
    assert c.state == f"{out}/state/small-1/cam%201.json"
    assert layout.job_summary(out, "j1") == f"{out}/jobs/j1.json"
    assert layout.job_lease(out, "j1") == f"{out}/jobs/j1.lease"
    assert layout.job_report(out, "j1") == f"{out}/reports/j1.html"
    assert layout.staging(out, "j1") == f"{out}/staging/j1"
    table = layout.metrics_table(out)
    assert table == f"{out}/metrics"
    assert layout.loose_row(table, "2026-01-02", "j1", "cam 1") == f"{table}/date=2026-01-02/job_id=j1/2515f3525abc6b1f.parquet"
    assert layout.table_part(table, "part-ab.parquet") == f"{table}/_parts/part-ab.parquet"
    assert layout.table_manifest(table) == f"{table}/_compacted.json"


def test_a_commit_marker_names_its_chunk_inputs_and_chunk_length():
    c = ClipLayout("/out", "c", "j", "v")
    name = Path(c.commit_marker(64, "abc-1", 32)).name
    assert layout.commit_start(name, "abc-1", 32) == 64
    assert layout.commit_start(name, "abc-2", 32) is None  # other inputs
    assert layout.commit_start(name, "abc-1", 16) is None  # another chunking
    assert layout.commit_start(f".tmp-1234-{name}", "abc-1", 32) is None  # a killed writer's temp file
    assert layout.commit_start("-abc-1-32", "abc-1", 32) is None


def test_loose_rows_are_parsed_back_and_nothing_else_is():
    table = "bucket/out/metrics"  # a path in its filesystem, as the table is listed
    row = layout.loose_row(table, "2026-01-02", "j.1", "cam")
    assert layout.parse_loose_row(table, row) == ("2026-01-02", "j.1", Path(row).stem)
    for other in (layout.table_part(table, "part-ab.parquet"), layout.table_manifest(table),
                  f"{table}/date=2026-01-02/job_id=j/.tmp-1-x.parquet", f"{table}/date=2026-01-02/x.parquet"):
        assert layout.parse_loose_row(table, other) is None


@pytest.mark.parametrize("job_id", ["nightly", "a.b", "_compaction"])
def test_job_files_are_parsed_back(job_id):
    assert layout.job_file(Path(layout.job_summary("/out", job_id)).name) == (job_id, "summary")
    assert layout.job_file(Path(layout.job_lease("/out", job_id)).name) == (job_id, "lease")
    assert layout.job_file(Path(layout.job_report("/out", job_id)).name) is None


def test_temp_files_are_looked_for_wherever_results_are_published_and_never_in_staging():
    out, c = "/out", ClipLayout("/out", "c", "j", "v")
    published = [c.fused_video, c.fused_frames, c.chunk_commits, c.preview, c.state, layout.job_summary(out, "j"),
                 layout.job_lease(out, "j"), layout.job_report(out, "j"), layout.metrics_table(out)]
    folders = layout.published_folders(out)
    assert all(any(p.startswith(f + "/") or p == f for f in folders) for p in published)
    assert not any(p.startswith(f + "/") for p in (c.staged_inputs, c.ingest_marker) for f in folders)
    assert layout.staging(out, "j").startswith(layout.staging_root(out) + "/")
