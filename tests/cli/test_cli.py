"""The CLI as a user meets it: exit codes, one-line errors, in-process `fuse`."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.support.archives import add_bad_clips, good_archive, write_pair
from temcoco.clip_result import ClipResult, Status
from temcoco.model.registry import METHODS, load_method
from temcoco.pipeline import fuse_pair
from temcoco.storage.jobs import JobSummary
from tests.support.media import read_video


def temcoco(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "temcoco.cli", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return write_pair(tmp_path_factory.mktemp("pair"), 11, 36, 52, seed=3)


@pytest.fixture(scope="module")
def vga_pair(tmp_path_factory):
    return write_pair(tmp_path_factory.mktemp("vga"), 5, 480, 640, seed=4)


class Recorder:
    """Wraps a method and keeps every fused window it returns."""

    def __init__(self, method):
        self.method, self.fused = method, []
        self.name, self.version, self.temporal_radius = method.name, method.version, method.temporal_radius

    def fuse(self, ir, vi, first=0):
        out = self.method.fuse(ir, vi, first)
        self.fused.append(out.copy())
        return out


@pytest.mark.parametrize("method", METHODS)
def test_chunked_fusion_equals_one_pass(pair, tmp_path, method):
    """Exact equality of the fused frames, any size (the in-process path)."""
    fused = []
    for chunk in (1, 3, 1000):
        recorder = Recorder(load_method(method, device="cpu"))
        result = fuse_pair(str(pair / "ir"), str(pair / "vi"), str(tmp_path / f"{chunk}.mp4"), recorder, chunk=chunk)
        assert result.frames == 11
        fused.append(np.concatenate(recorder.fused))
    assert np.array_equal(fused[0], fused[1]) and np.array_equal(fused[1], fused[2])


@pytest.mark.parametrize("method", METHODS)
def test_fused_videos_are_identical_at_any_chunk_size(vga_pair, tmp_path, method):
    """The decoded videos too (640x480: the size of the contract check)."""
    fusion = load_method(method, device="cpu")
    videos = []
    for chunk in (2, 1000):
        out = tmp_path / f"{chunk}.mp4"
        fuse_pair(str(vga_pair / "ir"), str(vga_pair / "vi"), str(out), fusion, chunk=chunk)
        videos.append(read_video(str(out)))
    per_frame = np.abs(videos[0].astype(int) - videos[1]).reshape(len(videos[0]), -1).max(axis=1)
    assert not per_frame.any(), f"--chunk 2 and --chunk 1000 differ at frames: {per_frame.tolist()}"


def test_fuse_command_writes_a_video(pair, tmp_path):
    out = tmp_path / "f.mp4"
    p = temcoco("fuse", "--ir", str(pair / "ir"), "--vi", str(pair / "vi"), "-o", str(out), "--method", "laplacian",
                "--chunk", "4")
    assert p.returncode == 0, p.stderr
    assert read_video(str(out)).shape == (11, 36, 52, 3)


def test_fuse_command_measures_under_a_policy(pair, tmp_path):
    p = temcoco("fuse", "--ir", str(pair / "ir"), "--vi", str(pair / "vi"), "-o", str(tmp_path / "m.mp4"), "--method",
                "average", "--chunk", "4", "--metrics", "sampled", "--metric-stride", "4")
    assert p.returncode == 0, p.stderr
    assert "metrics (sampled, stride 4)" in p.stdout and "SSIM" in p.stdout and "metrics_policy" in p.stdout, p.stdout
    off = temcoco("fuse", "--ir", str(pair / "ir"), "--vi", str(pair / "vi"), "-o", str(tmp_path / "o.mp4"), "--method",
                  "average", "--chunk", "4")
    assert off.returncode == 0 and "metrics (" not in off.stdout, off.stdout  # fuse measures only when asked


def test_submit_rows_carry_their_policy(tmp_path):
    archive = good_archive(tmp_path / "archive", clips=1, frames=6)
    out = tmp_path / "out"
    p = temcoco("submit", str(archive), "--out", str(out), "--method", "average", "--metrics", "sampled",
                "--metric-stride", "2", "--quiet")
    assert p.returncode == 0, p.stderr
    q = temcoco("metrics", str(out), "--format", "json", "--sql",
                "SELECT metrics_policy, metric_stride, metrics_seconds, seconds, SSIM, flowD FROM metrics")
    (row,) = json.loads(q.stdout)
    assert (row["metrics_policy"], row["metric_stride"]) == ("sampled", 2)
    assert 0 < row["metrics_seconds"] <= row["seconds"] and row["SSIM"] is not None and row["flowD"] is not None


def test_user_mistakes_are_one_line_errors(pair, tmp_path):
    cases = [
        (["fuse", "--ir", str(tmp_path / "missing.mp4"), "--vi", str(pair / "vi"), "-o", str(tmp_path / "x.mp4"),
          "--method", "average"], "missing.mp4"),
        (["fuse", "--ir", str(pair / "ir"), "--vi", str(pair / "vi"), "-o", str(tmp_path / "x.mp4"), "--method", "nope"],
         "unknown method"),
        (["metrics", str(tmp_path)], "no metrics table"),
        (["submit", str(tmp_path / "no-archive"), "--out", str(tmp_path / "o"), "--method", "average"], "does not exist"),
        (["submit", str(tmp_path), "--out", str(tmp_path / "o"), "--job-id", "../x"], "invalid --job-id"),
    ]
    for args, words in cases:
        p = temcoco(*args)
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        assert words in p.stderr and "Traceback" not in p.stderr, p.stderr
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_submit_with_bad_clips_exits_3_and_records_reasons(tmp_path):
    archive = good_archive(tmp_path / "archive", clips=2, frames=6)
    bad = add_bad_clips(archive)
    out = tmp_path / "out"
    p = temcoco("submit", str(archive), "--out", str(out), "--method", "average", "--job-id", "cli", "--quiet")
    assert p.returncode == 3, p.stderr
    assert "2 ok, 4 failed" in p.stdout
    q = temcoco("metrics", str(out), "--format", "json", "--sql", "SELECT clip_id, status, error FROM metrics")
    rows = {r["clip_id"]: r for r in json.loads(q.stdout)}
    assert all(rows[c]["status"] == "failed" and rows[c]["error"] for c in bad)
    csv = temcoco("metrics", str(out), "--format", "csv", "--sql", "SELECT clip_id, status FROM metrics ORDER BY clip_id")
    assert csv.stdout.splitlines()[0] == "clip_id,status" and len(csv.stdout.splitlines()) == 7
    table = temcoco("metrics", str(out), "--sql", "SELECT clip_id, status FROM metrics ORDER BY clip_id")
    assert "clip 1 vidéo" in table.stdout and "failed" in table.stdout
    jobs = subprocess.run([sys.executable, "-m", "temcoco.cli", "jobs", str(out)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "COLUMNS": "120"})
    assert jobs.stdout.splitlines()[2].split()[-6:] == ["6", "2", "4", "0", "exit", "3"], jobs.stdout
    assert temcoco("jobs", str(out), "--job", "cli").stdout == p.stdout, "the summary submit printed"


def test_archive_with_no_pairs_and_unwritable_output(tmp_path):
    (tmp_path / "empty" / "ir").mkdir(parents=True)
    (tmp_path / "empty" / "vi").mkdir()
    p = temcoco("submit", str(tmp_path / "empty"), "--out", str(tmp_path / "o"), "--method", "average")
    assert p.returncode == 2 and "has no clips" in p.stderr
    archive = good_archive(tmp_path / "a", clips=1, frames=3)
    (tmp_path / "file").write_text("a file, not a folder")
    p = temcoco("submit", str(archive), "--out", str(tmp_path / "file" / "out"), "--method", "average")
    assert p.returncode == 2 and "not writable" in p.stderr, p.stderr


def test_version_lists_package_model_and_dependencies():
    p = temcoco("--version")
    assert p.returncode == 0
    names = {line.split()[0] for line in p.stdout.splitlines()}
    assert {"temcoco", "model", "torch", "ray", "prefect", "zarr"} <= names
    assert "temcoco-small-" in p.stdout


NAMES = ("cam[/]", "cam[night]", "[bold]x")  # rich markup, if it were on, would crash on or eat these


def test_clip_names_print_literally(tmp_path):
    src = write_pair(tmp_path / "archive" / "src", 4, 32, 48, seed=5)
    (tmp_path / "archive" / "manifest.csv").write_text(
        "clip_id,ir,vi\n" + "".join(f'"{name}",src/ir,src/vi\n' for name in NAMES))
    out = tmp_path / "out"
    p = temcoco("submit", str(src.parent), "--out", str(out), "--method", "average", "--job-id", "names", "--quiet")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "3 ok, 0 failed" in p.stdout
    table = temcoco("metrics", str(out), "--sql", "SELECT clip_id, status FROM metrics ORDER BY clip_id")
    assert table.returncode == 0, table.stderr
    assert all(name in table.stdout for name in NAMES), table.stdout
    page = (out / "reports" / "names.html").read_text()
    assert all(f'">{name}</h3>' in page for name in NAMES)


def test_failed_clip_names_and_errors_print_literally(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    import temcoco.flows.fuse_archive as flow_module
    from temcoco import cli

    failures = {name: f"reason of {name}" for name in NAMES}
    monkeypatch.setattr(flow_module, "fuse_archive", lambda job: JobSummary(
        job_id="j", date="2026-01-01", ok=0, failed=3, skipped=0, clips=3, frames=0, seconds=1.0,
        method="average", model_version="average-1", failures=failures))
    result = CliRunner().invoke(cli.app, ["submit", str(tmp_path), "--out", str(tmp_path / "o"), "--quiet"])
    assert result.exit_code == 3, result.output
    assert all(f"  failed {name}: reason of {name}\n" in result.output for name in NAMES), result.output
    for name in NAMES:
        p = temcoco("report", str(tmp_path), "--job", name)
        assert p.returncode == 2 and f"no job {name!r}" in p.stderr, p.stderr


def test_a_summary_names_at_most_the_first_failures_and_says_how_to_find_the_rest(monkeypatch, tmp_path):
    """A night where every clip fails must not print (or hold) one line per clip."""
    from typer.testing import CliRunner

    import temcoco.flows.fuse_archive as flow_module
    from temcoco import cli

    tally = flow_module.Tally()
    for i in range(flow_module.FAILURES_KEPT + 50):
        tally.add(ClipResult(f"c{i:03d}", Status.FAILED, "unreadable"))
    assert tally.failed == flow_module.FAILURES_KEPT + 50 and len(tally.failures) == flow_module.FAILURES_KEPT
    assert next(iter(tally.failures)) == "c000"
    monkeypatch.setattr(flow_module, "fuse_archive", lambda job: JobSummary(
        job_id="j", date="2026-01-01", ok=0, failed=tally.failed, skipped=0, clips=tally.failed, frames=0,
        seconds=1.0, method="average", model_version="average-1", failures=tally.failures))
    result = CliRunner().invoke(cli.app, ["submit", str(tmp_path), "--out", str(tmp_path / "o o"), "--quiet"])
    assert result.exit_code == 3 and result.output.count("  failed c") == flow_module.FAILURES_KEPT, result.output
    assert (f"  … and 50 more failed clips: temcoco metrics '{tmp_path}/o o' --sql \"SELECT clip_id, error FROM "
            "metrics WHERE job_id = 'j' AND status = 'failed'\"") in result.output, result.output
