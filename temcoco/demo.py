"""`make demo`: build a small archive, fuse it with `temcoco submit`, print the metrics.

The archive holds the real M3SVD dev sequences (degraded inputs) when ``../shared/data``
is present, referenced from a ``manifest.csv``, plus synthetic clips made here: warm
objects moving over a textured background, IR with stripe and sensor noise, VI blurred.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from temcoco.devdata import DEV_DATA
from temcoco.storage.layout import fused_folder

ROOT = Path(__file__).resolve().parents[1]


def synthetic_clip(frames: int = 60, height: int = 240, width: int = 320, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A registered pair: IR (T, H, W) uint8 and VI (T, H, W, 3) uint8.

    Three warm ellipses move across a textured scene: they are bright in IR and nearly
    invisible in VI (a dark scene); the texture is sharp in VI and faint in IR.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    texture = cv2.GaussianBlur(rng.random((height, width), np.float32), (0, 0), 2.0)
    texture = (texture - texture.min()) / (np.ptp(texture) + 1e-6)
    stripes = 0.5 + 0.5 * np.sin(xx / 9.0 + 2 * np.sin(yy / 23.0))
    scene = 0.6 * texture + 0.4 * stripes
    colour = np.stack([scene, 0.8 * scene + 0.1, 0.6 * scene + 0.2], axis=-1)
    objects = [(rng.uniform(0.1, 0.9) * width, rng.uniform(0.2, 0.8) * height, rng.uniform(-3, 3),
                rng.uniform(-1, 1), rng.uniform(10, 22)) for _ in range(3)]
    column_gain = rng.normal(0, 6, width).astype(np.float32)
    irs, vis = [], []
    for t in range(frames):
        heat = np.zeros((height, width), np.float32)
        for x0, y0, vx, vy, r in objects:
            cx, cy = (x0 + vx * t) % width, (y0 + vy * t) % height
            heat = np.maximum(heat, np.exp(-(((xx - cx) / r) ** 2 + ((yy - cy) / (1.6 * r)) ** 2)))
        ir = 60 + 40 * texture + 150 * heat + column_gain + rng.normal(0, 6, (height, width))
        vi = 255 * colour * (0.35 + 0.05 * np.sin(t / 9.0))
        vi = cv2.GaussianBlur(vi.astype(np.float32), (0, 0), 1.2)
        irs.append(np.clip(ir, 0, 255).astype(np.uint8))
        vis.append(np.clip(vi, 0, 255).astype(np.uint8))
    return np.stack(irs), np.stack(vis)


def build_archive(archive: Path, synthetic: int = 2, frames: int = 60) -> None:
    """Write ``archive`` with a manifest of M3SVD sequences (when present) and synthetic mp4 clips."""
    from temcoco.storage.video import VideoWriter

    shutil.rmtree(archive, ignore_errors=True)
    (archive / "synthetic").mkdir(parents=True)
    rows = []
    if DEV_DATA.exists():
        for seq in sorted(p.name for p in (DEV_DATA / "infrared_noise").iterdir()):
            rows.append({"clip_id": f"m3svd_{seq}", "ir": str(DEV_DATA / "infrared_noise" / seq),
                         "vi": str(DEV_DATA / "visible_Blur" / seq)})
    for i in range(synthetic):
        ir, vi = synthetic_clip(frames, seed=i)
        for side, data in (("ir", np.repeat(ir[..., None], 3, axis=-1)), ("vi", vi)):
            with VideoWriter(str(archive / "synthetic" / f"{side}_{i}.mp4"), 25.0) as w:
                w.write(data)
        rows.append({"clip_id": f"synthetic_{i}", "ir": f"synthetic/ir_{i}.mp4", "vi": f"synthetic/vi_{i}.mp4"})
    with open(archive / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["clip_id", "ir", "vi"])
        writer.writeheader()
        writer.writerows(rows)


def main() -> int:
    archive, out = ROOT / "demo-archive", ROOT / "demo-out"
    build_archive(archive)
    print(f"archive: {archive} ({'M3SVD dev sequences + ' if DEV_DATA.exists() else ''}synthetic clips)", flush=True)
    temcoco = [sys.executable, "-m", "temcoco.cli"]
    # Chunks of 16 frames, so that every clip has seams and the summary can show they are invisible.
    # The manifest names the dev sequences where they lie, outside the archive: allow that folder.
    allow = ["--allow-source", str(DEV_DATA)] if DEV_DATA.exists() else []
    code = subprocess.call([*temcoco, "submit", str(archive), "--out", str(out), "--workers", "2", "--chunk", "16",
                            "--job-id", "demo", *allow])
    if code not in (0, 3):
        return code
    subprocess.call([*temcoco, "metrics", str(out), "--sql",
                     "SELECT clip_id, status, frames, round(seconds, 1) AS seconds, round(EN, 2) AS EN, "
                     "round(SSIM, 3) AS SSIM, round(VIF, 3) AS VIF, round(Qabf, 3) AS Qabf, round(flowD, 2) AS flowD "
                     "FROM metrics WHERE job_id = 'demo' ORDER BY clip_id"])
    print(f"fused videos: {fused_folder(str(out), '<model version>')}/")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
