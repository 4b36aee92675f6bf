"""fsspec helpers: every location in temcoco is a URL (a local path or ``s3://...``)."""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import BinaryIO, TypeVar

import fsspec
from fsspec.core import split_protocol
from fsspec.implementations.local import LocalFileSystem

from temcoco.errors import StorageError

T = TypeVar("T")


def _transient_errors() -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)
    try:
        from botocore.exceptions import ConnectionError as BotoConnectionError
        from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError

        errors += (BotoConnectionError, ConnectTimeoutError, EndpointConnectionError)
    except ImportError:
        pass
    return errors


def retrying(what: str, action: Callable[[], T], attempts: int = 3, backoff: float = 1.0,
             on: tuple[type[BaseException], ...] | None = None) -> T:
    """Run ``action``, retrying the errors ``on`` (default: connection failures) with exponential
    backoff (1 s, 2 s, ...). After the last attempt the failure becomes a one-line StorageError naming ``what``.
    """
    errors = on or _transient_errors()
    for attempt in range(attempts):
        try:
            return action()
        except errors as e:
            if attempt == attempts - 1:
                how = f"is unreachable after {attempts} attempts" if on is None else f"failed {attempts} times, last"
                raise StorageError(f"{what} {how}: {e}") from e
            time.sleep(backoff * 2**attempt)
    raise AssertionError("unreachable")


def fs_options(url: str, storage_options: dict | None = None) -> dict:
    """fsspec options for ``url``: the user's, plus no listing cache on object stores, because
    other processes (Ray actors) write markers that a cached listing would not show."""
    options = dict(storage_options or {})
    if not is_local(url):
        options.setdefault("use_listings_cache", False)
    return options


def filesystem(url: str, storage_options: dict | None = None) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem and in-filesystem path of ``url`` (a local path or ``protocol://...``).

    Only the leading ``protocol://`` is parsed: a ``::`` inside a name is not an fsspec URL chain.
    """
    protocol, _ = split_protocol(url)
    try:
        fs = fsspec.filesystem(protocol or "file", **fs_options(url, storage_options))
    except (ImportError, ValueError) as e:
        raise StorageError(f"cannot open {url}: {e}") from e
    return fs, fs._strip_protocol(url)


def join(url: str, *parts: str) -> str:
    """Join path parts onto a URL with ``/`` (also for local paths)."""
    return posixpath.join(url.rstrip("/"), *parts)


def is_local(url: str) -> bool:
    return "://" not in url or url.startswith("file://")


STORAGE_OPTIONS_ENV = "TEMCOCO_STORAGE_OPTIONS"  # a job's fsspec options, handed on only by inheritance


def environment_storage_options() -> dict:
    """The job's fsspec options from :data:`STORAGE_OPTIONS_ENV` (``{}`` when unset).

    They may hold secrets, so they travel only as this process's environment: a local Ray
    cluster started by the driver inherits it; a remote cluster's nodes set their own.
    """
    return parse_storage_options(os.environ.get(STORAGE_OPTIONS_ENV))


def parse_storage_options(text: str | None) -> dict:
    """``--storage-options`` JSON -> dict (clear error on bad JSON)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise StorageError(f"--storage-options is not valid JSON: {e}") from e
    if not isinstance(value, dict):
        raise StorageError("--storage-options must be a JSON object, e.g. '{\"anon\": true}'")
    return value


TEMP_PREFIX = ".tmp-"  # temp files of atomic writes; listings and readers skip names starting with "."


def is_temp(name: str) -> bool:
    """Whether the base name ``name`` is an unpublished temp file."""
    return posixpath.basename(name).startswith(TEMP_PREFIX)


@contextmanager
def open_atomic(url: str, storage_options: dict | None = None) -> Iterator[BinaryIO]:
    """A binary file to write ``url`` piece by piece, published atomically when the block ends
    without an error (nothing is published otherwise), so a large file never sits in memory.

    Locally: a uniquely named temp file in the same folder, then a rename. Object stores: a local
    temp file, then one upload (an object appears whole or not at all).
    """
    fs, path = filesystem(url, storage_options)
    local = is_local(url)
    try:
        fs.makedirs(posixpath.dirname(path), exist_ok=True)
        folder = posixpath.dirname(path) if local else tempfile.gettempdir()
        temp = posixpath.join(folder, f"{TEMP_PREFIX}{uuid.uuid4().hex}-{posixpath.basename(path)}")
        f = open(temp, "xb")
    except OSError as e:
        raise StorageError(f"cannot write {url}: {e}") from e
    try:
        with f:
            yield f
        try:
            if local:
                os.replace(temp, path)
            else:
                fs.put_file(temp, path)
        except OSError as e:
            raise StorageError(f"cannot write {url}: {e}") from e
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def write_bytes(url: str, data: bytes, storage_options: dict | None = None) -> None:
    """Publish ``data`` at ``url`` atomically (see :func:`open_atomic`): readers see the old content
    or the new, never a part."""
    with open_atomic(url, storage_options) as f:
        f.write(data)


def write_json(url: str, obj: object, storage_options: dict | None = None) -> None:
    """Publish ``obj`` as compact JSON at ``url`` atomically (see :func:`write_bytes`)."""
    write_bytes(url, json.dumps(obj, separators=(",", ":"), sort_keys=True, default=str).encode(), storage_options)


def remove_tree(url: str, storage_options: dict | None = None) -> int:
    """Delete the file or folder at ``url`` and return the bytes freed. Never globs: names may hold ``*?[``."""
    fs, path = filesystem(url, storage_options)
    if is_local(url):
        if not os.path.lexists(path):
            return 0
        if not os.path.isdir(path) or os.path.islink(path):
            freed = os.lstat(path).st_size
            os.unlink(path)
            return freed
        freed = sum(os.lstat(os.path.join(d, f)).st_size for d, _, files in os.walk(path) for f in files)
        shutil.rmtree(path)
        return freed
    files = fs.find(path, detail=True) if fs.isdir(path) else ({path: fs.info(path)} if fs.exists(path) else {})
    for name in files:
        fs.rm_file(name)
    return sum(int(info.get("size") or 0) for info in files.values())


def read_json(url: str, storage_options: dict | None = None) -> object | None:
    """The JSON object at ``url``, or None when there is none."""
    fs, path = filesystem(url, storage_options)
    try:
        return json.loads(fs.cat_file(path, start=0))  # a range read: s3fs sends no HEAD first, only the GET
    except FileNotFoundError:
        return None


def check_writable(url: str, storage_options: dict | None = None) -> None:
    """Raise StorageError unless a small file can be written and removed under ``url``."""
    fs, path = filesystem(url, storage_options)
    probe = posixpath.join(path, f"{TEMP_PREFIX}{uuid.uuid4().hex}-write-check")

    def write_and_remove() -> None:
        fs.makedirs(path, exist_ok=True)
        fs.pipe_file(probe, b"ok")
        fs.rm_file(probe)

    try:
        retrying(f"output location {url}", write_and_remove)
    except StorageError:
        raise
    except OSError as e:
        raise StorageError(f"output location {url} is not writable: {e}") from e


LISTING_PAGE = 1_000  # entries fetched per round trip of a streamed object-store listing


Entry = tuple[str, bool, dict]  # (name, is a folder, what the listing says of it: size, ETag or mtime, ...)


def iter_entries(fs: fsspec.AbstractFileSystem, path: str) -> Iterator[Entry]:
    """(name, is a folder, listing entry) of each entry directly under ``path``, streamed: a local folder
    is scanned (a file's entry: its size and mtime, as ``fs.info`` gives them), an S3 prefix is listed
    page by page (nothing is cached). Other stores give their whole listing (``fs.ls``) first."""
    if isinstance(fs, LocalFileSystem):
        with os.scandir(path) as entries:
            for entry in entries:
                folder = entry.is_dir()
                stat = None if folder else entry.stat()
                yield entry.name, folder, {} if folder else {"size": stat.st_size, "mtime": stat.st_mtime}
        return
    if fs.protocol[0] in ("s3", "s3a") and hasattr(fs, "_iterdir"):
        yield from _s3_entries(fs, path)
        return
    for info in fs.ls(path, detail=True):
        yield posixpath.basename(info["name"].rstrip("/")), info["type"] == "directory", info


def _s3_entries(fs, path: str) -> Iterator[Entry]:
    """s3fs's own paginated listing (``_iterdir``), ``LISTING_PAGE`` entries a call on its event loop."""
    from fsspec.asyn import sync

    bucket, key, _ = fs.split_path(path)
    prefix = key.rstrip("/") + "/" if key else ""
    pages = fs._iterdir(bucket, prefix=prefix, delimiter="/")

    async def page() -> list[dict]:
        out = []
        async for info in pages:
            out.append(info)
            if len(out) == LISTING_PAGE:
                break
        return out

    try:
        while batch := sync(fs.loop, page):
            for info in batch:
                name = info["name"].rstrip("/")[len(bucket) + 1 + len(prefix):]
                if name:  # not the prefix's own placeholder object, when there is one
                    yield name, info["type"] == "directory", info
    finally:
        sync(fs.loop, pages.aclose)
