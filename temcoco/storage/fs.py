"""fsspec helpers: every location in temcoco is a URL (a local path or ``s3://...``)."""

from __future__ import annotations

import json
import posixpath
import time
from collections.abc import Callable
from typing import TypeVar

import fsspec
from fsspec.core import url_to_fs

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


def retrying(what: str, action: Callable[[], T], attempts: int = 3, backoff: float = 1.0) -> T:
    """Run ``action``, retrying connection failures with exponential backoff (1 s, 2 s, ...).

    After the last attempt the failure becomes a one-line StorageError naming ``what``.
    """
    transient = _transient_errors()
    for attempt in range(attempts):
        try:
            return action()
        except transient as e:
            if attempt == attempts - 1:
                raise StorageError(f"{what} is unreachable after {attempts} attempts: {e}") from e
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
    """The filesystem and in-filesystem path of ``url``."""
    try:
        return url_to_fs(url, **fs_options(url, storage_options))
    except (ImportError, ValueError) as e:
        raise StorageError(f"cannot open {url}: {e}") from e


def join(url: str, *parts: str) -> str:
    """Join path parts onto a URL with ``/`` (also for local paths)."""
    return posixpath.join(url.rstrip("/"), *parts)


def is_local(url: str) -> bool:
    return "://" not in url or url.startswith("file://")


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


def write_json(url: str, obj: object, storage_options: dict | None = None) -> None:
    """Write ``obj`` as JSON; local writes are atomic (temp file then rename), S3 PUTs are atomic."""
    fs, path = filesystem(url, storage_options)
    data = json.dumps(obj, indent=2, sort_keys=True, default=str).encode()
    try:
        fs.makedirs(posixpath.dirname(path), exist_ok=True)
        if is_local(url):
            tmp = f"{path}.tmp-{posixpath.basename(path)}"
            fs.pipe_file(tmp, data)
            fs.mv(tmp, path)
        else:
            fs.pipe_file(path, data)
    except OSError as e:
        raise StorageError(f"cannot write {url}: {e}") from e


def read_json(url: str, storage_options: dict | None = None) -> object | None:
    """The JSON object at ``url``, or None when there is none."""
    fs, path = filesystem(url, storage_options)
    try:
        return json.loads(fs.cat_file(path))
    except FileNotFoundError:
        return None


def check_writable(url: str, storage_options: dict | None = None) -> None:
    """Raise StorageError unless a small file can be written and removed under ``url``."""
    fs, path = filesystem(url, storage_options)
    probe = posixpath.join(path, ".temcoco-write-check")

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
