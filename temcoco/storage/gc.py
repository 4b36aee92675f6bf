"""``temcoco gc OUT``: remove what finished or killed runs left behind.

Staging folders of job ids that no live run holds, and temp files of atomic writes (names
starting with ``.tmp-``) that a killed writer left: all of them when no job under OUT is
running, else those older than ``min_age`` seconds (a live writer's temp file is young).
Fused frames, videos, rows, state and reports are never touched.
"""

from __future__ import annotations

import posixpath
import time
from dataclasses import dataclass, field

from temcoco.storage.fs import filesystem, is_temp, remove_tree
from temcoco.storage.layout import job_file, jobs_folder, published_folders, staging, staging_root
from temcoco.storage.lease import is_held

@dataclass
class Collected:
    freed: int = 0  # bytes
    removed: list[str] = field(default_factory=list)  # URLs


def _children(url: str, storage_options: dict | None) -> list[dict]:
    fs, path = filesystem(url, storage_options)
    try:
        return fs.ls(path, detail=True)
    except FileNotFoundError:
        return []


def _job_ids(out: str, storage_options: dict | None) -> set[str]:
    files = [job_file(posixpath.basename(i["name"])) for i in _children(jobs_folder(out), storage_options)]
    return {job_id for job_id, kind in filter(None, files) if kind == "lease"}


def _temp_files(out: str, storage_options: dict | None) -> list[dict]:
    """Temp files under OUT's published folders (zarr chunk folders are not walked)."""
    found = []
    for folder in published_folders(out):
        fs, path = filesystem(folder, storage_options)
        if not fs.exists(path):
            continue
        for name, info in fs.find(path, detail=True, withdirs=False).items():
            if "/c/" in name.removeprefix(path):  # inside a zarr array: chunk files only
                continue
            if is_temp(name):
                found.append(info)
    return found


def collect(out: str, storage_options: dict | None = None, min_age: float = 24 * 3600) -> Collected:
    """Remove left-overs under ``out`` (see the module doc); returns what was freed."""
    done = Collected()
    for info in _children(staging_root(out), storage_options):
        job_id = posixpath.basename(info["name"].rstrip("/"))
        if not is_held(out, job_id, storage_options):
            url = staging(out, job_id)
            done.freed += remove_tree(url, storage_options)
            done.removed.append(url)
    running = any(is_held(out, j, storage_options) for j in _job_ids(out, storage_options))
    now = time.time()
    for info in _temp_files(out, storage_options):
        mtime = info.get("mtime") or info.get("LastModified")
        age = now - (mtime.timestamp() if hasattr(mtime, "timestamp") else float(mtime or now))
        if not running or age > min_age:
            fs, _ = filesystem(out, storage_options)
            fs.rm_file(info["name"])
            done.freed += int(info.get("size") or 0)
            done.removed.append(info["name"])
    return done
