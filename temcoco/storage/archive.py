"""Discover IR/VI clip pairs in an archive: ``ir/<clip>`` + ``vi/<clip>``, or ``manifest.csv``."""

from __future__ import annotations

import csv
import itertools
import os
import posixpath
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from fsspec.core import split_protocol

from temcoco.errors import TemcocoError
from temcoco.storage.fs import filesystem, iter_entries, join
from temcoco.storage.identity import file_entry, listing_identity
from temcoco.storage.spill import SortedRecords, sort_records
from temcoco.storage.video import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

MANIFEST = "manifest.csv"

Location = tuple[str, tuple[str, ...]]  # (scheme, path components), e.g. ("s3", ("bucket", "a", "x.mp4"))


@dataclass(frozen=True)
class ClipSource:
    """One clip of the archive. ``error`` says why it cannot be fused (then ir/vi may be None).

    ``line`` is set for a manifest entry whose clip id is not unique, so that each such entry
    gets a row of its own. ``identity`` is the sources' listing identity when discovery's own listing
    told it (video files in ``ir/`` and ``vi/``; see :mod:`temcoco.storage.identity`), else None.
    """

    clip_id: str
    ir: str | None
    vi: str | None
    error: str | None = None
    line: int | None = None
    identity: str | None = None

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


def discover(archive: str, storage_options: dict | None = None, allow_sources: Iterable[str] = ()) -> Clips:
    """The clips of ``archive``, sorted by clip id, streamed; bad ones carry an ``error``.

    The archive is listed (or its manifest read) once, here, into a local external sort (see
    :mod:`temcoco.storage.spill`): memory does not grow with the archive. An absolute manifest
    source must lie on the archive's own store (its bucket, or for a local archive its folder) or
    under one of ``allow_sources`` (``--allow-source`` prefixes).
    """
    roots = source_roots(archive, allow_sources)
    fs, root = filesystem(archive, storage_options)
    if not fs.exists(root):
        raise TemcocoError(f"archive {archive} does not exist")
    if fs.exists(posixpath.join(root, MANIFEST)):
        entries = sort_records(_manifest_entries(fs, posixpath.join(root, MANIFEST)), key=lambda entry: entry[:2])
        return Clips(entries, lambda group: _manifest_clips(archive, group, roots), count=len(entries))
    if not (fs.isdir(posixpath.join(root, "ir")) and fs.isdir(posixpath.join(root, "vi"))):
        raise TemcocoError(
            f"archive {archive} has neither ir/ and vi/ folders nor a {MANIFEST}: see DESIGN.md 'Archive layout'"
        )
    entries = sort_records(_listing_entries(fs, root), key=lambda entry: entry[:3])
    ids = sum(1 for _ in itertools.groupby(entries, key=lambda entry: entry[0]))
    return Clips(entries, lambda group: [_paired_clip(archive, group)], count=ids)


class Clips:
    """An archive's clips (:class:`ClipSource`), sorted by clip id (then manifest line), streamed from
    the discovery's sorted entries (``clips_of`` makes the clips of one clip id's entries); ``len()``
    is ``count``. Iterable any number of times; a context manager (``close`` drops the entries
    spilled to local disk)."""

    def __init__(self, records: SortedRecords, clips_of: Callable[[list[tuple]], list[ClipSource]],
                 count: int) -> None:
        self._records, self._clips_of, self._count = records, clips_of, count  # records start with the clip id

    def __iter__(self) -> Iterator[ClipSource]:
        for _, group in itertools.groupby(self._records, key=lambda record: record[0]):
            yield from self._clips_of(list(group))

    def __len__(self) -> int:
        return self._count

    def close(self) -> None:
        self._records.close()

    def __enter__(self) -> Clips:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _listing_entries(fs, root: str) -> Iterator[tuple[str, str, str, list | None]]:
    """(clip id, side, entry name, its identity entry) of every entry of ``root/ir`` and ``root/vi`` (a
    video file's stem is its clip id, a frame folder's name is; a folder has no identity entry: its
    files are not listed here); hidden names are left out."""
    for side in ("ir", "vi"):
        for name, is_folder, info in iter_entries(fs, posixpath.join(root, side)):
            if not name.startswith("."):
                clip_id = name if is_folder else posixpath.splitext(name)[0]
                yield clip_id, side, name, None if is_folder else list(file_entry(".", info))


def _paired_clip(archive: str, group: list[tuple]) -> ClipSource:
    """The clip of one clip id's entries (see ``_listing_entries``), or why it cannot be fused."""
    clip_id = group[0][0]
    irs = [name for _, side, name, _ in group if side == "ir"]
    vis = [name for _, side, name, _ in group if side == "vi"]
    error = unusable_clip_id(clip_id)
    if not irs:
        error = error or f"no infrared partner: ir/{clip_id}.* is missing"
    elif not vis:
        error = error or f"no visible partner: vi/{clip_id}.* is missing"
    elif len(irs) > 1 or len(vis) > 1:
        error = error or f"ambiguous: several sources named {clip_id!r} ({', '.join(irs + vis)})"
    else:
        error = error or _unsupported(irs[0]) or _unsupported(vis[0])
    files = [(side, [tuple(entry)]) for _, side, _, entry in group if entry is not None]
    identity = listing_identity(files) if not error and len(files) == 2 else None
    return ClipSource(clip_id, join(archive, "ir", irs[0]) if irs else None,
                      join(archive, "vi", vis[0]) if vis else None, error, identity=identity)


def _unsupported(name: str) -> str | None:
    ext = posixpath.splitext(name)[1].lower()
    if ext and ext not in VIDEO_EXTENSIONS and ext not in IMAGE_EXTENSIONS:
        return f"unsupported file type {ext!r} ({name}): use {', '.join(VIDEO_EXTENSIONS)} or a frame folder"
    return None


def _manifest_entries(fs, path: str) -> Iterator[tuple[str, int, str, str, str]]:
    """(clip id, line, clip id as written, ir, vi) of every manifest entry, read as a stream (an
    entry without clip id is named ``line-<n>``)."""
    try:
        with fs.open(path, "rt", encoding="utf-8-sig", newline="") as text:
            reader = csv.DictReader(text)
            if not reader.fieldnames or not {"clip_id", "ir", "vi"} <= set(reader.fieldnames):
                raise TemcocoError(f"{MANIFEST} must have the columns clip_id,ir,vi (found {reader.fieldnames})")
            for line, row in enumerate(reader, start=2):
                written = (row["clip_id"] or "").strip()
                yield written or f"line-{line}", line, written, (row["ir"] or "").strip(), (row["vi"] or "").strip()
    except (UnicodeDecodeError, csv.Error) as e:
        raise TemcocoError(f"{MANIFEST} cannot be read as UTF-8 CSV: {e}") from e


def _manifest_clips(archive: str, group: list[tuple], roots: list[Location]) -> list[ClipSource]:
    """The clips of one clip id's manifest entries: each entry of a duplicated id fails, with a row of its own."""
    lines = [line for _, line, *_ in group]
    clips = []
    for clip_id, line, written, ir, vi in group:
        error = unusable_clip_id(written)
        urls = []
        for side, value in (("ir", ir), ("vi", vi)):
            url, why = _manifest_url(archive, value, roots)
            urls.append(url)
            error = error or (why and f"{MANIFEST} line {line}, {side}: {why}")
        if len(group) > 1:
            error = f"clip id {clip_id!r} is on {MANIFEST} lines {', '.join(map(str, lines))}: ids must be unique"
        clips.append(ClipSource(clip_id, urls[0], urls[1], error, line if len(group) > 1 else None))
    return clips


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
