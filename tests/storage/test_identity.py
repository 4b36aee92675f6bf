"""Input fingerprints: what identifies a clip's inputs."""

from temcoco.storage.archive import ClipSource
from temcoco.storage.identity import fingerprint


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
