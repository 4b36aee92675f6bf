"""Storage keys for user-named things: safe on every store, reversible, never a glob.

A clip id may be any legal file name (spaces, non-ASCII, ``::``, ``[ ]``, ``*``, ``?``, ``%``,
``#``, a leading ``-`` or ``.``). Paths under OUT use :func:`clip_key`, which keeps ASCII
letters, digits, ``_``, ``-`` and inner ``.`` and percent-encodes every other byte of the
UTF-8 name, so a key has no glob character, no ``::``, no ``/`` and never starts with a dot;
:func:`clip_id_of` reverses it. A key longer than :data:`MAX_KEY` characters (file systems
allow 255 bytes a name) is cut and ends in ``~`` and a hash of the id instead: the rows keep
the id as given. Job ids are checked against :data:`JOB_ID_PATTERN`.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import quote, unquote

from temcoco.errors import TemcocoError

MAX_KEY = 160  # leaves room for suffixes such as ".commits" or ".ingest.json" in a 255-byte name
JOB_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
JOB_ID_RULE = "1-100 characters: letters, digits, '.', '_' and '-', starting with a letter or digit"


def clip_key(clip_id: str) -> str:
    """The storage key of ``clip_id`` (non-empty): e.g. ``cam 1`` -> ``cam%201``, ``.x`` -> ``%2Ex``."""
    if not clip_id:
        raise ValueError("a clip id cannot be empty")
    key = quote(clip_id, safe="").replace("~", "%7E")
    key = "%2E" + key[1:] if key.startswith(".") else key
    if len(key) > MAX_KEY:
        key = key[: MAX_KEY - 34].rsplit("%", 1)[0] + "~" + hashlib.sha256(clip_id.encode()).hexdigest()[:32]
    return key


def clip_id_of(key: str) -> str | None:
    """The clip id whose :func:`clip_key` is ``key`` (None for a shortened key: see the rows)."""
    return None if "~" in key else unquote(key)


def check_job_id(job_id: str) -> str:
    """``job_id`` if it is safe as a path part; else a one-line TemcocoError saying the rule."""
    if not JOB_ID_PATTERN.fullmatch(job_id) or ".." in job_id:
        raise TemcocoError(f"invalid --job-id {job_id!r}: use {JOB_ID_RULE} (no '..')")
    return job_id
