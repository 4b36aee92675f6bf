"""Aligned IR/VI frame pairs on the VI grid, streamed.

The visible stream sets the output: one pair per VI frame, at VI's size and rate. Each VI
frame at time t gets the IR frame whose time is nearest to t (an exact tie keeps the
earlier IR frame, the one on screen at t), so an IR stream at another rate has frames
repeated or dropped. Pairing stops at the end of the shorter stream: a VI frame later than
the last IR frame + half an IR frame period has no partner. IR is resized to the VI grid
when the sizes differ (bilinear when enlarging, pixel-area averaging when shrinking).
A frame folder has no rate of its own: paired with a video it takes the video's rate
(otherwise it reads at DEFAULT_FOLDER_FPS).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, replace

import cv2
import numpy as np

from temcoco.errors import ClipError
from temcoco.storage.video import DEFAULT_FOLDER_FPS, DEFAULT_MAX_PIXELS, Frame, StreamInfo, iter_frames, probe

_TIE = 1e-4  # seconds: timestamps closer than this count as equal


@dataclass(frozen=True)
class PairInfo:
    """Both sources (a folder's fps already its partner's, see probe_pair) and the output grid: VI's size and rate."""

    ir: StreamInfo
    vi: StreamInfo
    width: int
    height: int
    fps: float


@dataclass
class PairStats:
    """Filled in place by ``iter_pairs``, final when its iterator ends.

    ``ir_frames``/``vi_frames`` count each stream's frames (a stream not read to its end
    counts its probed frame count, when larger); ``note`` is "" or says how the pair was
    trimmed or resampled, e.g. "IR has 18 frames, VI 20: trimmed to 18".
    """

    ir_frames: int
    vi_frames: int
    pairs: int
    note: str


def probe_pair(ir_url: str, vi_url: str, storage_options: dict | None = None,
               max_pixels: int = DEFAULT_MAX_PIXELS) -> PairInfo:
    """Probe both sources.

    A frame folder has no rate of its own (it reads at DEFAULT_FOLDER_FPS): paired with a
    video, it takes the video's rate. ClipError when IR is larger than VI in a dimension and
    has another aspect ratio (it cannot be mapped onto the VI grid); a smaller or equal IR,
    or a larger one of the same aspect ratio, is resized to the VI grid.
    """
    ir = probe(ir_url, storage_options, max_pixels)
    vi = probe(vi_url, storage_options, max_pixels)
    ir, vi = _partner_rate(ir, vi), _partner_rate(vi, ir)
    larger = ir.width > vi.width or ir.height > vi.height
    if larger and not math.isclose(ir.width / ir.height, vi.width / vi.height, rel_tol=0.01):
        raise ClipError(f"IR is {ir.width}x{ir.height}, larger than VI {vi.width}x{vi.height} with another "
                        f"aspect ratio: it cannot be mapped onto the VI grid ({ir_url})")
    return PairInfo(ir, vi, vi.width, vi.height, vi.fps)


def iter_pairs(
    ir_url: str, vi_url: str, storage_options: dict | None = None, stats: PairStats | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS, info: PairInfo | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Stream aligned pairs, one per VI frame, holding at most two IR frames and one VI frame.

    Yields:
        (ir (H, W, 1) uint8, vi (H, W, 3) uint8) on the VI grid.

    ``stats``, when given, is filled in place (see PairStats). ``info`` is the pair's
    ``probe_pair``, when the caller has it (each probe opens both sources).
    """
    info = info or probe_pair(ir_url, vi_url, storage_options, max_pixels)
    stats = stats if stats is not None else PairStats(0, 0, 0, "")
    stats.ir_frames = stats.vi_frames = stats.pairs = 0
    stats.note = ""
    with (closing(_timed(iter_frames(ir_url, 1, storage_options, max_pixels), info.ir)) as ir_frames,
          closing(_timed(iter_frames(vi_url, 3, storage_options, max_pixels), info.vi)) as vi_frames):

        def next_ir() -> Frame | None:
            frame = next(ir_frames, None)
            stats.ir_frames += frame is not None
            return frame

        current, upcoming = next_ir(), next_ir()
        last_time = -math.inf  # of the last paired VI frame
        vi_left = False  # VI frames remain that have no IR partner
        for vi in vi_frames:
            stats.vi_frames += 1
            while upcoming is not None and upcoming.time - vi.time < vi.time - current.time - _TIE:
                current, upcoming = upcoming, next_ir()
            if current is None or (upcoming is None and vi.time > current.time + 0.5 / info.ir.fps + _TIE):
                vi_left = True
                break
            stats.pairs += 1
            last_time = vi.time
            yield _to_grid(current.image, info.width, info.height), vi.image
    ir_left = upcoming is not None and upcoming.time > last_time + 0.5 / info.vi.fps + _TIE
    if vi_left:
        stats.vi_frames = max(stats.vi_frames, info.vi.frames or 0)
    if upcoming is not None:
        stats.ir_frames = max(stats.ir_frames, info.ir.frames or 0)
    stats.note = _note(stats, info, trimmed=vi_left or ir_left)


def _partner_rate(side: StreamInfo, partner: StreamInfo) -> StreamInfo:
    """A frame folder takes the rate of a video partner."""
    if side.kind == "frames" and partner.kind == "video":
        return replace(side, fps=partner.fps)
    return side


def _timed(frames: Iterator[Frame], info: StreamInfo) -> Iterator[Frame]:
    """Frames with times at ``info.fps`` (a folder read at DEFAULT_FOLDER_FPS may have taken its partner's rate)."""
    if info.kind == "video":
        yield from frames
    else:
        for frame in frames:
            yield Frame(frame.time * DEFAULT_FOLDER_FPS / info.fps, frame.image)


def _to_grid(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """(h, w, 1) -> (height, width, 1): bilinear when enlarging, pixel-area averaging when shrinking."""
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    interpolation = cv2.INTER_AREA if w * h > width * height else cv2.INTER_LINEAR
    return cv2.resize(image[..., 0], (width, height), interpolation=interpolation)[..., None]


def _note(stats: PairStats, info: PairInfo, trimmed: bool) -> str:
    """What the metrics row should say about the pairing ("" when nothing happened)."""
    parts = []
    if not math.isclose(info.ir.fps, info.vi.fps, rel_tol=1e-3):
        parts.append(f"IR resampled from {info.ir.fps:g} to {info.vi.fps:g} fps")
    if trimmed:
        parts.append(f"IR has {stats.ir_frames} frames, VI {stats.vi_frames}: trimmed to {stats.pairs}")
    return "; ".join(parts)
