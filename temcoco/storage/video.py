"""Frame sources (video files and folders of frames) and the H.264 writer, on any fsspec URL.

Sources are streamed one frame at a time: a clip is never held in memory.

* Video files (``.mp4 .avi .mkv .mov``) are decoded with PyAV. A frame's time is its
  presentation time (pts x time base) relative to the first frame; AVI stores no
  presentation times (its packet times are in decode order), so there a frame's time is
  its index / frame rate.
* Folders of frames (``.png .jpg .jpeg .tif .tiff``, hidden files ignored) are read in
  natural order (``frame2`` before ``frame10``) at ``DEFAULT_FOLDER_FPS``. Images deeper
  than 8 bits (16-bit thermal, float TIFF) are mapped to 8 bits with one linear window per
  clip, not per frame (that would flicker): low/high are the 0.5/99.5 percentiles of the
  pixel values of at most 16 evenly spaced frames of the folder (at most 2^18 values
  each, so memory stays bounded); values are clipped to [low, high] and scaled to 0..255.

Truncated or corrupt videos are ClipErrors where FFmpeg reports them (MP4, MOV, AVI cut short
do not open or fail mid-stream). Known limit: a Matroska file cut between clusters just ends
early, without an error; a pair then shows it as trimmed in its note.
"""

from __future__ import annotations

import io
import os
import posixpath
import re
import tempfile
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from typing import NamedTuple

import av
from av.video.reformatter import VideoReformatter
import cv2
import numpy as np
import tifffile

from temcoco.errors import ClipError, StorageError
from temcoco.storage.fs import TEMP_PREFIX, filesystem, is_local
from temcoco.storage.imagesize import header_size

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
DEFAULT_FOLDER_FPS = 25.0  # frame folders carry no rate
DEFAULT_MAX_PIXELS = 4096 * 4096  # a frame above this is refused before it is decoded (--max-pixels)

_WINDOW_FRAMES = 16  # frames sampled for a folder's 8-bit window
_WINDOW_VALUES = 1 << 18  # pixel values kept per sampled frame
_WINDOW_PERCENTILES = (0.5, 99.5)
_READ_AHEAD = 8  # folder images fetched and decoded ahead (bounded memory)
_READ_THREADS = 4
_MUXERS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi"}  # anything else: mp4
_BT601 = 6  # AVCOL_SPC/PRI/TRC_SMPTE170M: how the encoder's RGB -> YUV conversion is tagged


@dataclass(frozen=True)
class StreamInfo:
    """What ``probe`` learns about a source.

    ``frames`` is the frame count when known cheaply: the number of images of a folder; for
    a video the container's count, or an estimate from its duration, or None.
    """

    url: str
    kind: str  # "video" | "frames"
    width: int
    height: int
    fps: float
    frames: int | None


class Frame(NamedTuple):
    """One decoded frame: ``time`` in seconds from the first frame, ``image`` (H, W, C) uint8, C-contiguous."""

    time: float
    image: np.ndarray


# ---------------------------------------------------------------- reading


def check_pixels(url: str, width: int, height: int, max_pixels: int) -> None:
    """ClipError when a ``width`` x ``height`` frame of ``url`` is above ``max_pixels``."""
    if width * height > max_pixels:
        raise ClipError(f"{url}: frames are {width}x{height} ({width * height / 1e6:.1f} Mpx), above the limit of "
                        f"{max_pixels / 1e6:.1f} Mpx a frame: raise --max-pixels to fuse it")


def probe(url: str, storage_options: dict | None = None, max_pixels: int = DEFAULT_MAX_PIXELS) -> StreamInfo:
    """Open a video file or frame folder and decode its first frame to prove it is readable.

    Raises ClipError (one line, naming ``url``) for a missing path, an empty file, a file
    that is not a readable video, a video without video stream or frames, a folder without
    images, an unknown file type, and for frames above ``max_pixels`` (from the header,
    before anything is decoded).
    """
    fs, path = filesystem(url, storage_options)
    with _read_errors(url):
        if _source_kind(fs, path, url) == "frames":
            paths = _image_paths(fs, path, url)
            height, width = _load_image(fs, paths[0], url, max_pixels).shape[:2]
            return StreamInfo(url, "frames", width, height, DEFAULT_FOLDER_FPS, len(paths))
        with _open_video(fs, path, url) as (container, stream):
            check_pixels(url, stream.codec_context.width, stream.codec_context.height, max_pixels)
            frames = _decoded_frames(container, stream, url)
            first = next(frames, None)
            frames.close()
            if first is None:
                raise ClipError(f"{url}: not a readable video: no frame could be decoded")
            fps = _frame_rate(stream, url)
            return StreamInfo(url, "video", first.width, first.height, fps, _frame_count(container, stream, fps))


def iter_frames(url: str, channels: int, storage_options: dict | None = None,
                max_pixels: int = DEFAULT_MAX_PIXELS) -> Iterator[Frame]:
    """Stream the frames of a video file or frame folder, one at a time.

    Args:
        channels: 1 for luminance (BT.601, as ``cv2.COLOR_RGB2GRAY``), 3 for RGB
            (gray sources are replicated).

    Yields:
        Frame(time, image (H, W, channels) uint8).

    Raises ClipError as ``probe`` does (every image of a folder is checked against
    ``max_pixels`` before it is decoded), and for a video that is truncated or corrupt after
    some frames or whose frames change size midway.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, not {channels}")
    fs, path = filesystem(url, storage_options)
    with _read_errors(url):
        if _source_kind(fs, path, url) == "frames":
            yield from _folder_frames(fs, path, url, channels, max_pixels)
        else:
            yield from _video_frames(fs, path, url, channels)


@contextmanager
def _read_errors(url: str) -> Iterator[None]:
    """Storage failures as user-facing errors: a vanished path is the clip's problem, the rest the store's."""
    try:
        yield
    except FileNotFoundError as e:
        raise ClipError(f"{url}: no such file or folder") from e
    except OSError as e:
        raise StorageError(f"cannot read {url}: {e}") from e


def _source_kind(fs, path: str, url: str) -> str:
    """"frames" for a folder, "video" for a file with a video extension; ClipError otherwise."""
    if fs.isdir(path):
        return "frames"
    if not fs.exists(path):
        raise ClipError(f"{url}: no such file or folder")
    extension = posixpath.splitext(path)[1].lower()
    if extension not in VIDEO_EXTENSIONS:
        raise ClipError(f"{url}: unknown file type {extension or '(no extension)'}: expected a video "
                        f"({' '.join(VIDEO_EXTENSIONS)}) or a folder of frames")
    return "video"


# ---------------------------------------------------------------- video files


@contextmanager
def _open_video(fs, path: str, url: str) -> Iterator[tuple[av.container.InputContainer, av.VideoStream]]:
    """The open container and its first video stream."""
    if fs.size(path) == 0:
        raise ClipError(f"{url}: empty file (0 bytes)")
    with fs.open(path, "rb") as file:
        try:
            container = av.open(file)
        except av.FFmpegError as e:
            raise ClipError(f"{url}: not a readable video: {_reason(e)}") from e
        with container:
            if not container.streams.video:
                raise ClipError(f"{url}: not a readable video: no video stream")
            yield container, container.streams.video[0]


def _decoded_frames(container: av.container.InputContainer, stream: av.VideoStream,
                    url: str) -> Iterator[av.VideoFrame]:
    """Decode ``stream``; a demux or decode error (truncated or corrupt data) is a ClipError."""
    frames = 0
    try:
        for frame in container.decode(stream):
            frames += 1
            yield frame
    except av.FFmpegError as e:
        raise ClipError(f"{url}: truncated or corrupt video after {frames} frames: {_reason(e)}") from e


def _video_frames(fs, path: str, url: str, channels: int) -> Iterator[Frame]:
    """Frames as RGB through one reformatter a stream: ``to_ndarray(format=...)`` would set up a new
    threaded converter for every frame (1-5 ms a frame at any size; the same pixels either way)."""
    rgb = VideoReformatter()
    with _open_video(fs, path, url) as (container, stream):
        fps = _frame_rate(stream, url)
        times_by_index = container.format.name == "avi"
        start = size = None
        for index, frame in enumerate(_decoded_frames(container, stream, url)):
            if size is None:
                size = (frame.width, frame.height)
            elif (frame.width, frame.height) != size:
                raise ClipError(f"{url}: the resolution changes at frame {index}, from {size[0]}x{size[1]} "
                                f"to {frame.width}x{frame.height}")
            time = index / fps if times_by_index or frame.pts is None else float(frame.time)
            start = time if start is None else start
            image = rgb.reformat(frame, format="rgb24", threads=1).to_ndarray()
            yield Frame(time - start, _to_channels(image, channels))


def _frame_rate(stream: av.VideoStream, url: str) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate:
        raise ClipError(f"{url}: the video stream has no frame rate")
    return float(rate)


def _frame_count(container: av.container.InputContainer, stream: av.VideoStream, fps: float) -> int | None:
    """The container's frame count, else duration x fps, else None."""
    if stream.frames:
        return stream.frames
    if stream.duration is not None and stream.time_base:
        return round(float(stream.duration * stream.time_base) * fps)
    if container.duration:
        return round(container.duration / av.time_base * fps)
    return None


def _reason(error: av.FFmpegError) -> str:
    """FFmpeg's message without the '<none>' file name PyAV appends for file objects."""
    return error.strerror or str(error)


# ---------------------------------------------------------------- frame folders


def natural_key(name: str) -> tuple:
    """Sort key for natural order: ``frame2.png`` < ``frame10.png`` (case-insensitive)."""
    return tuple(int(part) if i % 2 else part.lower() for i, part in enumerate(re.split(r"(\d+)", name)))


def _image_paths(fs, path: str, url: str) -> list[str]:
    """The folder's images in natural order (hidden files ignored); ClipError when there are none."""
    names = [p for p in fs.ls(path, detail=False)
             if posixpath.splitext(p)[1].lower() in IMAGE_EXTENSIONS and not posixpath.basename(p).startswith(".")]
    if not names:
        raise ClipError(f"{url}: no images ({' '.join(IMAGE_EXTENSIONS)}) in the folder")
    return sorted(names, key=lambda p: natural_key(posixpath.basename(p)))


def _folder_frames(fs, path: str, url: str, channels: int, max_pixels: int) -> Iterator[Frame]:
    paths = _image_paths(fs, path, url)
    window = first = None
    for index, image in enumerate(_read_ahead(fs, paths, url, max_pixels)):
        if first is None:
            first = image.shape[:2]
        elif image.shape[:2] != first:
            raise ClipError(f"{url}: {posixpath.basename(paths[index])} is {image.shape[1]}x{image.shape[0]}, "
                            f"the first frame {first[1]}x{first[0]}")
        if image.dtype != np.uint8:
            if window is None:
                window = _clip_window(fs, paths, url)
            image = _apply_window(image, window)
        yield Frame(index / DEFAULT_FOLDER_FPS, _to_channels(image, channels))


def _read_ahead(fs, paths: list[str], url: str, max_pixels: int) -> Iterator[np.ndarray]:
    """``_load_image`` of each path, in order, fetched and decoded up to ``_READ_AHEAD`` images ahead
    on a few threads (object-store reads are latency-bound; cv2 decodes without the GIL)."""
    with ThreadPoolExecutor(_READ_THREADS) as pool:
        pending: deque = deque()
        for path in paths:
            pending.append(pool.submit(_load_image, fs, path, url, max_pixels))
            if len(pending) == _READ_AHEAD:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _load_image(fs, path: str, url: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """One image as (H, W, 1) gray or (H, W, 3) RGB in its own dtype (alpha dropped); its header
    size is checked against ``max_pixels`` before it is decoded."""
    data = fs.cat_file(path)
    name = posixpath.basename(path)
    size = header_size(data)
    if size is not None:
        check_pixels(f"{url}/{name}" if not url.endswith(name) else url, *size, max_pixels)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    bgr = image is not None
    if image is None and name.lower().endswith((".tif", ".tiff")):
        image = _read_tiff(data)
    if image is None:
        raise ClipError(f"{url}: cannot decode image {name}")
    if image.ndim == 2:
        return image[..., None]
    if image.ndim != 3 or image.shape[2] > 4:
        raise ClipError(f"{url}: {name} has an unsupported layout {image.shape} (expected H x W x 1-4 channels)")
    if image.shape[2] <= 2:  # gray, gray + alpha
        return image[..., :1]
    return image[..., 2::-1] if bgr else image[..., :3]  # BGR(A) or RGB(A) -> RGB


def _read_tiff(data: bytes) -> np.ndarray | None:
    """tifffile's reading of a TIFF that OpenCV cannot decode (e.g. float16), or None."""
    try:
        return tifffile.imread(io.BytesIO(data))
    except (ValueError, OSError, NotImplementedError, tifffile.TiffFileError):
        return None


def _clip_window(fs, paths: list[str], url: str) -> tuple[float, float]:
    """The folder's (low, high) 8-bit window: percentiles over at most 16 evenly spaced frames."""
    picks = np.unique(np.linspace(0, len(paths) - 1, min(_WINDOW_FRAMES, len(paths))).round().astype(int))
    samples = []
    for i in picks:
        values = _load_image(fs, paths[i], url).ravel()
        samples.append(values[:: max(1, values.size // _WINDOW_VALUES)].astype(np.float64))
    low, high = np.percentile(np.concatenate(samples), _WINDOW_PERCENTILES)
    return float(low), float(high if high > low else low + 1)


def _apply_window(image: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """Clip to [low, high] and scale linearly to 0..255 uint8; same shape."""
    low, high = window
    scaled = (image.astype(np.float32) - low) * (255.0 / (high - low))
    return np.rint(np.clip(scaled, 0, 255)).astype(np.uint8)


def _to_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """(H, W, 1|3) uint8 -> (H, W, channels) uint8, C-contiguous."""
    image = np.ascontiguousarray(image)
    if image.shape[2] == channels:
        return image
    if channels == 1:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None]
    return np.repeat(image, 3, axis=2)


# ---------------------------------------------------------------- writing


class VideoWriter:
    """Encode RGB frames to H.264 (libx264, yuv420p, CRF 18, preset veryfast) at ``url``; a context manager.

    ``veryfast`` encodes noisy fused frames about 3x faster than x264's default ``medium``
    at a similar size for the same CRF (measured here): the encoder must keep up with fusion.

    The container follows the extension (.mp4 .mov .mkv .avi; anything else gets MP4).
    One output frame per written frame, at a constant ``fps`` (a float rate such as 29.97 is
    stored as the nearest fraction with denominator <= 1001000, i.e. 30000/1001).
    yuv420p needs even sizes: an odd width or height is padded to even by repeating the
    last column or row, so such a video decodes 1 pixel wider or taller; nothing is cropped.
    The output appears only when ``close`` succeeds: locally as a temp file in the same
    folder renamed over ``url`` (atomic); elsewhere as a local temp file uploaded with
    ``fs.put``. Leaving the ``with`` block by an exception discards it.
    An unwritable location raises StorageError when the writer is created.
    """

    def __init__(self, url: str, fps: float, storage_options: dict | None = None, crf: int = 18,
                 preset: str = "veryfast"):
        self.url = url
        self.frames = 0
        self._rate = Fraction(fps).limit_denominator(1001000)
        self._crf = crf
        self._preset = preset
        self._fs, self._path = filesystem(url, storage_options)
        extension = posixpath.splitext(self._path)[1].lower()
        self._format = _MUXERS.get(extension, "mp4")
        self._container: av.container.OutputContainer | None = None
        self._stream: av.VideoStream | None = None
        self._size: tuple[int, int] | None = None  # (height, width) of the written frames
        self._closed = False
        try:
            if is_local(url):
                folder, name = os.path.split(self._path)
                self._temp = os.path.join(folder, f"{TEMP_PREFIX}{uuid.uuid4().hex}-{name}")
                _create_file(self._temp)
            else:
                self._fs.makedirs(posixpath.dirname(self._path), exist_ok=True)
                handle, self._temp = tempfile.mkstemp(suffix=extension)
                os.close(handle)
        except OSError as e:
            raise StorageError(f"cannot write {url}: {e}") from e

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, error_type, error, traceback) -> None:
        if error_type is None:
            self.close()
        else:
            self._closed = True
            self._discard()

    def write(self, frames: np.ndarray) -> None:
        """Append (T, H, W, 3) or (H, W, 3) uint8 RGB frames; the first frame fixes the size."""
        if self._closed:
            raise ValueError(f"{self.url}: the writer is closed")
        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"expected (T, H, W, 3) or (H, W, 3) uint8 RGB frames, got {frames.shape} {frames.dtype}")
        if self._container is None:
            self._open(*frames.shape[1:3])
        if frames.shape[1:3] != self._size:
            raise ValueError(f"frame size {frames.shape[1:3]} differs from the first frame's {self._size}")
        for image in frames:
            # RGB -> YUV 4:2:0 (BT.601, limited range) by OpenCV, not swscale: swscale's result
            # depends on the input's memory alignment, and the same frames must give the same video.
            frame = _yuv420p_frame(_pad_to_even(image))
            frame.pts = self.frames
            self._mux(self._stream.encode(frame))
            self.frames += 1

    def close(self) -> None:
        """Flush the encoder and publish the file at ``url`` (once). ClipError when no frame was written."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._container is None:
                raise ClipError(f"{self.url}: no frames to write")
            self._mux(self._stream.encode())
            self._container.close()
            self._container = None
            if is_local(self.url):
                os.replace(self._temp, self._path)
            else:
                self._fs.put_file(self._temp, self._path)
        except (OSError, av.FFmpegError) as e:
            raise StorageError(f"cannot write {self.url}: {e}") from e
        finally:
            self._discard()

    def _open(self, height: int, width: int) -> None:
        self._size = (height, width)
        # MP4/MOV with the index first, so that the video plays while it loads.
        options = {"movflags": "+faststart"} if self._format in ("mp4", "mov") else {}
        self._container = av.open(self._temp, "w", format=self._format, options=options)
        # MB-tree off: with it, x264's output depended on memory it had not written (the same frames gave
        # other videos once the process's allocator recycled freed memory, see temcoco.allocator; tested).
        # On fused frames it also made videos ~7 % larger at the same CRF and CPU (measured here).
        stream = self._container.add_stream("libx264", rate=self._rate, options={
            "crf": str(self._crf), "preset": self._preset, "x264-params": "mbtree=0"})
        stream.width, stream.height = width + width % 2, height + height % 2
        stream.pix_fmt = "yuv420p"
        context = stream.codec_context
        # One encoder thread: with frame threads x264's decisions (so the decoded pixels) varied
        # between runs under load here, and the same frames must always give the same video.
        # (Workers use one CPU each anyway.)
        context.thread_type = "NONE"
        context.thread_count = 1
        context.time_base = 1 / self._rate  # pts = frame index
        context.colorspace = context.color_primaries = context.color_trc = _BT601
        context.color_range = 1  # limited ("tv") range, as swscale converts
        self._stream = stream

    def _mux(self, packets: list[av.Packet]) -> None:
        try:
            self._container.mux(packets)
        except (OSError, av.FFmpegError) as e:
            raise StorageError(f"cannot write {self.url}: {e}") from e

    def _discard(self) -> None:
        """Drop the temp file (and the open container, if any: its own errors no longer matter)."""
        if self._container is not None:
            try:
                self._container.close()
            except (OSError, av.FFmpegError):
                pass
            self._container = None
        if os.path.exists(self._temp):
            os.remove(self._temp)


def _yuv420p_frame(rgb: np.ndarray) -> av.VideoFrame:
    """(H, W, 3) uint8 RGB, H and W even -> a yuv420p frame whose every byte is set.

    The conversion is OpenCV's (BT.601, limited range), not swscale's, whose result depends
    on the input's memory alignment. The padding at the end of each line is filled by
    repeating the last pixel.
    """
    height, width = rgb.shape[:2]
    i420 = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV_I420).reshape(-1)
    luma, chroma = height * width, height * width // 4  # U and V need not fill whole rows of width W
    y = i420[:luma].reshape(height, width)
    u = i420[luma: luma + chroma].reshape(height // 2, width // 2)
    v = i420[luma + chroma:].reshape(height // 2, width // 2)
    frame = av.VideoFrame(width, height, "yuv420p")
    for plane, data in zip(frame.planes, (y, u, v)):
        lines = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[: data.shape[0]]
        lines[:, : data.shape[1]] = data
        lines[:, data.shape[1]:] = data[:, -1:]
    return frame


def _create_file(path: str) -> None:
    """Create an empty file, and its folders when missing (an OSError names what is in the way)."""
    try:
        open(path, "xb").close()
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "xb").close()


def _pad_to_even(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) -> (H + H % 2, W + W % 2, 3), repeating the last row/column; C-contiguous."""
    height, width = image.shape[:2]
    if height % 2 or width % 2:
        image = np.pad(image, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
    return np.ascontiguousarray(image)
