"""Per-clip preview for the job report: frames side by side at three moments of the clip."""

from __future__ import annotations

import base64

import cv2
import numpy as np

THUMB_WIDTH = 240


def moments(frames: int) -> list[int]:
    """Three frame indices spread over a clip of ``frames`` frames (beginning, middle, end)."""
    return sorted({min(frames - 1, max(0, round(frames * q))) for q in (1 / 6, 1 / 2, 5 / 6)})


def strip(ir: np.ndarray, vi: np.ndarray, fused: np.ndarray) -> str:
    """IR | VI | fused side by side, as a base64 JPEG data URI.

    Args:
        ir: (H, W, 1) uint8; vi, fused: (H, W, 3) uint8 RGB.
    """
    h, w = vi.shape[:2]
    th = max(1, round(h * THUMB_WIDTH / w))
    tiles = [cv2.resize(np.repeat(ir, 3, axis=-1) if ir.shape[-1] == 1 else ir, (THUMB_WIDTH, th), interpolation=cv2.INTER_AREA),
             cv2.resize(vi, (THUMB_WIDTH, th), interpolation=cv2.INTER_AREA),
             cv2.resize(fused, (THUMB_WIDTH, th), interpolation=cv2.INTER_AREA)]
    image = np.concatenate(tiles, axis=1)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a {image.shape[1]}x{image.shape[0]} preview strip as JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(data.tobytes()).decode()
