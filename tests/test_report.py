"""The job report, rendered by a real browser (headless Chromium)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.archives import add_bad_clips, good_archive

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report(tmp_path_factory, ray_cluster, prefect_harness):
    from temcoco.flows.fuse_archive import fuse_archive
    from temcoco.job import JobConfig
    from temcoco.metrics.policy import MetricPolicy

    root = tmp_path_factory.mktemp("report")
    archive = good_archive(root / "archive", clips=2, frames=10)
    add_bad_clips(archive)
    out = root / "out"
    # every frame scored: the per-frame plots need series (the default policy samples every 8th frame)
    fuse_archive(JobConfig(str(archive), str(out), job_id="rep", method="max", workers=1, chunk=4,
                           metrics=MetricPolicy("full")))
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


def small_strip() -> str:
    """A JPEG data URI of about 5 kB (a real frame strip is 15-40 kB)."""
    import base64

    import cv2
    import numpy as np

    image = np.random.default_rng(0).integers(0, 256, (24, 96, 3), dtype=np.uint8)
    return "data:image/jpeg;base64," + base64.b64encode(cv2.imencode(".jpg", image)[1].tobytes()).decode()


@pytest.fixture(scope="module")
def big_job(tmp_path_factory):
    """2,000 clips' rows, previews and summary, made without the pipeline; returns (OUT, clip ids, ok clips,
    the clip with a flicker spike)."""
    import random

    from temcoco.preview import reduce_series
    from temcoco.storage.fs import write_json
    from temcoco.storage.layout import ClipLayout, job_summary
    from temcoco.storage.results import write_row

    out, rng, image = str(tmp_path_factory.mktemp("big") / "out"), random.Random(0), small_strip()
    ids = [f"cam {i:04d} <&>" if i % 500 == 3 else f"cam {i:04d}" for i in range(2000)]
    status = {c: "failed" if i % 50 == 7 else "skipped" if i % 97 == 5 else "ok" for i, c in enumerate(ids)}
    for i, clip in enumerate(ids):
        frames = 1800 if i % 20 == 0 else 60
        flowd = [None] + [rng.uniform(1, 2) for _ in range(frames - 1)]
        if i == 1240:
            flowd[1234] = 999.0  # a one-frame flicker (the job's highest mean flowD)
        row = {"clip_id": clip, "method": "max", "model_version": "max-1", "status": status[clip], "frames": frames,
               "width": 640, "height": 480, "fps": 30.0, "flowD": sum(flowd[1:]) / (frames - 1), "SSIM": 1.5,
               "error": "no visible partner" if status[clip] == "failed" else None,
               "note": "unchanged since job x" if status[clip] == "skipped" else None,
               "video": f"{out}/fused/max-1/{i}.mp4"}
        write_row(out, "2026-01-01", "big", clip, row)
        if status[clip] == "ok":
            per_frame = {"SSIM": [rng.uniform(1.4, 1.6) for _ in range(frames)], "flowD": flowd}
            series = {"per_frame": per_frame} if i % 400 == 1 else {  # an earlier version's whole lists
                "series": {k: reduce_series(v) for k, v in per_frame.items()}}
            write_json(ClipLayout(out, clip, "big", "max-1").preview, {
                "clip_id": clip, "strips": [{"frame": f, "image": image} for f in (10, 30, 50)], "chunk": 64,
                "fps": 30.0, **series})
    counts = {s: sum(v == s for v in status.values()) for s in ("ok", "failed", "skipped")}
    write_json(job_summary(out, "big"), {"job_id": "big", "status": "finished", "clips": 2000, **counts})
    return out, ids, counts["ok"], ids[1240]


def test_a_2000_clip_report_is_small_streamed_and_lists_every_clip(big_job, tmp_path):
    import html
    import tracemalloc

    from temcoco.report import render

    out, ids, ok, spike = big_job
    tracemalloc.start()
    url = render(out, "big")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    page = Path(url).read_text(encoding="utf-8")
    assert len(page.encode()) < 10_000_000 and peak < 5_000_000, (len(page), peak)  # never the whole page
    assert page.count('<section class="clip">') == page.count(">fused video</a>") == ok
    assert page.count("<svg") == 2 * ok  # every ok clip's SSIM and flowD, earlier versions' previews too
    assert page.count("data:image/jpeg") <= 3 * 20  # strips of the first 10 clips and the 10 with most flicker
    section = page[page.index(f">{spike}</h3>"):].split("</section>")[0]
    assert "data:image/jpeg" in section and ">999</text>" in section  # the flicker is shown, spike and all
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (make test installs it)")
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                          f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", f"file://{url}"],
                         capture_output=True, text=True, timeout=300).stdout
    assert 'data-images-total="' in dom, dom[-500:]
    assert all(html.escape(clip) in dom for clip in ids)
