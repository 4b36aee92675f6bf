"""Aligned IR/VI pairs: trimming, resizing, frame-rate alignment, real data."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from temcoco.errors import ClipError
from temcoco.storage import pairing
from temcoco.storage.pairing import PairStats, iter_pairs, probe_pair
from temcoco.storage.video import iter_frames
from tests.support.media import clip, encode, index_of, write_images

from temcoco.devdata import DEV_DATA as M3SVD


def pairs_of(ir: Path, vi: Path) -> tuple[list[tuple[np.ndarray, np.ndarray]], PairStats]:
    stats = PairStats(0, 0, 0, "")
    return list(iter_pairs(str(ir), str(vi), stats=stats)), stats


def test_equal_folders_pair_frame_by_frame(tmp_path):
    frames = clip(6)
    ir = write_images(tmp_path / "ir", frames[..., 0])
    vi = write_images(tmp_path / "vi", frames)
    info = probe_pair(str(ir), str(vi))
    assert (info.width, info.height, info.fps, info.ir.kind) == (64, 48, 25.0, "frames")
    pairs, stats = pairs_of(ir, vi)
    assert np.array_equal(np.stack([p[0] for p in pairs]), frames[..., :1])
    assert np.array_equal(np.stack([p[1] for p in pairs]), frames)
    assert (stats.ir_frames, stats.vi_frames, stats.pairs, stats.note) == (6, 6, 6, "")


@pytest.mark.parametrize(("ir_count", "vi_count"), [(18, 20), (20, 18)])
def test_different_frame_counts_are_trimmed_with_a_note(tmp_path, ir_count, vi_count):
    ir = write_images(tmp_path / "ir", clip(ir_count, 12, 16)[..., 0])
    vi = write_images(tmp_path / "vi", clip(vi_count, 12, 16))
    pairs, stats = pairs_of(ir, vi)
    shorter = min(ir_count, vi_count)
    assert [(index_of(a), index_of(b)) for a, b in pairs] == [(i, i) for i in range(shorter)]
    assert (stats.ir_frames, stats.vi_frames, stats.pairs) == (ir_count, vi_count, shorter)
    assert stats.note == f"IR has {ir_count} frames, VI {vi_count}: trimmed to {shorter}"


def test_lower_resolution_ir_is_resized_to_the_vi_grid(tmp_path):
    small = clip(4, 24, 32)[..., 0]
    ir = write_images(tmp_path / "ir", small)
    vi = write_images(tmp_path / "vi", clip(4))
    pairs, _ = pairs_of(ir, vi)
    assert all(a.shape == (48, 64, 1) and b.shape == (48, 64, 3) for a, b in pairs)
    assert np.array_equal(pairs[2][0][..., 0], cv2.resize(small[2], (64, 48), interpolation=cv2.INTER_LINEAR))


def test_larger_ir_of_the_same_aspect_is_shrunk(tmp_path):
    ir = write_images(tmp_path / "ir", clip(3, 96, 128)[..., 0])
    vi = write_images(tmp_path / "vi", clip(3))
    pairs, _ = pairs_of(ir, vi)
    assert pairs[0][0].shape == (48, 64, 1)


def test_larger_ir_of_another_aspect_is_refused(tmp_path):
    ir = write_images(tmp_path / "ir", clip(2, 64, 64)[..., 0])
    vi = write_images(tmp_path / "vi", clip(2))
    with pytest.raises(ClipError, match="IR is 64x64, larger than VI 64x48"):
        probe_pair(str(ir), str(vi))


def test_ir_at_half_the_vi_rate_uses_each_ir_frame_twice(tmp_path):
    ir = encode(tmp_path / "ir.mp4", clip(10), fps=15)
    vi = encode(tmp_path / "vi.mp4", clip(20), fps=30)
    pairs, stats = pairs_of(ir, vi)
    assert [index_of(a) for a, _ in pairs] == [i // 2 for i in range(20)]
    assert [index_of(b) for _, b in pairs] == list(range(20))
    assert (stats.ir_frames, stats.vi_frames, stats.pairs) == (10, 20, 20)
    assert stats.note == "IR resampled from 15 to 30 fps"


def test_ir_at_twice_the_vi_rate_drops_every_other_ir_frame(tmp_path):
    ir = encode(tmp_path / "ir.mkv", clip(20), fps=30)
    vi = encode(tmp_path / "vi.mkv", clip(10), fps=15)
    pairs, stats = pairs_of(ir, vi)
    assert [index_of(a) for a, _ in pairs] == [2 * i for i in range(10)]
    assert stats.note == "IR resampled from 30 to 15 fps"  # not trimmed: IR frame 19 falls in VI 9's slot


def test_a_shorter_ir_at_another_rate_ends_the_pairs(tmp_path):
    ir = encode(tmp_path / "ir.mp4", clip(5), fps=15)  # 0 .. 0.33 s
    vi = encode(tmp_path / "vi.mp4", clip(20), fps=30)
    pairs, stats = pairs_of(ir, vi)
    assert [index_of(a) for a, _ in pairs] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]  # VI 10 is at 0.33 s + 1/30
    assert stats.note == "IR resampled from 15 to 30 fps; IR has 5 frames, VI 20: trimmed to 10"


def test_a_frame_folder_takes_the_rate_of_its_video_partner(tmp_path):
    ir = write_images(tmp_path / "ir", clip(12)[..., 0])
    vi = encode(tmp_path / "vi.mp4", clip(12), fps=30)
    info = probe_pair(str(ir), str(vi))
    assert info.ir.fps == info.fps == 30
    pairs, stats = pairs_of(ir, vi)
    assert [index_of(a) for a, _ in pairs] == list(range(12))
    assert stats.note == ""


def test_pairs_stream(tmp_path, monkeypatch):
    """The first pair comes after reading one VI frame and two IR frames; closing the pairs closes both sources."""
    ir = write_images(tmp_path / "ir", clip(5)[..., 0])
    vi = write_images(tmp_path / "vi", clip(5))
    closed = []

    def tracked(url, *args, **kwargs):
        try:
            yield from iter_frames(url, *args, **kwargs)
        finally:
            closed.append(url)

    monkeypatch.setattr(pairing, "iter_frames", tracked)
    stats = PairStats(0, 0, 0, "")
    pairs = iter_pairs(str(ir), str(vi), stats=stats)
    first = next(pairs)
    assert first[0].shape == (48, 64, 1)
    assert (stats.vi_frames, stats.ir_frames) == (1, 2) and closed == []
    pairs.close()  # the sources are closed with it
    assert sorted(closed) == sorted([str(ir), str(vi)])


def test_real_m3svd_sequence():
    ir, vi = M3SVD / "infrared_noise" / "0111_1716", M3SVD / "visible_Blur" / "0111_1716"
    if not (ir.is_dir() and vi.is_dir()):
        pytest.skip(f"real data not found at {M3SVD} (see ../shared/data/README.md)")
    info = probe_pair(str(ir), str(vi))
    assert (info.width, info.height, info.fps) == (640, 480, 25.0)
    stats = PairStats(0, 0, 0, "")
    count = 0
    for a, b in iter_pairs(str(ir), str(vi), stats=stats):
        assert a.shape == (480, 640, 1) and b.shape == (480, 640, 3)
        assert a.dtype == b.dtype == np.uint8
        count += 1
    assert count == stats.pairs == 20 and stats.note == ""
