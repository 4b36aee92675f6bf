"""Frame sources (videos, frame folders) and the H.264 writer."""

from __future__ import annotations

import tracemalloc
import types

import cv2
import fsspec
import numpy as np
import pytest

from temcoco.errors import ClipError, StorageError
from temcoco.storage.video import (
    DEFAULT_FOLDER_FPS, VideoWriter, iter_frames, natural_key, probe,
)
from tests.support.media import clip, encode, index_of, read_video, resolution_change_mkv, write_images


def write(url: str, frames: np.ndarray, fps: float = 25.0, **kwargs) -> str:
    with VideoWriter(url, fps, **kwargs) as writer:
        writer.write(frames)
    return url


# ---------------------------------------------------------------- the writer and video files


@pytest.mark.parametrize("extension", [".mp4", ".avi", ".mkv", ".mov"])
def test_roundtrip_through_writer_and_reader(tmp_path, extension):
    frames = clip(20)
    url = write(str(tmp_path / f"clip{extension}"), frames)
    info = probe(url)
    assert (info.kind, info.width, info.height, info.fps, info.frames) == ("video", 64, 48, 25.0, 20)
    decoded = list(iter_frames(url, 3))
    assert len(decoded) == 20
    assert [f.time for f in decoded] == pytest.approx([i / 25 for i in range(20)])
    assert all(f.image.shape == (48, 64, 3) and f.image.dtype == np.uint8 and f.image.flags.c_contiguous
               for f in decoded)
    error = np.abs(np.stack([f.image for f in decoded]).astype(int) - frames)
    assert error.mean() < 2 and error.max() < 24


def test_frames_written_in_pieces_come_back_one_for_one(tmp_path):
    frames = clip(13)
    url = str(tmp_path / "pieces.mp4")
    with VideoWriter(url, 30000 / 1001) as writer:
        writer.write(frames[0])  # (H, W, 3)
        writer.write(frames[1:9])  # (T, H, W, 3)
        writer.write(frames[9:])
        assert writer.frames == 13
    assert [index_of(f) for f in read_video(url)] == list(range(13))
    assert probe(url).fps == pytest.approx(30000 / 1001, abs=1e-9)


def test_odd_sizes_are_padded_by_repeating_the_last_row_and_column(tmp_path):
    frames = clip(5, height=47, width=63)
    video = read_video(write(str(tmp_path / "odd.mp4"), frames))
    assert video.shape == (5, 48, 64, 3)
    assert np.abs(video[:, :47, :63].astype(int) - frames).mean() < 2
    assert np.abs(video[:, 47].astype(int) - video[:, 46]).mean() < 2  # the repeated row


@pytest.mark.parametrize("height, width", [(30, 44), (46, 50)])
def test_sizes_whose_chroma_planes_are_odd_in_height_or_width(tmp_path, height, width):
    """A half height or width that is odd (30 -> 15) once broke the split of the YUV 4:2:0 planes."""
    frames = clip(3, height=height, width=width)
    video = read_video(write(str(tmp_path / "c.mp4"), frames))
    assert video.shape == (3, height, width, 3)
    assert np.abs(video.astype(int) - frames).mean() < 2


@pytest.mark.parametrize("height, width", [(48, 64), (30, 44), (480, 640)])
def test_frames_are_ffmpegs_own_rgb_conversion(tmp_path, height, width):
    """One converter a stream (set up once, not per frame) gives PyAV's per-frame RGB pixels exactly."""
    import av

    url = write(str(tmp_path / "c.mp4"), clip(4, height=height, width=width))
    with av.open(url) as container:
        expected = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    frames = [frame.image for frame in iter_frames(url, 3)]
    assert len(frames) == 4 and all(np.array_equal(a, b) for a, b in zip(frames, expected))


def test_luminance_is_bt601_of_the_rgb_frame(tmp_path):
    url = write(str(tmp_path / "c.mp4"), clip(3))
    for rgb, gray in zip(iter_frames(url, 3), iter_frames(url, 1)):
        assert gray.image.shape == (48, 64, 1)
        assert np.array_equal(gray.image[..., 0], cv2.cvtColor(rgb.image, cv2.COLOR_RGB2GRAY))


def test_video_rates_and_timestamps(tmp_path):
    url = str(encode(tmp_path / "15.mp4", clip(6), fps=15))
    assert probe(url).fps == 15
    assert [f.time for f in iter_frames(url, 1)] == pytest.approx([i / 15 for i in range(6)])


def test_non_ascii_names_with_spaces(tmp_path):
    folder = tmp_path / "dossier été" / "sous dossier"
    url = write(str(folder / "clip vidéo.mp4"), clip(4))
    assert probe(url).frames == 4
    assert len(read_video(url)) == 4
    frames = write_images(tmp_path / "images été", clip(3), names=["é 1.png", "é 2.png", "é 10.png"])
    assert [index_of(f.image) for f in iter_frames(str(frames), 3)] == [0, 1, 2]


def test_fsspec_urls_other_than_local_files():
    fs = fsspec.filesystem("memory")
    url = write("memory://bucket/fused/clip.mp4", clip(7))
    assert fs.exists("/bucket/fused/clip.mp4")
    assert probe(url).frames == 7
    assert [index_of(f.image) for f in iter_frames(url, 3)] == list(range(7))
    for i, image in enumerate(clip(3)):
        fs.pipe(f"/bucket/frames/{i}.png", cv2.imencode(".png", image)[1].tobytes())
    assert probe("memory://bucket/frames").frames == 3
    assert len(list(iter_frames("memory://bucket/frames", 1))) == 3
    fs.rm("/bucket", recursive=True)


def test_unwritable_location_is_a_storage_error_naming_it(tmp_path):
    (tmp_path / "file").write_text("a regular file")
    target = tmp_path / "file" / "out.mp4"
    with pytest.raises(StorageError, match="cannot write .*out.mp4.*Not a directory"):
        VideoWriter(str(target), 25.0)


def test_output_appears_only_when_complete(tmp_path):
    target = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError), VideoWriter(str(target), 25.0) as writer:
        writer.write(clip(3))
        raise RuntimeError("the fusion failed")
    assert list(tmp_path.iterdir()) == []  # neither the video nor its temp file
    with pytest.raises(ClipError, match="no frames"), VideoWriter(str(target), 25.0):
        pass
    assert list(tmp_path.iterdir()) == []


def test_writer_rejects_wrong_frames(tmp_path):
    with VideoWriter(str(tmp_path / "w.mp4"), 25.0) as writer:
        with pytest.raises(ValueError, match="uint8 RGB"):
            writer.write(clip(2).astype(np.float32))
        writer.write(clip(2))
        with pytest.raises(ValueError, match="differs"):
            writer.write(clip(1, height=24, width=32))
    with pytest.raises(ValueError, match="closed"):
        writer.write(clip(1))


def test_memory_stays_bounded_while_streaming(tmp_path):
    """300 frames of 320x240 RGB are 69 MB; streaming holds a few frames."""
    url = write(str(tmp_path / "long.mp4"), np.repeat(clip(1, 240, 320), 300, axis=0), crf=35)
    frames = iter_frames(url, 3)
    assert isinstance(frames, types.GeneratorType)
    tracemalloc.start()
    try:
        count = sum(1 for _ in frames)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 300
    assert peak < 5 * 320 * 240 * 3


# ---------------------------------------------------------------- bad video files


def test_missing_path(tmp_path):
    with pytest.raises(ClipError, match="missing.mp4: no such file"):
        probe(str(tmp_path / "missing.mp4"))


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    for action in (probe, lambda url: list(iter_frames(url, 3))):
        with pytest.raises(ClipError, match=r"empty.mp4: empty file \(0 bytes\)"):
            action(str(tmp_path / "empty.mp4"))


def test_text_file_named_mp4(tmp_path):
    (tmp_path / "text.mp4").write_text("not a video, just text\n" * 20)
    with pytest.raises(ClipError, match="text.mp4: not a readable video: Invalid data"):
        probe(str(tmp_path / "text.mp4"))


def test_unknown_extension(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ClipError, match=r"unknown file type \.txt"):
        probe(str(tmp_path / "notes.txt"))


def read_all(url: str) -> int:
    probe(url)
    return sum(1 for _ in iter_frames(url, 3))


@pytest.mark.parametrize("index_first", [False, True])
@pytest.mark.parametrize("keep", [1 / 3, 2 / 3])
def test_truncated_mp4_is_a_clip_error(tmp_path, index_first, keep):
    """Index at the end (most recorders): the cut file does not open. Index first (our writer,
    faststart): the data ends before the index does."""
    source = tmp_path / "whole.mp4"
    if index_first:
        write(str(source), clip(30))
    else:
        encode(source, clip(30))
    data = source.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ClipError, match="cut.mp4: (not a readable video|truncated or corrupt video after)"):
        read_all(str(tmp_path / "cut.mp4"))


def test_resolution_change_midway(tmp_path):
    url = str(resolution_change_mkv(tmp_path / "change.mkv", clip(5, 48, 64), clip(5, 24, 32)))
    assert probe(url).width == 64
    frames = iter_frames(url, 3)
    assert len([next(frames) for _ in range(5)]) == 5
    with pytest.raises(ClipError, match="resolution changes at frame 5, from 64x48 to 32x24"):
        next(frames)


# ---------------------------------------------------------------- frame folders


@pytest.mark.parametrize("extension", [".png", ".tif"])
@pytest.mark.parametrize("channels", [1, 3])
def test_8bit_lossless_folders_read_exactly(tmp_path, extension, channels):
    frames = clip(5)
    stored = frames if channels == 3 else cv2.cvtColor(frames.reshape(-1, 64, 3), cv2.COLOR_RGB2GRAY).reshape(5, 48, 64)
    url = str(write_images(tmp_path / "f", stored, extension))
    info = probe(url)
    assert (info.kind, info.width, info.height, info.fps, info.frames) == ("frames", 64, 48, DEFAULT_FOLDER_FPS, 5)
    rgb = list(iter_frames(url, 3))
    assert [f.time for f in rgb] == pytest.approx([i / DEFAULT_FOLDER_FPS for i in range(5)])
    expected = frames if channels == 3 else np.repeat(stored[..., None], 3, axis=-1)
    assert np.array_equal(np.stack([f.image for f in rgb]), expected)
    gray = np.stack([f.image for f in iter_frames(url, 1)])
    assert gray.shape == (5, 48, 64, 1)
    if channels == 1:
        assert np.array_equal(gray[..., 0], stored)


@pytest.mark.parametrize("channels", [1, 3])
def test_jpeg_folders(tmp_path, channels):
    frames = clip(4)
    stored = frames if channels == 3 else frames[..., 1]
    url = str(write_images(tmp_path / "j", stored, ".jpg"))
    images = np.stack([f.image for f in iter_frames(url, 3)])
    assert images.shape == (4, 48, 64, 3)
    assert [index_of(i) for i in images] == [0, 1, 2, 3]


def test_colour_order_and_alpha(tmp_path):
    red = np.zeros((2, 8, 10, 4), np.uint8)
    red[..., 0] = 255
    red[..., 3] = 128  # alpha is dropped, not blended
    url = str(write_images(tmp_path / "rgba", red, ".png"))
    image = next(iter_frames(url, 3)).image
    assert image.shape == (8, 10, 3) and np.all(image == [255, 0, 0])


@pytest.mark.parametrize("extension", [".png", ".tif"])
@pytest.mark.parametrize("channels", [1, 3])
def test_16bit_folders_use_one_window_per_clip(tmp_path, extension, channels):
    """The 8-bit window comes from the whole clip: frame 0 (cool) stays dark, frame 3 (hot) bright,
    and equal raw values give equal 8-bit values in every frame."""
    ramp = np.linspace(1000, 2000, 64)[None, :].repeat(48, axis=0)
    raw = np.stack([ramp + 1000 * i for i in range(4)]).astype(np.uint16)  # 1000 .. 5000
    stored = raw if channels == 1 else np.repeat(raw[..., None], 3, axis=-1)
    url = str(write_images(tmp_path / "t", stored, extension))
    out = np.stack([f.image[..., 0] for f in iter_frames(url, 1)]).astype(int)
    assert out.min() == 0 and out.max() == 255
    assert out[0].mean() < 60 and out[3].mean() > 195
    assert raw[1, 0, -1] == raw[2, 0, 0] == 3000 and out[1, 0, -1] == out[2, 0, 0]
    linear = (raw.astype(float) - raw.min()) * 255 / (raw.max() - raw.min())
    assert np.abs(out - linear).max() < 4  # the 0.5/99.5 percentiles sit close to the extremes here


def test_tiff_that_opencv_cannot_read(tmp_path):
    """float16 TIFF (OpenCV declines it): read with tifffile, windowed like other deep images."""
    raw = np.stack([np.full((6, 8), v, np.float16) for v in (20.0, 30.0, 40.0)])
    raw[:, 0, 0] = 10.0
    url = str(write_images(tmp_path / "half", raw, ".tif"))
    out = [int(f.image[3, 3, 0]) for f in iter_frames(url, 1)]
    assert out[0] < out[1] < out[2]


def test_natural_sort(tmp_path):
    frames = clip(12)
    names = [f"{i + 1}.png" for i in range(12)]
    url = str(write_images(tmp_path / "n", frames, names=names))
    assert [index_of(f.image) for f in iter_frames(url, 3)] == list(range(12))
    assert sorted(["frame10.png", "Frame2.png", "frame1.png"], key=natural_key) == \
        ["frame1.png", "Frame2.png", "frame10.png"]


def test_folder_ignores_other_and_hidden_files(tmp_path):
    url = write_images(tmp_path / "o", clip(3))
    (url / "notes.txt").write_text("x")
    (url / "._0001.png").write_bytes(b"resource fork")
    assert probe(str(url)).frames == 3


def test_empty_folder_and_folder_without_images(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "readme.txt").write_text("x")
    for name in ("empty", "text"):
        with pytest.raises(ClipError, match=f"{name}: no images"):
            probe(str(tmp_path / name))


def test_folder_frame_of_another_size(tmp_path):
    folder = write_images(tmp_path / "s", clip(3))
    write_images(folder, clip(1, 24, 32), names=["0003.png"])
    with pytest.raises(ClipError, match="0003.png is 32x24, the first frame 64x48"):
        list(iter_frames(str(folder), 3))


def test_undecodable_image(tmp_path):
    folder = write_images(tmp_path / "u", clip(2))
    (folder / "0002.png").write_bytes(b"not a png")
    with pytest.raises(ClipError, match="cannot decode image 0002.png"):
        list(iter_frames(str(folder), 3))


SAME_FRAMES_FOUR_TIMES = """
import sys
import numpy as np
from temcoco.allocator import keep_freed_memory
from temcoco.storage.video import VideoWriter
keep_freed_memory()  # freed memory is recycled, as in an actor
height, width, folder = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(0)
scene = rng.integers(0, 255, (height + 40, width + 40, 3), dtype=np.uint8)
frames = np.stack([scene[t : t + height, 2 * t : 2 * t + width] for t in range(20)])
videos = []
for run in range(4):
    garbage = [np.full(1 << 20, 255 - 7 * run, np.uint8) for _ in range(50)]  # what the next blocks held before
    del garbage
    with VideoWriter(f"{folder}/{run}.mp4", 25.0) as writer:
        writer.write(frames)
    videos.append(open(f"{folder}/{run}.mp4", "rb").read())
print(sum(video == videos[0] for video in videos))
"""


@pytest.mark.parametrize(("height", "width"), [(32, 48), (30, 44), (31, 45)])
def test_the_same_frames_give_the_same_video_whatever_memory_held_before(tmp_path, height, width):
    """x264's MB-tree read memory it had not written: with recycled memory the same frames gave other videos."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", SAME_FRAMES_FOUR_TIMES, str(height), str(width), str(tmp_path)],
                         check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "4"
