"""The small network behind the FusionMethod interface: window checks, and chunked fusion equal to
one pass bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from temcoco.errors import TemcocoError
from temcoco.model.base import FusionMethod
from temcoco.model.networks import load_fusion
from temcoco.model.small.inference import SmallFusion
from tests.support.small import random_clip, random_small_net, write_weights

torch.set_num_threads(1)


def test_network_fusion_interface(tmp_path):
    fusion = load_fusion(write_weights(tmp_path, random_small_net()), device="cpu")
    assert isinstance(fusion, SmallFusion) and isinstance(fusion, FusionMethod)
    assert fusion.name == "temcoco" and fusion.temporal_radius == 4
    assert fusion.version.startswith("temcoco-small-") and len(fusion.version) == len("temcoco-small-") + 8
    ir, vi = random_clip(11, 19, 26)
    out = fusion.fuse(ir, vi)
    assert out.shape == (3, 19, 26, 3) and out.dtype == np.uint8
    assert fusion.fuse(ir[..., 0], vi).shape == out.shape  # IR without its channel axis
    with pytest.raises(TemcocoError, match="at least 9 frames"):
        fusion.fuse(ir[:8], vi[:8])
    with pytest.raises(TemcocoError, match="on one grid"):
        fusion.fuse(ir[:, :18], vi)


def test_chunked_equals_one_pass():
    """Chunks of core frames plus halo (edges replicated) give the one-pass frames bit for bit, for any
    chunking, with every pass of one shape (CPU kernels may round differently for another batch shape)."""
    for per_pass in (4, 1, 3):
        fusion = SmallFusion(random_small_net(seed=5), "test", torch.device("cpu"), frames_per_pass=per_pass)
        r = fusion.temporal_radius
        ir, vi = random_clip(10, 30, 34, seed=2)
        idx = np.clip(np.arange(-r, 10 + r), 0, 9)
        ir_p, vi_p = ir[idx], vi[idx]
        one_pass = fusion.fuse(ir_p, vi_p)
        for chunk in (3, 4, 10):
            parts = [fusion.fuse(ir_p[s : min(10, s + chunk) + 2 * r], vi_p[s : min(10, s + chunk) + 2 * r])
                     for s in range(0, 10, chunk)]
            np.testing.assert_array_equal(np.concatenate(parts), one_pass)
