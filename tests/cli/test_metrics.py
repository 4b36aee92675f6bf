"""`temcoco metrics` as a newcomer meets it: a summary that fits the terminal, output that pipes."""

import csv
import datetime as dt
import io
import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from temcoco import cli
from temcoco.metrics_view import SUMMARY_COLUMNS
from temcoco.storage.results import write_row

LONG_ID = "m3svd_0001_" + "x" * 29  # 40 characters, second of its job by clip id
NEW_ROWS = cli.DEFAULT_LIMIT + 20
T0 = dt.datetime(2026, 5, 1, 2, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> str:
    """An older job with one row, a newer one with more rows than a table shows (one with a 40-character id)."""
    out = str(tmp_path_factory.mktemp("metrics") / "out")
    write_row(out, "2026-05-01", "old", "a", {"clip_id": "zz-old", "status": "ok", "frames": 3, "finished_at": T0})
    for i in range(NEW_ROWS):
        failed = i % 7 == 0
        write_row(out, "2026-05-02", "new", f"c{i}", {
            "clip_id": LONG_ID if i == 1 else f"m3svd_{i:04d}_1716", "status": "failed" if failed else "ok",
            "error": "worker died 4 times fusing frames 128-191 (out of memory?)\nsee the log" if failed else None,
            "frames": 20, "seconds": 1.25, "EN": 6.5, "SSIM": 1.2345678, "VIF": 0.5, "Qabf": 0.4, "flowD": 2.0,
            "finished_at": T0 + dt.timedelta(days=1)})
    return out


def metrics(*args: str, columns: int = 120) -> list[str]:
    result = CliRunner().invoke(cli.app, ["metrics", *args], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "temcoco.cli", *args], capture_output=True, timeout=120)


def test_summary_at_120_columns_shows_the_summary_columns_newest_job_first(out):
    lines = metrics(out, "--limit", "1")
    assert lines[0].split() == list(SUMMARY_COLUMNS) and len(lines[2]) <= 120
    assert lines[2].startswith("m3svd_0000_1716  new     failed") and lines[2].endswith("frames 128-1…"), "a short error"
    rows = metrics(out, "--limit", "0")[2:-1]
    assert [line.split()[1] for line in rows] == ["new"] * NEW_ROWS + ["old"], "the newest job first"
    lines = metrics(out)
    assert lines[0].split() == list(SUMMARY_COLUMNS[:-1]), "beside a 40-character id the error does not fit"
    assert any(line.startswith(LONG_ID + "  ") for line in lines), "the 40-character clip id is whole"
    assert max(map(len, lines)) <= 120 and len(lines) == 2 + cli.DEFAULT_LIMIT + 2
    assert lines[-2:] == ["(too wide, left out: error)", f"… {NEW_ROWS + 1 - cli.DEFAULT_LIMIT} more rows (--limit 0 shows all)"]


def test_at_60_columns_columns_that_do_not_fit_are_left_out_and_named(out):
    lines = metrics(out, columns=60)
    shown = lines[0].split()
    assert shown == ["clip_id", "job_id", "status"], "a 40-character id leaves room for these"
    note = f"(too wide, left out: {', '.join(SUMMARY_COLUMNS[3:])})"
    assert note in lines and max(len(line) for line in lines if line != note) <= 60
    assert any(line.startswith(LONG_ID + "  ") for line in lines)


def test_a_terminal_too_narrow_for_two_columns_gets_one_block_per_row(out):
    lines = metrics(out, "--columns", "clip_id,status", "--limit", "2", columns=30)
    assert lines[:2] == ["clip_id  m3svd_0000_1716", "status   failed"]
    assert f"clip_id  {LONG_ID}" in lines, "the value is never broken"


def test_limit_0_shows_every_row_and_a_limit_says_how_many_more(out):
    every = metrics(out, "--limit", "0")
    assert len(every) == 2 + NEW_ROWS + 1 + 1 and every[-1] == "(too wide, left out: error)", "no footer"
    lines = metrics(out, "--limit", "5")
    assert len(lines) == 2 + 5 + 2 and lines[-1] == f"… {NEW_ROWS + 1 - 5} more rows (--limit 0 shows all)"


def test_columns_all_columns_and_job_pick_what_is_shown(out):
    assert metrics(out, "--columns", "clip_id,ssim", "--job", "old") == ["clip_id  SSIM", "───────  ────", "zz-old"]
    every = metrics(out, "--all-columns", "--limit", "1", columns=10_000)[0].split()
    assert {"video", "fingerprint", "MS_SSIM", "finished_at", "date", "job_id"} <= set(every)


@pytest.mark.parametrize("args, words", [
    (["--columns", "clip_id,nope"], "unknown column nope"),
    (["--sql", "SELECT 1", "--job", "new"], "--sql cannot be combined"),
    (["--job", "nope"], "no rows of job 'nope'"),
    (["--format", "xml"], "--format must be"),
])
def test_contradictions_are_one_line_errors(out, args, words):
    p = run_cli("metrics", out, *args)
    stderr = p.stderr.decode()
    assert p.returncode == 2 and words in stderr and len(stderr.strip().splitlines()) == 1, stderr


def test_csv_lines_end_with_newline_only(out):
    p = run_cli("metrics", out, "--format", "csv", "--sql", "SELECT clip_id, error FROM metrics ORDER BY clip_id")
    assert p.returncode == 0, p.stderr
    assert b"\r\n" not in p.stdout and p.stdout.startswith(b"clip_id,error\n")
    rows = list(csv.DictReader(io.StringIO(p.stdout.decode())))
    assert len(rows) == NEW_ROWS + 1 and rows[1]["clip_id"] == LONG_ID
    assert rows[0]["error"] == "worker died 4 times fusing frames 128-191 (out of memory?)\nsee the log"


def test_jsonl_is_one_object_a_line_and_json_one_array(out):
    p = run_cli("metrics", out, "--format", "jsonl")
    lines = p.stdout.decode().splitlines()
    assert p.returncode == 0 and len(lines) == NEW_ROWS + 1, "machine formats give every row"
    rows = [json.loads(line) for line in lines]
    assert list(rows[0]) == list(SUMMARY_COLUMNS) and rows[-1]["clip_id"] == "zz-old"
    assert rows[0]["error"].endswith("\nsee the log"), "values are written whole"
    p = run_cli("metrics", out, "--format", "json", "--limit", "3")
    assert len(json.loads(p.stdout)) == 3 and p.stdout.count(b"\n") == 1
    assert p.stderr.decode().strip() == f"{NEW_ROWS + 1 - 3} more rows left out by --limit 3"
