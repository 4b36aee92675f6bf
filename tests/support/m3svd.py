"""Real frames of the first M3SVD dev sequence, fused by averaging: inputs for the metric tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def averaged_frames(m3svd: Path, count: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``count`` frames of the first sequence: IR (H, W) uint8, VI (H, W, 3) RGB, their per-pixel average (H, W, 3)."""
    seq = sorted(p.name for p in (m3svd / "visible_Blur").iterdir())[0]
    frames = []
    for t in range(count):
        ir = cv2.imread(str(m3svd / "infrared_noise" / seq / f"{t:04d}.png"), cv2.IMREAD_GRAYSCALE)
        vi = cv2.cvtColor(cv2.imread(str(m3svd / "visible_Blur" / seq / f"{t:04d}.png")), cv2.COLOR_BGR2RGB)
        frames.append((ir, vi, ((vi.astype(np.uint16) + ir[..., None]) // 2).astype(np.uint8)))
    return frames
