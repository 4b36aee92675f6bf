"""The chunk planner: a clip of T frames becomes work items of core frames plus halo.

The halo idea, stated once: to fuse core frames [start, stop) a method with temporal
radius r reads frames [start - r, stop + r). Where that window runs past the clip's true
ends, the first (or last) frame is replicated. Core ranges are aligned to multiples of
the chunk size, which is also the zarr chunk length along time, so every zarr chunk of the
fused array has exactly one writer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ChunkSpec:
    """One work item: core frames [start, stop) of a clip of ``frames`` frames, with ``halo``."""

    index: int
    start: int
    stop: int
    halo: int
    frames: int

    @property
    def read_start(self) -> int:
        return max(0, self.start - self.halo)

    @property
    def read_stop(self) -> int:
        return min(self.frames, self.stop + self.halo)

    @property
    def pad(self) -> tuple[int, int]:
        """Replicated frames needed before and after the read range."""
        return self.read_start - (self.start - self.halo), (self.stop + self.halo) - self.read_stop


def plan_chunks(frames: int, chunk: int, halo: int) -> list[ChunkSpec]:
    """Split ``frames`` frames into aligned core ranges of ``chunk`` frames (the last may be shorter)."""
    if chunk < 1:
        raise ValueError("chunk must be at least 1 frame")
    if halo < 0:
        raise ValueError("halo must be >= 0")
    return [
        ChunkSpec(i, start, min(start + chunk, frames), halo, frames)
        for i, start in enumerate(range(0, frames, chunk))
    ]


def replicate_edges(window: np.ndarray, pad: tuple[int, int]) -> np.ndarray:
    """(T, ...) -> (pad[0] + T + pad[1], ...) by repeating the first and last frames."""
    before, after = pad
    if before == 0 and after == 0:
        return window
    return np.concatenate([window[:1].repeat(before, 0), window, window[-1:].repeat(after, 0)])


def iter_windows(
    frames: Iterator[tuple[np.ndarray, ...]], chunk: int, halo: int
) -> Iterator[tuple[int, int, tuple[np.ndarray, ...]]]:
    """Stream version of the planner for a stream of unknown length.

    Args:
        frames: per time step a tuple of arrays (e.g. (ir (H, W, 1), vi (H, W, 3))).
        chunk: core frames per window.
        halo: frames each side.

    Yields:
        (start, stop, windows): core range and, per stream, a (stop - start + 2 * halo, ...)
        array with edge frames replicated exactly as :func:`plan_chunks` + :func:`replicate_edges` do.
        At most ``chunk + 2 * halo`` frames per stream are held at any time.
    """
    buffer: list[tuple[np.ndarray, ...]] = []  # frames [first, first + len(buffer))
    first, start, ended = 0, 0, False
    it = iter(frames)
    while not ended or start < first + len(buffer):
        while not ended and first + len(buffer) < start + chunk + halo:
            try:
                buffer.append(next(it))
            except StopIteration:
                ended = True
        total = first + len(buffer)
        if start >= total:
            return
        stop = min(start + chunk, total)
        lo, hi = max(0, start - halo), min(total, stop + halo) if ended else stop + halo
        spec = ChunkSpec(0, start, stop, halo, total if ended else stop + halo)
        window = buffer[lo - first : hi - first]
        arrays = tuple(replicate_edges(np.stack([f[i] for f in window]), spec.pad) for i in range(len(window[0])))
        del window
        start = stop
        drop = max(0, start - halo - first)  # frames no later window reads, freed before the caller fuses
        del buffer[:drop]
        first += drop
        yield spec.start, spec.stop, arrays
