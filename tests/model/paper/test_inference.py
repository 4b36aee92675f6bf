"""The published network behind the FusionMethod interface: windows at fixed positions, so chunked
fusion is bit-identical to one pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from temcoco.errors import TemcocoError
from temcoco.model.paper.config import PaperConfig
from temcoco.model.paper.inference import PaperFusion
from temcoco.model.paper.network import PaperNet
from temcoco.overlap import plan_chunks, replicate_edges

torch.set_num_threads(1)


def _chunked(method: PaperFusion, ir: np.ndarray, vi: np.ndarray, chunk: int) -> np.ndarray:
    """Fuse a clip as the pipeline does: aligned chunks, halo = temporal radius, edges replicated."""
    r = method.temporal_radius
    parts = []
    for spec in plan_chunks(len(vi), chunk, r):
        window = [replicate_edges(a[spec.read_start : spec.read_stop], spec.pad) for a in (ir, vi)]
        parts.append(method.fuse(*window, first=spec.start))
    return np.concatenate(parts)


def test_chunked_fusion_is_bit_identical_to_one_pass():
    torch.manual_seed(0)
    method = PaperFusion(PaperNet(PaperConfig(window_frames=4, context_frames=1)), "test", torch.device("cpu"))
    rng = np.random.default_rng(0)
    ir = rng.integers(0, 256, (13, 16, 24, 1), dtype=np.uint8)  # 24 is padded to 32 inside
    vi = rng.integers(0, 256, (13, 16, 24, 3), dtype=np.uint8)
    whole = _chunked(method, ir, vi, 13)
    assert whole.shape == (13, 16, 24, 3) and whole.std() > 0
    for chunk in (1, 3, 7):
        np.testing.assert_array_equal(_chunked(method, ir, vi, chunk), whole, err_msg=f"chunk {chunk}")


def test_window_checks():
    method = PaperFusion(PaperNet(PaperConfig(window_frames=4, context_frames=1)), "test", torch.device("cpu"))
    ir, vi = np.zeros((7, 16, 16, 1), np.uint8), np.zeros((7, 16, 16, 3), np.uint8)
    assert method.temporal_radius == 2
    with pytest.raises(TemcocoError, match="paper needs at least 5 frames"):
        method.fuse(ir[:4], vi[:4])
    with pytest.raises(TemcocoError, match="first >= 0"):
        method.fuse(ir, vi, first=-1)
