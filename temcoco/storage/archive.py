"""Discover IR/VI clip pairs in an archive: ``ir/<clip>`` + ``vi/<clip>``, or ``manifest.csv``."""

from __future__ import annotations

import csv
import io
import os
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass

from fsspec.core import split_protocol

from temcoco.errors import TemcocoError
from temcoco.storage.fs import filesystem, join
from temcoco.storage.video import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

MANIFEST = "manifest.csv"

Location = tuple[str, tuple[str, ...]]  # (scheme, path components), e.g. ("s3", ("bucket", "a", "x.mp4"))


@dataclass(frozen=True)
class ClipSource:
    """One clip of the archive. ``error`` says why it cannot be fused (then ir/vi may be None).

    ``line`` is set for a manifest entry whose clip id is not unique, so that each such entry
    gets a row of its own.
    """

    clip_id: str
    ir: str | None
    vi: str | None
    error: str | None = None
    line: int | None = None

    @property
    def row_key(self) -> str:
        """What names this entry's row: the clip id (plus the manifest line for a duplicated id)."""
        return self.clip_id if self.line is None else f"{self.clip_id}\0line {self.line}"


def unusable_clip_id(clip_id: str) -> str | None:
    """Why ``clip_id`` cannot be a clip id, or None. Any file name can (paths use :func:`clip_key`)."""
    if not clip_id:
        return "empty clip id"
    if any(ord(c) < 32 or ord(c) == 127 for c in clip_id):
        return f"clip id {clip_id!r} has control characters"
    return None


def discover(archive: str, storage_options: dict | None = None, allow_sources: Iterable[str] = ()) -> list[ClipSource]:
    """All clips of ``archive``, sorted by clip id; bad ones carry an ``error``.

    An absolute manifest source must lie on the archive's own store (its bucket, or for a local
    archive its folder) or under one of ``allow_sources`` (``--allow-source`` prefixes).
    """
    roots = source_roots(archive, allow_sources)
    fs, root = filesystem(archive, storage_options)
    if not fs.exists(root):
        raise TemcocoError(f"archive {archive} does not exist")
    if fs.exists(posixpath.join(root, MANIFEST)):
        return _from_manifest(archive, fs.cat_file(posixpath.join(root, MANIFEST)).decode("utf-8-sig"), roots)
    if not (fs.isdir(posixpath.join(root, "ir")) and fs.isdir(posixpath.join(root, "vi"))):
        raise TemcocoError(
            f"archive {archive} has neither ir/ and vi/ folders nor a {MANIFEST}: see DESIGN.md 'Archive layout'"
        )
    ir, vi = _entries(fs, root, "ir"), _entries(fs, root, "vi")
    clips = []
    for clip_id in sorted(set(ir) | set(vi)):
        irs, vis = ir.get(clip_id, []), vi.get(clip_id, [])
        error = unusable_clip_id(clip_id)
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


def _from_manifest(archive: str, text: str, roots: list[Location]) -> list[ClipSource]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not {"clip_id", "ir", "vi"} <= set(reader.fieldnames):
        raise TemcocoError(f"{MANIFEST} must have the columns clip_id,ir,vi (found {reader.fieldnames})")
    rows = [(line, (row["clip_id"] or "").strip() or f"line-{line}", row) for line, row in enumerate(reader, start=2)]
    lines: dict[str, list[int]] = {}
    for line, clip_id, _ in rows:
        lines.setdefault(clip_id, []).append(line)
    clips = []
    for line, clip_id, row in rows:
        error = unusable_clip_id((row["clip_id"] or "").strip())
        urls = []
        for side in ("ir", "vi"):
            url, why = _manifest_url(archive, (row[side] or "").strip(), roots)
            urls.append(url)
            error = error or (why and f"{MANIFEST} line {line}, {side}: {why}")
        if len(lines[clip_id]) > 1:  # every entry of a duplicated id fails, each with a row of its own
            error = f"clip id {clip_id!r} is on {MANIFEST} lines {', '.join(map(str, lines[clip_id]))}: ids must be unique"
        clips.append(ClipSource(clip_id, urls[0], urls[1], error, line if len(lines[clip_id]) > 1 else None))
    return sorted(clips, key=lambda c: (c.clip_id, c.line or 0))


def _manifest_url(archive: str, value: str, roots: list[Location]) -> tuple[str | None, str | None]:
    """A manifest path -> (URL, None) or (None, why it is refused).

    A relative path must stay inside the archive; an absolute one (``/...`` or ``scheme://...``)
    is normalised (``..`` resolved) and must lie under one of ``roots`` (see :func:`source_roots`).
    """
    if not value:
        return None, "empty path"
    if "://" in value or value.startswith("/"):
        where = location(value)
        if not any(within(where, root) for root in roots):
            return None, (f"source {value!r} is outside the archive's store {_url(roots[0])}: "
                          "name its prefix with --allow-source to use it")
        return _url(where), None
    norm = posixpath.normpath(value)
    if norm.split("/")[0] == ".." or norm == ".":
        return None, f"path {value!r} points outside the archive"
    return join(archive, norm), None


def location(url: str) -> Location:
    """``url`` (a local path or ``scheme://...``) as its scheme and normalised path components.

    Local paths are made absolute; ``..`` is resolved and never climbs above the store's root:
    ``s3://b/k/../x`` -> ``("s3", ("b", "x"))``, ``./a/`` -> ``("file", (*cwd, "a"))``.
    """
    protocol, path = split_protocol(url)
    scheme = protocol or "file"
    if scheme == "file":
        path = os.path.abspath(path)
    return scheme, tuple(p for p in posixpath.normpath("/" + path).split("/") if p)


def within(where: Location, root: Location) -> bool:
    """Whether ``where`` is ``root`` or below it, by whole path components (``s3://b/a`` holds
    ``s3://b/a/x`` but not ``s3://b/ab/x``)."""
    return where[0] == root[0] and where[1][: len(root[1])] == root[1]


def source_roots(archive: str, allow_sources: Iterable[str] = ()) -> list[Location]:
    """Where manifest sources may lie: the archive's own store first (its bucket; a local archive's
    folder), then each ``--allow-source`` prefix."""
    here = location(archive)
    roots = [here if here[0] == "file" else (here[0], here[1][:1])]
    for prefix in allow_sources:
        root = location(prefix) if prefix else ("", ())
        if not root[1]:
            raise TemcocoError(f"--allow-source {prefix!r} must name a bucket or a folder, not a whole store")
        roots.append(root)
    return roots


def _url(where: Location) -> str:
    """The URL of a :func:`location`: a local path, or ``scheme://`` and the components."""
    path = "/".join(where[1])
    return "/" + path if where[0] == "file" else f"{where[0]}://{path}"
