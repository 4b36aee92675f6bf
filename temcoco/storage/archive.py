"""Discover IR/VI clip pairs in an archive: ``ir/<clip>`` + ``vi/<clip>``, or ``manifest.csv``."""

from __future__ import annotations

import csv
import io
import posixpath
from dataclasses import dataclass

from temcoco.errors import TemcocoError
from temcoco.storage.fs import filesystem, join
from temcoco.storage.video import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

MANIFEST = "manifest.csv"


@dataclass(frozen=True)
class ClipSource:
    """One clip of the archive. ``error`` says why it cannot be fused (then ir/vi may be None)."""

    clip_id: str
    ir: str | None
    vi: str | None
    error: str | None = None


def unsafe_clip_id(clip_id: str) -> str | None:
    """Why ``clip_id`` cannot name output files (it would escape OUT or be unreadable), or None."""
    if not clip_id or clip_id.strip() != clip_id:
        return "empty clip id or leading/trailing spaces"
    if "/" in clip_id or "\\" in clip_id or clip_id in (".", "..") or clip_id.startswith("."):
        return f"clip id {clip_id!r} would escape the output folder"
    if any(ord(c) < 32 for c in clip_id):
        return f"clip id {clip_id!r} has control characters"
    return None


def discover(archive: str, storage_options: dict | None = None) -> list[ClipSource]:
    """All clips of ``archive``, sorted by clip id; bad ones carry an ``error``."""
    fs, root = filesystem(archive, storage_options)
    if not fs.exists(root):
        raise TemcocoError(f"archive {archive} does not exist")
    if fs.exists(posixpath.join(root, MANIFEST)):
        return _from_manifest(archive, fs.cat_file(posixpath.join(root, MANIFEST)).decode("utf-8-sig"))
    if not (fs.isdir(posixpath.join(root, "ir")) and fs.isdir(posixpath.join(root, "vi"))):
        raise TemcocoError(
            f"archive {archive} has neither ir/ and vi/ folders nor a {MANIFEST}: see DESIGN.md 'Archive layout'"
        )
    ir, vi = _entries(fs, root, "ir"), _entries(fs, root, "vi")
    clips = []
    for clip_id in sorted(set(ir) | set(vi)):
        irs, vis = ir.get(clip_id, []), vi.get(clip_id, [])
        error = unsafe_clip_id(clip_id)
        if not irs:
            error = error or f"no infrared partner: ir/{clip_id}.* is missing"
        elif not vis:
            error = error or f"no visible partner: vi/{clip_id}.* is missing"
        elif len(irs) > 1 or len(vis) > 1:
            error = error or f"ambiguous: several sources named {clip_id!r} ({', '.join(irs + vis)})"
        else:
            error = error or _unsupported(irs[0]) or _unsupported(vis[0])
        to_url = lambda name, side: join(archive, side, name)  # noqa: E731
        clips.append(
            ClipSource(
                clip_id,
                to_url(irs[0], "ir") if irs else None,
                to_url(vis[0], "vi") if vis else None,
                error,
            )
        )
    return clips


def _entries(fs, root: str, side: str) -> dict[str, list[str]]:
    """clip id -> entry names in ``root/side`` (a video file's stem, a frame folder's name)."""
    out: dict[str, list[str]] = {}
    for info in fs.ls(posixpath.join(root, side), detail=True):
        name = posixpath.basename(info["name"].rstrip("/"))
        if name.startswith("."):
            continue
        clip_id = name if info["type"] == "directory" else posixpath.splitext(name)[0]
        out.setdefault(clip_id, []).append(name)
    return out


def _unsupported(name: str) -> str | None:
    ext = posixpath.splitext(name)[1].lower()
    if ext and ext not in VIDEO_EXTENSIONS and ext not in IMAGE_EXTENSIONS:
        return f"unsupported file type {ext!r} ({name}): use {', '.join(VIDEO_EXTENSIONS)} or a frame folder"
    return None


def _from_manifest(archive: str, text: str) -> list[ClipSource]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not {"clip_id", "ir", "vi"} <= set(reader.fieldnames):
        raise TemcocoError(f"{MANIFEST} must have the columns clip_id,ir,vi (found {reader.fieldnames})")
    clips, seen = [], set()
    for line, row in enumerate(reader, start=2):
        clip_id = (row["clip_id"] or "").strip()
        error = unsafe_clip_id(clip_id)
        if clip_id in seen:
            error = error or f"duplicate clip id in {MANIFEST} line {line}"
        seen.add(clip_id)
        urls = []
        for side in ("ir", "vi"):
            url, why = _manifest_url(archive, (row[side] or "").strip())
            urls.append(url)
            error = error or (why and f"{MANIFEST} line {line}, {side}: {why}")
        clips.append(ClipSource(clip_id or f"line-{line}", urls[0], urls[1], error))
    return sorted(clips, key=lambda c: c.clip_id)


def _manifest_url(archive: str, value: str) -> tuple[str | None, str | None]:
    """A manifest path -> (URL, None) or (None, why it is refused)."""
    if not value:
        return None, "empty path"
    if "://" in value or value.startswith("/"):
        return value, None  # an explicit absolute location
    norm = posixpath.normpath(value)
    if norm.startswith("..") or norm == ".":
        return None, f"path {value!r} points outside the archive"
    return join(archive, norm), None
