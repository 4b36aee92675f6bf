"""The commit-marker protocol of fused chunks (DESIGN.md 'Exactly-once results').

A fused chunk counts as done only once its commit marker exists. The marker is written after the
chunk's frames and named by the chunk's start, the inputs' fingerprint and the chunk length
(:meth:`~temcoco.storage.layout.ClipLayout.commit_marker`), so it never vouches for frames of other
inputs or of another chunking. A fused array that is replaced loses its markers first.
"""

from __future__ import annotations

import posixpath

from temcoco.storage.fs import filesystem, remove_tree, write_json
from temcoco.storage.layout import ClipLayout, commit_start


def committed_chunks(layout: ClipLayout, fingerprint: str, chunk: int, storage_options: dict | None) -> set[int]:
    """Starts of the chunks committed for these inputs and chunk length (other and temp files are ignored)."""
    fs, path = filesystem(layout.chunk_commits, storage_options)
    try:
        names = [posixpath.basename(n) for n in fs.ls(path, detail=False)]
    except FileNotFoundError:
        return set()
    return {start for start in (commit_start(n, fingerprint, chunk) for n in names) if start is not None}


def is_committed(layout: ClipLayout, start: int, fingerprint: str, chunk: int, storage_options: dict | None) -> bool:
    """Whether the chunk starting at ``start`` is committed for these inputs and chunk length."""
    fs, path = filesystem(layout.commit_marker(start, fingerprint, chunk), storage_options)
    return fs.exists(path)


def commit(layout: ClipLayout, start: int, stop: int, fingerprint: str, chunk: int,
           storage_options: dict | None) -> None:
    """Vouch for the fused core frames [start, stop), written before, of these inputs and chunk length."""
    write_json(layout.commit_marker(start, fingerprint, chunk), {
        "start": start, "stop": stop, "fingerprint": fingerprint, "variant": layout.variant, "chunk": chunk},
        storage_options)


def drop_commits(layout: ClipLayout, storage_options: dict | None) -> None:
    """Remove every commit marker of the clip's fused array (before its frames are replaced)."""
    remove_tree(layout.chunk_commits, storage_options)
