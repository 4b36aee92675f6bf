"""A clip's fused array: opened for its inputs or replaced, its chunks planned, checked complete.

Jobs of one variant that fuse the same inputs share the array (a later job keeps its chunk length
and its committed chunks, see :mod:`temcoco.storage.commits`); one made from other inputs is replaced,
markers first, unless the job that made it still runs.
"""

from __future__ import annotations

import zarr
from zarr.errors import ContainsArrayError

from temcoco.errors import ClipError
from temcoco.overlap import ChunkSpec, plan_chunks
from temcoco.storage.commits import committed_chunks, drop_commits
from temcoco.storage.frames import create_frames, grow, open_frames, stored_chunks
from temcoco.storage.layout import ClipLayout
from temcoco.storage.lease import is_held
from temcoco.workers.ingest import Ingested


def prepare_output(layout: ClipLayout, ingested: Ingested, depth: int,
                   storage_options: dict | None = None) -> list[ChunkSpec]:
    """Open the clip's fused array for these inputs (made by an interrupted or concurrent job of the
    same variant, whose chunking it keeps), or create it, and plan its chunks with ``depth`` halo frames.

    Returns the chunks still to fuse: those without a commit marker for these inputs.
    """
    shape = (ingested.frames, ingested.height, ingested.width, 3)
    array = fused_array(layout, ingested.fingerprint, shape, ingested.chunk, storage_options)
    done = committed_chunks(layout, ingested.fingerprint, array.chunks[0], storage_options)
    return [s for s in plan_chunks(ingested.frames, array.chunks[0], depth) if s.start not in done]


def fused_array(layout: ClipLayout, fingerprint: str, shape: tuple[int | None, int, int, int], chunk: int,
                storage_options: dict | None = None) -> zarr.Array:
    """The fused array of ``layout`` for the inputs ``fingerprint``, shape (T, H, W, 3), ``chunk`` frames a
    zarr chunk unless an existing one keeps its own (a shorter one of these inputs, left by a streamed
    run that stopped part way, is grown to T). T None: a streamed clip, whose length is known at its
    end; an array of any length matches, and a new one is empty (0, H, W, 3), grown as it is written.

    One made from other inputs is replaced, unless the job that made it is still running (then this
    clip fails, and a later job does it).
    """
    identity = {"fingerprint": fingerprint, "variant": layout.variant}
    new_shape = (shape[0] or 0, *shape[1:])
    try:
        array = open_frames(layout.fused_frames, storage_options, mode="r+")
    except (FileNotFoundError, KeyError, ValueError):
        try:  # never overwrite here: a concurrent job of this variant may have just made it
            return create_frames(layout.fused_frames, new_shape, chunk, storage_options,
                                 attributes={**identity, "job_id": layout.job_id}, overwrite=False)
        except ContainsArrayError:
            array = open_frames(layout.fused_frames, storage_options, mode="r+")
    if array.shape[1:] == shape[1:] and all(array.attrs.get(k) == v for k, v in identity.items()):
        grow(array, shape[0] or 0)  # a streamed run of these inputs may have stopped part way
        return array
    owner = array.attrs.get("job_id")
    if owner and owner != layout.job_id and is_held(layout.out, owner, storage_options):
        raise ClipError(f"the running job {owner} is fusing other inputs of this clip with {layout.variant}: "
                        "run this clip again when that job has ended")
    drop_commits(layout, storage_options)  # markers first: none may vouch for replaced frames
    return create_frames(layout.fused_frames, new_shape, chunk, storage_options,
                         attributes={**identity, "job_id": layout.job_id})


def check_complete(layout: ClipLayout, ingested: Ingested, storage_options: dict | None = None) -> zarr.Array:
    """The fused array, once every chunk is committed for these inputs and stored; else a ClipError
    naming the frames (missing data is never read as black)."""
    array = open_frames(layout.fused_frames, storage_options)
    chunk = array.chunks[0]
    committed = committed_chunks(layout, ingested.fingerprint, chunk, storage_options)
    stored = stored_chunks(layout.fused_frames, storage_options)
    for spec in plan_chunks(ingested.frames, chunk, 0):
        if spec.start not in committed or spec.start // chunk not in stored:
            what = "were never committed" if spec.start not in committed else "are committed but their data is missing"
            raise ClipError(f"fused frames {spec.start}-{spec.stop - 1} {what}")
    return array
