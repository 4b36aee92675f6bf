"""Nothing lost, nothing mixed: results keyed by what made them, any clip name, atomic writes,
commit markers that name their chunk, checked ids, bounded staging (DESIGN.md 'Exactly-once results')."""

import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from tests.support.archives import write_mp4, write_pair
from temcoco.demo import synthetic_clip
from temcoco.errors import ClipError, TemcocoError
from temcoco.job import JobConfig
from temcoco.model.registry import load_method
from temcoco.storage.archive import ClipSource, discover
from temcoco.storage.commits import committed_chunks
from temcoco.storage.frames import create_inputs, open_inputs
from temcoco.storage.fs import check_writable, remove_tree, write_json
from temcoco.storage.keys import clip_id_of, clip_key
from temcoco.storage.layout import ClipLayout
from temcoco.storage.lease import JobLease
from temcoco.storage.results import query, write_row
from temcoco.storage.identity import fingerprint
from temcoco.workers.encode_and_measure import encode_and_measure
from temcoco.workers.fuse_chunk import fuse_chunk
from temcoco.workers.fused_array import check_complete, prepare_output
from temcoco.workers.ingest import ingest

HOSTILE = ["cam 1", "clip vidéo", "cam::1", "cam[1]", "*", "?", "cam%41", "#tag", "-lead", "[bold]x", "cam[/]",
           "a~b", ".hidden", "..", "日本語 ナイト", "x" * 120, "cam?[*]", "100%", "cam*", "a b [c] (d)"]


@pytest.mark.parametrize("name", HOSTILE)
def test_clip_keys_are_safe_and_reversible(name):
    key = clip_key(name)
    assert not set(key) & set("*?[]/:#\\ ") and not key.startswith(".") and len(key) <= 160
    assert clip_id_of(key) == name


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


def fuse_through_stages(source: ClipSource, out: Path, method: str):
    """Ingest and fuse every chunk of ``source`` (chunks of 2) under ``out``; (layout, ingested)."""
    fusion = load_method(method)
    layout = ClipLayout(str(out), source.clip_id, "j", fusion.version)
    ingested = ingest(source, layout, fingerprint(source), 2)
    for spec in prepare_output(layout, ingested, 0):
        fuse_chunk(layout, spec, ingested.fingerprint, fusion)
    return layout, ingested


def test_a_chunk_without_its_data_is_an_error_not_black(tmp_path):
    root = write_pair(tmp_path / "pair", 6, 16, 24, seed=2)
    layout, ingested = fuse_through_stages(ClipSource("c", str(root / "ir"), str(root / "vi")), tmp_path / "out",
                                           "average")
    remove_tree(layout.fused_frames + "/c/1")  # frames 2-3: marker present, data gone
    with pytest.raises(ClipError, match="fused frames 2-3 are committed but their data is missing"):
        encode_and_measure(layout, ingested)


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


def test_fingerprints_are_length_framed(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        (root / "vi").mkdir(parents=True)
        (root / "vi" / "0.png").write_bytes(b"v")
    (a / "ir").mkdir()
    (a / "ir" / "a.png").write_bytes(b"12")
    (a / "ir" / "b.png").write_bytes(b"3")
    (b / "ir").mkdir()
    (b / "ir" / "a.png").write_bytes(b"12ir:b.png\x003")
    fingerprints = {fingerprint(ClipSource("c", str(r / "ir"), str(r / "vi")), verify_content=True) for r in (a, b)}
    assert len(fingerprints) == 2


def test_temp_files_never_break_readers(tmp_path):
    out = str(tmp_path)
    write_row(out, "2026-11-29", "j", "c", {"clip_id": "c", "status": "ok"})
    partition = tmp_path / "metrics" / "date=2026-11-29" / "job_id=j"
    (partition / ".tmp-0123-abc.parquet").write_bytes(b"PAR1 torn")  # a killed writer's leftover
    assert query(out, "SELECT clip_id FROM metrics").to_pylist() == [{"clip_id": "c"}]
    layout = ClipLayout(out, "c", "j", "average-1")
    (tmp_path / "frames" / "average-1" / "c.commits").mkdir(parents=True)
    (tmp_path / "frames" / "average-1" / "c.commits" / ".tmp-1-000000000000").write_text("{")
    assert committed_chunks(layout, "fp", 2, None) == set()


def test_publication_is_atomic_with_unique_temp_names(tmp_path):
    url = str(tmp_path / "x" / "state.json")
    errors = []

    def writer(n):
        try:
            for i in range(50):
                write_json(url, {"writer": n, "i": i, "pad": "x" * 10_000})
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and json.loads((tmp_path / "x" / "state.json").read_text())["i"] == 49
    assert os.listdir(tmp_path / "x") == ["state.json"]


def test_two_jobs_probing_one_output_at_once_both_succeed(tmp_path):
    errors = []

    def probe():
        try:
            for _ in range(30):
                check_writable(str(tmp_path), None)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=probe) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


@pytest.mark.parametrize("job_id", ["../x", "a/b", "x::y", "", "-x", "a b", "x" * 101, "a..b"])
def test_unsafe_job_ids_are_refused(job_id):
    with pytest.raises(TemcocoError, match="invalid --job-id"):
        JobConfig("a", "o", job_id=job_id, method="average")


def test_a_job_id_held_by_a_live_run_is_refused(tmp_path):
    with JobLease(str(tmp_path), "j1"):
        with pytest.raises(TemcocoError, match="job j1 is running"):
            with JobLease(str(tmp_path), "j1"):
                pass
    with JobLease(str(tmp_path), "j1"):  # released: free again
        pass
    write_json(str(tmp_path / "jobs" / "j2.lease"), {"owner": "x", "host": os.uname().nodename, "pid": 2**22 + 7,
                                                      "expires": 1e12})
    with JobLease(str(tmp_path), "j2"):  # a killed run on this host: its lease is stale at once
        pass


def test_duplicate_manifest_ids_fail_each_with_its_lines(tmp_path):
    ir, vi = synthetic_clip(3, 16, 24)
    write_mp4(tmp_path / "ir.mp4", ir)
    write_mp4(tmp_path / "vi.mp4", vi)
    (tmp_path / "manifest.csv").write_text("clip_id,ir,vi\ncam,ir.mp4,vi.mp4\nok,ir.mp4,vi.mp4\ncam,ir.mp4,vi.mp4\n")
    clips = discover(str(tmp_path))
    cams = [c for c in clips if c.clip_id == "cam"]
    assert len(cams) == 2 and all("lines 2, 4" in c.error for c in cams)
    assert len({c.row_key for c in clips}) == 3


def test_open_inputs_survive_a_clip_named_star_on_a_glob_store(tmp_path):
    """Names with glob characters are keys, never patterns: deleting '*' leaves 'cam' alone."""
    import fsspec

    fs = fsspec.filesystem("memory")
    root = "memory://globs"
    ir, vi = synthetic_clip(2, 16, 24)
    for name in ("*", "cam"):
        layout = ClipLayout(root, name, "j", "average-1")
        group = create_inputs(layout.staged_inputs, 16, 24, 2)
        group["ir"].append(ir[..., None], axis=0)
        group["vi"].append(vi, axis=0)
    remove_tree(ClipLayout(root, "*", "j", "average-1").staged_inputs)
    assert open_inputs(ClipLayout(root, "cam", "j", "average-1").staged_inputs)["vi"].shape[0] == 2
    fs.rm("/globs", recursive=True)
