"""The one interface every fusion method implements.

A method sees a window of frames: the core frames it must fuse plus ``temporal_radius``
halo frames on each side (replicated at the true ends of a clip by the caller, see
:mod:`temcoco.overlap`), and returns only the fused core frames. A method whose output
at frame t depends only on input frames t - r .. t + r therefore gives the same frames
whatever the chunking; one whose outputs depend on a whole window of its own places those
windows at fixed absolute positions, which ``first`` tells it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class FusionMethod(Protocol):
    """A fusion method.

    Attributes:
        name: the ``--method`` name.
        version: model version string recorded in the metrics table
            (for a network, derived from its weights; for a classical method, its name).
        temporal_radius: r, the number of halo frames needed on each side.
    """

    name: str
    version: str
    temporal_radius: int

    def fuse(self, ir: np.ndarray, vi: np.ndarray, first: int = 0) -> np.ndarray:
        """Fuse a window of frames.

        Args:
            ir: (T + 2r, H, W, 1) uint8 infrared frames, already on the VI grid.
            vi: (T + 2r, H, W, 3) uint8 RGB visible frames.
            first: index in the clip of the first core frame (window frame r).

        Returns:
            (T, H, W, 3) uint8 RGB fused core frames.
        """
        ...
