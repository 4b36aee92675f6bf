"""Fused chunks: each variant's frames stay its own; all-black chunks are stored and count as present."""

import numpy as np

from tests.support.archives import write_pair
from tests.support.stages import fuse_through_stages
from temcoco.model.registry import load_method
from temcoco.storage.archive import ClipSource
from temcoco.storage.identity import fingerprint
from temcoco.storage.layout import ClipLayout
from temcoco.workers.fuse_chunk import fuse_chunk
from temcoco.workers.fused_array import check_complete, prepare_output
from temcoco.workers.ingest import ingest


def one_pass(fusion, source: ClipSource) -> np.ndarray:
    """The clip fused in one window, straight from its sources."""
    from temcoco.overlap import fuse_window, stream_windows
    from temcoco.storage.pairing import iter_pairs

    pairs = iter_pairs(source.ir, source.vi)
    return np.concatenate([fuse_window(fusion, spec, *w) for spec, w in stream_windows(pairs, 10_000,
                                                                                      fusion.temporal_radius)])


def test_interleaved_jobs_with_other_methods_never_mix_frames(tmp_path):
    """Job A (average) and job B (max) on one OUT, their chunks interleaved: each variant's frames stay its own."""
    root = write_pair(tmp_path / "pair", 6, 16, 24, seed=1)
    source = ClipSource("yard_a", str(root / "ir"), str(root / "vi"))
    fp = fingerprint(source)
    jobs = {}
    for job, method in (("a", "average"), ("b", "max")):
        fusion = load_method(method)
        layout = ClipLayout(str(tmp_path / "out"), source.clip_id, job, fusion.version)
        ingested = ingest(source, layout, fp, 2)
        jobs[job] = (fusion, layout, ingested, prepare_output(layout, ingested, 0))
    order = [("a", 0), ("b", 0), ("b", 1), ("a", 1), ("b", 2), ("a", 2)]
    for job, i in order:
        fusion, layout, ingested, todo = jobs[job]
        fuse_chunk(layout, todo[i], fp, fusion)
    for job, (fusion, layout, ingested, _) in jobs.items():
        frames = check_complete(layout, ingested)[:]
        assert np.array_equal(frames, one_pass(fusion, source)), job


def test_black_chunks_are_stored_and_count_as_present(tmp_path):
    source_root = tmp_path / "pair"
    (source_root / "ir").mkdir(parents=True)
    (source_root / "vi").mkdir()
    import cv2

    for i in range(4):
        cv2.imwrite(str(source_root / "ir" / f"{i}.png"), np.zeros((16, 24), np.uint8))
        cv2.imwrite(str(source_root / "vi" / f"{i}.png"), np.zeros((16, 24, 3), np.uint8))
    source = ClipSource("black", str(source_root / "ir"), str(source_root / "vi"))
    layout, ingested = fuse_through_stages(source, tmp_path / "out", "max")
    assert not check_complete(layout, ingested)[:].any()
