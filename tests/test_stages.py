"""The archive path's stages in-process: chunked fusion through zarr equals one-pass fusion."""

from pathlib import Path

import numpy as np
import pytest

from tests.archives import write_pair
from temcoco.model.registry import METHODS, load_method
from temcoco.storage.archive import ClipSource
from temcoco.storage.frames import open_frames
from temcoco.storage.layout import ClipLayout
from temcoco.workers import stages


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    root = write_pair(tmp_path_factory.mktemp("stages"), 9, 30, 44, seed=5)
    return ClipSource("c", str(root / "ir"), str(root / "vi"))


def fuse_through_zarr(source: ClipSource, out: str, chunk: int, method) -> np.ndarray:
    layout = ClipLayout(out, source.clip_id, "job", method.version)
    ingested = stages.ingest(source, layout, stages.fingerprint(source), chunk)
    for spec in stages.prepare_output(layout, ingested, method.temporal_radius):
        assert stages.fuse_chunk(layout, spec, ingested.fingerprint, method) == spec.stop - spec.start
    assert stages.prepare_output(layout, ingested, method.temporal_radius) == []  # every chunk committed
    return open_frames(layout.fused_frames)[:]


@pytest.mark.parametrize("method", METHODS)
def test_chunks_through_zarr_equal_one_pass(clip, tmp_path, method):
    fusion = load_method(method, device="cpu")
    one_pass = fuse_through_zarr(clip, str(tmp_path / "a"), 1000, fusion)
    for chunk in (1, 4):
        assert np.array_equal(fuse_through_zarr(clip, str(tmp_path / f"c{chunk}"), chunk, fusion), one_pass)


def test_committed_chunks_are_not_fused_again(clip, tmp_path):
    fusion = load_method("average")
    layout = ClipLayout(str(tmp_path), "c", "job", fusion.version)
    ingested = stages.ingest(clip, layout, stages.fingerprint(clip), 4)
    first = stages.prepare_output(layout, ingested, 0)
    assert stages.fuse_chunk(layout, first[0], ingested.fingerprint, fusion) == 4
    assert stages.fuse_chunk(layout, first[0], ingested.fingerprint, fusion) == 0  # duplicated work item: skipped
    assert [s.start for s in stages.prepare_output(layout, ingested, 0)] == [4, 8]
    # another model version has results of its own
    other = ClipLayout(str(tmp_path), "c", "job", "other-1")
    assert [s.start for s in stages.prepare_output(other, ingested, 0)] == [0, 4, 8]
    # a later job with another chunk size keeps the array's chunking and its committed chunks
    again = stages.ingest(clip, ClipLayout(str(tmp_path), "c", "job2", fusion.version), ingested.fingerprint, 3)
    assert [s.start for s in stages.prepare_output(ClipLayout(str(tmp_path), "c", "job2", fusion.version), again, 0)] == [4, 8]


def test_fingerprint_follows_content(clip, tmp_path):
    before = stages.fingerprint(clip)
    assert stages.fingerprint(clip) == before
    path = sorted(Path(clip.vi).iterdir())[0]
    data = path.read_bytes()
    try:
        path.write_bytes(data + b"\0")
        assert stages.fingerprint(clip) != before
    finally:
        path.write_bytes(data)
