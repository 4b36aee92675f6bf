from pathlib import Path

import pytest

from temcoco.storage.layout import ClipLayout
from temcoco.errors import TemcocoError
from temcoco.storage.archive import discover


def touch(p: Path, data: bytes = b"x") -> None:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)


def test_pairs_by_clip_name_files_and_folders(tmp_path):
    touch(tmp_path / "ir" / "a.mp4")
    touch(tmp_path / "vi" / "a.mov")
    touch(tmp_path / "ir" / "b" / "0001.png")
    touch(tmp_path / "vi" / "b" / "0001.png")
    touch(tmp_path / "ir" / "clip vidéo.mkv")
    touch(tmp_path / "vi" / "clip vidéo.mkv")
    touch(tmp_path / "ir" / ".DS_Store")
    clips = {c.clip_id: c for c in discover(str(tmp_path))}
    assert sorted(clips) == ["a", "b", "clip vidéo"]
    assert all(c.error is None for c in clips.values())
    assert clips["a"].ir.endswith("ir/a.mp4") and clips["a"].vi.endswith("vi/a.mov")


def test_orphans_ambiguity_and_unsupported_files_are_failed_clips(tmp_path):
    touch(tmp_path / "ir" / "orphan.mp4")
    touch(tmp_path / "vi" / "lonely.mp4")
    touch(tmp_path / "ir" / "twice.mp4")
    touch(tmp_path / "ir" / "twice.avi")
    touch(tmp_path / "vi" / "twice.mp4")
    touch(tmp_path / "ir" / "notes.txt")
    touch(tmp_path / "vi" / "notes.txt")
    clips = {c.clip_id: c.error for c in discover(str(tmp_path))}
    assert "no visible partner" in clips["orphan"]
    assert "no infrared partner" in clips["lonely"]
    assert "ambiguous" in clips["twice"]
    assert "unsupported file type" in clips["notes"]


def test_manifest_rejects_escaping_paths_and_keeps_ids_inside_out(tmp_path):
    (tmp_path / "manifest.csv").write_text(
        "clip_id,ir,vi\n"
        "good,a/ir.mp4,a/vi.mp4\n"
        "../x,a/ir.mp4,a/vi.mp4\n"
        "outside,../../etc/passwd,a/vi.mp4\n"
        "absolute,/data/ir.mp4,s3://bucket/vi.mp4\n"
    )
    clips = {c.clip_id: c for c in discover(str(tmp_path))}
    assert clips["good"].error is None and clips["good"].ir == f"{tmp_path}/a/ir.mp4"
    assert clips["../x"].error is None  # any string is a clip id; its storage key stays inside OUT
    assert ClipLayout(str(tmp_path / "out"), "../x", "j", "v").fused_video == f"{tmp_path}/out/fused/v/%2E.%2Fx.mp4"
    assert "outside the archive" in clips["outside"].error
    assert clips["absolute"].error is None and clips["absolute"].vi == "s3://bucket/vi.mp4"


def test_missing_archive_and_wrong_layout_are_clear_errors(tmp_path):
    with pytest.raises(TemcocoError, match="does not exist"):
        discover(str(tmp_path / "nope"))
    with pytest.raises(TemcocoError, match="neither ir/ and vi/"):
        discover(str(tmp_path))
