"""The job report, rendered by a real browser (headless Chromium)."""

import re
import shutil
import subprocess

import pytest

from tests.archives import add_bad_clips, good_archive

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report(tmp_path_factory, ray_cluster, prefect_harness):
    from temcoco.flows.fuse_archive import fuse_archive
    from temcoco.job import JobConfig

    root = tmp_path_factory.mktemp("report")
    archive = good_archive(root / "archive", clips=2, frames=10)
    add_bad_clips(archive)
    out = root / "out"
    fuse_archive(JobConfig(str(archive), str(out), job_id="rep", method="max", workers=1, chunk=4))
    return out / "reports" / "rep.html"


def test_report_lists_clips_metrics_and_failures(report):
    page = report.read_text()
    assert page.count('<section class="clip">') == 2
    assert "clip 1 vidéo" in page and "no visible partner" in page
    assert page.count("<svg") == 4  # SSIM and flowD per clip
    assert page.count("data:image/jpeg;base64,") == 6  # three moments per clip


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make test installs it)")
def test_report_renders_in_headless_chromium(report, tmp_path):
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000"]
    dom = subprocess.run([*args, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=120).stdout
    total = re.search(r'data-images-total="(\d+)"', dom)
    loaded = re.search(r'data-images-loaded="(\d+)"', dom)
    assert total and loaded, dom[:500]
    assert int(total.group(1)) == 6 and int(loaded.group(1)) == 6
    rows = re.findall(r"<tr><td>", dom[dom.index('class="metrics"'):])
    assert len(rows) >= 2
    shot = tmp_path / "report.png"
    subprocess.run([*args, f"--screenshot={shot}", "--window-size=1280,2000", report.as_uri()], capture_output=True,
                   timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000
