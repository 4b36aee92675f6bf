"""What identifies a clip's inputs: its fingerprint, from the store's listing or from the bytes.

The default is the *listing identity*, as ``rsync`` and ``aws s3 sync`` compare files: per side,
every file's name, size and the token the store's listing keeps for its content (an object
store's ETag or content hash; else the modification time). It costs a listing, never a read, so
an unchanged night reads listings, not video. A changed object has a new ETag or modification
time, hence a new identity: the keys that results are committed under (commit markers, the
fused array, ``--incremental`` state) follow it. ``--verify-content`` takes the *content
fingerprint* instead: BLAKE2b over every byte of both sides (it also catches a rewrite that
kept a file's size and modification time, which the listing identity cannot see).

Both are length-framed (no two different sets of files hash alike by shifting bytes) and start
with a different header, so one never equals the other.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Iterable, Mapping

from temcoco.errors import ClipError
from temcoco.storage.fs import filesystem

# Keys of a listing entry that name an object's content, most specific first: object stores' ETag
# (S3, Azure), content hashes (GCS), then the modification time (local disk and the rest).
CONTENT_TOKENS = ("ETag", "etag", "md5Hash", "crc32c", "checksum", "mtime", "LastModified", "last_modified")

FileEntry = tuple[str, int, str]  # (name relative to its side's URL, "." for a file; size; content token)


def content_token(info: Mapping) -> str:
    """What the listing entry ``info`` says of its object's content (see CONTENT_TOKENS); "" if nothing."""
    for key in CONTENT_TOKENS:
        value = info.get(key)
        if value not in (None, ""):
            return f"{key}={value!r}" if isinstance(value, float) else f"{key}={value}"
    return ""


def file_entry(name: str, info: Mapping) -> FileEntry:
    return name, int(info.get("size") or 0), content_token(info)


class _Framed:
    """BLAKE2b over length-framed fields."""

    def __init__(self, header: bytes) -> None:
        self.digest = hashlib.blake2b(digest_size=16)
        self.add(header)

    def add(self, data: bytes) -> None:
        self.digest.update(len(data).to_bytes(8, "little") + data)

    def hexdigest(self) -> str:
        return self.digest.hexdigest()


def listing_identity(sides: Iterable[tuple[str, Iterable[FileEntry]]]) -> str:
    """The listing identity of a clip from its sides' file entries, e.g.
    ``[("ir", [(".", 1234, "ETag=...")]), ("vi", [...])]`` (entries sorted by name)."""
    framed = _Framed(b"listing-identity-1")
    for side, entries in sides:
        entries = list(entries)
        framed.add(f"{side}:{len(entries)}".encode())
        for name, size, token in entries:
            framed.add(name.encode())
            framed.add(size.to_bytes(8, "little"))
            framed.add(token.encode())
    return framed.hexdigest()


def fingerprint(source, storage_options: dict | None = None, verify_content: bool = False) -> str:
    """The fingerprint of ``source`` (a :class:`~temcoco.storage.archive.ClipSource`): its listing
    identity, or with ``verify_content`` its content fingerprint."""
    sides = [(side, _listed(url, storage_options)) for side, url in (("ir", source.ir), ("vi", source.vi))]
    if not verify_content:
        return listing_identity((side, [file_entry(name, info) for name, info, _ in files]) for side, files in sides)
    framed = _Framed(b"content-fingerprint-1")
    for side, files in sides:
        framed.add(f"{side}:{len(files)}".encode())
        for name, info, (fs, path, url) in files:
            framed.add(name.encode())
            size = int(info.get("size") or 0)
            framed.digest.update(size.to_bytes(8, "little"))
            _hash_file(fs, path, url, size, framed.digest)
    return framed.hexdigest()


def _listed(url: str, storage_options: dict | None) -> list[tuple[str, dict, tuple]]:
    """(name relative to ``url``, listing entry, (fs, path, url)) of every file of one side, sorted by name."""
    fs, path = filesystem(url, storage_options)
    try:
        files = dict(sorted(fs.find(path, detail=True).items())) if fs.isdir(path) else {path: fs.info(path)}
    except FileNotFoundError as e:
        raise ClipError(f"{url} disappeared while reading it") from e
    except OSError as e:
        raise ClipError(f"cannot list {url}: {e}") from e
    return [(posixpath.relpath(name, path), info, (fs, name, url)) for name, info in files.items()]


def _hash_file(fs, name: str, url: str, size: int, digest) -> None:
    """Add the bytes of ``name`` to ``digest``; ClipError if it vanishes or changes size meanwhile."""
    read = 0
    try:
        with fs.open(name, "rb") as f:
            while block := f.read(1 << 22):
                digest.update(block)
                read += len(block)
    except FileNotFoundError as e:
        raise ClipError(f"{url} disappeared while reading it") from e
    if read != size:
        raise ClipError(f"{url} changed while reading it ({size} bytes listed, {read} read)")
