from pathlib import Path

import pytest

from tests.support.archives import write_mp4
from temcoco.demo import synthetic_clip
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
    )
    clips = {c.clip_id: c for c in discover(str(tmp_path))}
    assert clips["good"].error is None and clips["good"].ir == f"{tmp_path}/a/ir.mp4"
    assert clips["../x"].error is None  # any string is a clip id; its storage key stays inside OUT
    assert ClipLayout(str(tmp_path / "out"), "../x", "j", "v").fused_video == f"{tmp_path}/out/fused/v/%2E.%2Fx.mp4"
    assert "outside the archive" in clips["outside"].error


def test_manifest_sources_stay_on_the_archive_store_unless_allowed(tmp_path):
    archive, shared = tmp_path / "archive", tmp_path / "shared"
    archive.mkdir()
    (archive / "manifest.csv").write_text(
        "clip_id,ir,vi\n"
        f"inside,{archive}/a/ir.mp4,file://{archive}/a/./vi.mp4\n"
        f"climbs,{archive}/../elsewhere/ir.mp4,a/vi.mp4\n"
        "system,/etc/passwd,a/vi.mp4\n"
        "metadata,http://169.254.169.254/latest/meta-data/iam,a/vi.mp4\n"
        "bucket,s3://other-bucket/ir.mp4,a/vi.mp4\n"
        f"allowed,{shared}/x/ir.mp4,{shared}/x/../y/vi.mp4\n"
        f"neighbour,{shared}2/ir.mp4,a/vi.mp4\n"
    )
    clips = {c.clip_id: c for c in discover(str(archive), allow_sources=[f"{shared}/"])}
    assert (clips["inside"].error, clips["inside"].ir, clips["inside"].vi) == (
        None, f"{archive}/a/ir.mp4", f"{archive}/a/vi.mp4")
    assert (clips["allowed"].error, clips["allowed"].vi) == (None, f"{shared}/y/vi.mp4")  # '..' normalised
    for refused in ("climbs", "system", "metadata", "bucket", "neighbour"):
        assert clips[refused].ir is None, refused
        assert "outside the archive's store" in clips[refused].error and "--allow-source" in clips[refused].error
    assert "http://169.254.169.254" in clips["metadata"].error  # the reason names the refused source
    assert all(c.error for c in discover(str(archive)) if c.clip_id == "allowed")  # not allowed by default


@pytest.mark.parametrize("source, allowed", [
    ("s3://bucket/elsewhere/ir.mp4", True),  # the archive's own bucket
    ("s3://bucket/archive/../../other/ir.mp4", False),  # '..' cannot climb out of the bucket
    ("s3://other/ir.mp4", False),  # another bucket with the job's credentials
    ("s3://shared/cams/ir.mp4", True),  # --allow-source s3://shared/cams
    ("s3://shared/cams2/ir.mp4", False),  # prefixes match whole path components
    ("s3://shared/cams/../private/ir.mp4", False),
    ("http://169.254.169.254/latest/meta-data/", False),
    ("https://example.com/ir.mp4", False),
    ("file:///etc/passwd", False),
    ("/etc/passwd", False),
])
def test_s3_archive_sources(source, allowed):
    from temcoco.storage.archive import _manifest_url, source_roots

    url, why = _manifest_url("s3://bucket/archive", source, source_roots("s3://bucket/archive", ["s3://shared/cams"]))
    assert (url is not None, why is None) == (allowed, allowed), why
    assert why is None or "outside the archive's store s3://bucket:" in why


def test_allow_source_must_name_a_bucket_or_folder():
    from temcoco.storage.archive import source_roots

    for whole in ("s3://", "/", ""):
        with pytest.raises(TemcocoError, match="--allow-source"):
            source_roots("s3://bucket/archive", [whole])


def test_missing_archive_and_wrong_layout_are_clear_errors(tmp_path):
    with pytest.raises(TemcocoError, match="does not exist"):
        discover(str(tmp_path / "nope"))
    with pytest.raises(TemcocoError, match="neither ir/ and vi/"):
        discover(str(tmp_path))


def test_duplicate_manifest_ids_fail_each_with_its_lines(tmp_path):
    ir, vi = synthetic_clip(3, 16, 24)
    write_mp4(tmp_path / "ir.mp4", ir)
    write_mp4(tmp_path / "vi.mp4", vi)
    (tmp_path / "manifest.csv").write_text("clip_id,ir,vi\ncam,ir.mp4,vi.mp4\nok,ir.mp4,vi.mp4\ncam,ir.mp4,vi.mp4\n")
    clips = discover(str(tmp_path))
    cams = [c for c in clips if c.clip_id == "cam"]
    assert len(cams) == 2 and all("lines 2, 4" in c.error for c in cams)
    assert len({c.row_key for c in clips}) == 3
