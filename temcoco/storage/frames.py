"""Zarr v3 frame arrays (T, H, W, C) uint8, chunked along time, on any fsspec URL."""

from __future__ import annotations

import posixpath

import numpy as np
import zarr
from zarr.codecs import ZstdCodec

from temcoco.storage.fs import filesystem, fs_options, is_local, join


# Fused and staged frames compress poorly (a 64-frame fused chunk at 640x480: 1.58x at Zstandard's default
# level 3, 1.28x at level 1), and level 3 took 0.53 s of CPU a chunk, 2.4x level 1's 0.22 s: more than
# a classical fusion of the chunk. Level 1 it is (BENCHMARKS.md, issue 19).
FRAME_CODEC = ZstdCodec(level=1)


def _store(url: str, storage_options: dict | None):
    if is_local(url):
        return zarr.storage.LocalStore(url.removeprefix("file://"))
    return zarr.storage.FsspecStore.from_url(url, storage_options=fs_options(url, storage_options))


def create_frames(
    url: str, shape: tuple[int, int, int, int], chunk: int, storage_options: dict | None = None,
    attributes: dict | None = None, overwrite: bool = True,
) -> zarr.Array:
    """A new frame array of ``shape`` (T, H, W, C), ``chunk`` frames per zarr chunk.

    With ``overwrite=False`` an existing array raises ``zarr.errors.ContainsArrayError``.
    """
    t, h, w, c = shape
    return zarr.create_array(
        _store(url, storage_options), shape=shape, chunks=(chunk, h, w, c), dtype="uint8",
        fill_value=0, overwrite=overwrite, attributes=attributes or {},
        dimension_names=("t", "y", "x", "c"), config={"write_empty_chunks": True},
        compressors=FRAME_CODEC,
    )


def open_frames(url: str, storage_options: dict | None = None, mode: str = "r") -> zarr.Array:
    """An existing frame array. Written chunks are always stored, even all-black ones, so an
    absent chunk means data that was never written (see :func:`stored_chunks`)."""
    return zarr.open_array(_store(url, storage_options), mode=mode).with_config({"write_empty_chunks": True})


def grow(array: zarr.Array, frames: int) -> None:
    """Lengthen a frame array (T, H, W, C) to ``frames`` frames, in place; never shorten it here.

    Its chunks' data is never deleted: a concurrent writer of the same inputs may have grown the array
    further since it was opened, and a resize to fewer frames than stored would otherwise drop chunks
    that writer committed (a later resize restores the length; the data is the same)."""
    from zarr.core.sync import sync

    if array.shape[0] < frames:
        sync(array._async_array.resize((frames, *array.shape[1:]), delete_outside_chunks=False))


def stored_chunks(url: str, storage_options: dict | None = None) -> set[int]:
    """Indices along time of the chunks a frame array (T, H, W, C) has in storage (key ``c/<t>/0/0/0``)."""
    fs, path = filesystem(join(url, "c"), storage_options)
    try:
        names = fs.ls(path, detail=False)
    except FileNotFoundError:
        return set()
    return {int(n) for n in map(posixpath.basename, names) if n.isdigit()}


def create_inputs(url: str, height: int, width: int, chunk: int, storage_options: dict | None = None) -> zarr.Group:
    """A new (overwritten) group with empty, appendable ``ir`` (T, H, W, 1) and ``vi`` (T, H, W, 3)."""
    group = zarr.open_group(_store(url, storage_options), mode="w")
    for name, c in (("ir", 1), ("vi", 3)):
        group.create_array(name, shape=(0, height, width, c), chunks=(chunk, height, width, c), dtype="uint8",
                           fill_value=0, dimension_names=("t", "y", "x", "c"), compressors=FRAME_CODEC)
    return group


def open_inputs(url: str, storage_options: dict | None = None) -> zarr.Group:
    return zarr.open_group(_store(url, storage_options), mode="r")


def read_window(array: zarr.Array, start: int, stop: int) -> np.ndarray:
    """Frames [start, stop) as a numpy array (T, H, W, C)."""
    return np.asarray(array[start:stop])
