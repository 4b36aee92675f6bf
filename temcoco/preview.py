"""Per-clip preview for the job report: frames side by side at three moments of the clip, and
per-frame metric series reduced to a bounded number of bins (min, mean and max per bin)."""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence

import cv2
import numpy as np

THUMB_WIDTH = 240
MAX_POINTS = 1000  # bins kept per per-frame series in a clip's preview


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


def reduce_series(values: Sequence[float | None], max_points: int = MAX_POINTS) -> dict:
    """A per-frame series reduced to at most ``max_points`` bins of about equal length.

    Args:
        values: (T,) one value per frame; None or non-finite where not computed.
    Returns:
        ``{"frames": T, "frame": [first frame of each bin], "min": [...], "mean": [...], "max": [...]}``,
        lists of equal length (at most ``max_points``); min and max keep single-frame spikes visible;
        None for a bin without values, 6 significant digits (compact JSON). With T <= max_points each
        frame is its own bin.
    """
    v = np.array([np.nan if x is None else x for x in values], dtype=np.float64)
    v[~np.isfinite(v)] = np.nan
    bins = coarsen({"frames": len(v), "frame": list(range(len(v))), "min": v, "mean": v, "max": v}, max_points)
    return {**bins, **{k: [None if x is None else float(f"{x:.6g}") for x in bins[k]] for k in ("min", "mean", "max")}}


def coarsen(series: dict, max_points: int) -> dict:
    """Merge neighbouring bins of a :func:`reduce_series` result into at most ``max_points`` bins.

    Each new bin spans about ``frames / max_points`` frames: min of the mins, max of the maxes, and the
    mean of the means weighted by the frames each bin spans (exact when every frame has a value).
    """
    frames, start = int(series["frames"]), np.asarray(series["frame"], dtype=np.int64)
    lo, mean, hi = (np.array(series[k], dtype=np.float64) for k in ("min", "mean", "max"))  # None -> NaN
    if len(start) == 0:
        return {"frames": frames, "frame": [], "min": [], "mean": [], "max": []}
    group = start * min(len(start), max_points) // max(frames, 1)
    first = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])  # index of each new bin's first old bin
    weight = np.where(np.isnan(mean), 0, np.diff(np.r_[start, max(frames, start[-1] + 1)]))
    total = np.add.reduceat(weight, first)
    with np.errstate(invalid="ignore", divide="ignore"):
        merged = np.add.reduceat(np.nan_to_num(mean) * weight, first) / total
    return {"frames": frames, "frame": start[first].tolist(), "min": _floats(np.fmin.reduceat(lo, first)),
            "mean": _floats(np.where(total > 0, merged, np.nan)), "max": _floats(np.fmax.reduceat(hi, first))}


def _floats(a: np.ndarray) -> list[float | None]:
    """Array -> JSON-ready list, None for NaN."""
    return [None if math.isnan(x) else x for x in a.tolist()]
