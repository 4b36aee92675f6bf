"""Small test media: frames whose index can be read back after lossy coding, written as videos
(with PyAV directly, independent of temcoco's writer) or as folders of images."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import tifffile

from temcoco.storage.video import iter_frames

LEVEL_STEP = 8  # frame i has mean brightness about LEVEL_BASE + LEVEL_STEP * i
LEVEL_BASE = 20


def clip(frames: int, height: int = 48, width: int = 64, start: int = 0) -> np.ndarray:
    """(frames, height, width, 3) uint8 RGB: smooth colour gradients (kind to H.264) around a level
    that encodes the frame index (see ``index_of``). Indices start at ``start``."""
    y, x = np.mgrid[:height, :width]
    pattern = np.stack([x * 24 / width, y * 24 / height, (x + y) * 12 / (width + height)], axis=-1) - 10
    levels = LEVEL_BASE + LEVEL_STEP * np.arange(start, start + frames)
    return np.clip(levels[:, None, None, None] + pattern, 0, 255).astype(np.uint8)


def index_of(image: np.ndarray) -> int:
    """The frame index ``clip`` encoded in ``image`` (any channels, survives lossy coding)."""
    return round((float(image.mean()) - LEVEL_BASE) / LEVEL_STEP)


def encode(path: Path, frames: np.ndarray, fps: float = 25, container: str | None = None, first_pts: int = 0) -> Path:
    """(T, H, W, 3) uint8 RGB -> an H.264 video at ``path`` (container from the extension unless given)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format=container) as output:
        stream = output.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = first_pts + i
            output.mux(stream.encode(frame))
        output.mux(stream.encode())
    return path


def resolution_change_mkv(path: Path, first: np.ndarray, second: np.ndarray, fps: float = 25) -> Path:
    """An mkv whose frames change size midway: two MPEG-TS segments (which concatenate byte-wise),
    remuxed into one Matroska stream."""
    part1 = encode(path.with_suffix(".1.ts"), first, fps, container="mpegts")
    part2 = encode(path.with_suffix(".2.ts"), second, fps, container="mpegts", first_pts=2 * len(first))
    joined = path.with_suffix(".ts")
    joined.write_bytes(part1.read_bytes() + part2.read_bytes())
    with av.open(str(joined)) as source, av.open(str(path), "w") as output:
        stream = output.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                output.mux(packet)
    return path


def write_images(folder: Path, frames: np.ndarray, extension: str = ".png", names: list[str] | None = None) -> Path:
    """(T, H, W) gray or (T, H, W, C) RGB(A) frames, any dtype cv2/tifffile can store, one file each
    (``0000.png`` ... unless ``names``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(frames):
        path = folder / (names[i] if names else f"{i:04d}{extension}")
        if path.suffix in (".tif", ".tiff"):
            tifffile.imwrite(path, image, photometric="rgb" if image.ndim == 3 else "minisblack")
        else:
            bgr = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA if image.shape[2] == 4
                                                             else cv2.COLOR_RGB2BGR)
            ok, data = cv2.imencode(path.suffix, bgr)
            assert ok, path
            path.write_bytes(data.tobytes())
    return folder


def read_video(url: str, storage_options: dict | None = None) -> np.ndarray:
    """The whole video as (T, H, W, 3) uint8 RGB (every frame in memory: small test files only)."""
    return np.stack([frame.image for frame in iter_frames(url, 3, storage_options)])
