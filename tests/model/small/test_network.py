"""The small network: shapes, its exact temporal receptive field, and a state_dict laid out as the
shipped weights are (keys and shapes recorded from the network that trained them)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from temcoco.model.color import rgb_to_ycbcr
from temcoco.model.small.config import SmallConfig
from temcoco.model.small.network import SmallNet
from temcoco.model.small.pyramid import soft_pyramid_blend
from tests.support.small import random_small_net

STATE_DICT_LAYOUT = Path(__file__).resolve().parents[2] / "support" / "small_state_dict.json"

torch.set_num_threads(1)


@pytest.mark.parametrize("t,h,w", [(2, 36, 40), (1, 37, 41), (3, 17, 23)])
def test_shapes(t, h, w):
    net = random_small_net()
    r = net.temporal_radius
    with torch.no_grad():
        rgb, heads = net(torch.rand(1, t + 2 * r, 1, h, w), torch.rand(1, t + 2 * r, 3, h, w), aux=True)
    assert rgb.shape == (1, t, 3, h, w)
    assert 0 <= rgb.min() and rgb.max() <= 1
    assert heads["vis_ir"].shape == (1, t, 256, -(-h // 4), -(-w // 4))
    assert heads["sem_vi"].shape == (1, t, SmallConfig().dino_dim, -(-h // 4), -(-w // 4))


def test_too_few_frames():
    net = random_small_net()
    with pytest.raises(ValueError, match="at least 9 frames"):
        net(torch.rand(1, 8, 1, 16, 16), torch.rand(1, 8, 3, 16, 16))


def test_temporal_radius_is_exact():
    """Output t depends on input frames t-r .. t+r-2 (all of them, none beyond): r is exact on the left."""
    net = random_small_net()
    r, t = net.temporal_radius, 9
    torch.manual_seed(1)
    ir, vi = torch.rand(1, t + 2 * r, 1, 24, 24), torch.rand(1, t + 2 * r, 3, 24, 24)
    with torch.no_grad():
        base = net(ir, vi)
        for k in (0, r + 4, t + 2 * r - 1):
            ir2, vi2 = ir.clone(), vi.clone()
            ir2[:, k] += 0.3
            vi2[:, k] = 1 - vi2[:, k]
            changed = (net(ir2, vi2) - base).abs().flatten(2).amax(2)[0] > 0  # per output frame
            centres = np.arange(t) + r  # input index of each output frame
            assert not changed[torch.from_numpy(np.abs(centres - k) > r)].any()
            # the window is t-r .. t+(r-2): frame t-r is really used, frames beyond t+r-2 are not
            assert bool(changed[torch.from_numpy((centres - k >= -(r - 2)) & (centres - k <= r))].all())


def test_a_closed_gate_gives_the_plain_pyramid_blend():
    """Gate 0 (a clean input): the luma is the soft Laplacian-pyramid blend with zero logits, the chroma VI's."""
    net = random_small_net()
    torch.nn.init.constant_(net.gate.mlp[2].bias, -1e4)
    r = net.temporal_radius
    # mid-range inputs: no RGB clipping, so the YCbCr of the output is exactly what the network formed
    ir, vi = torch.rand(1, 2 * r + 1, 1, 32, 48) * 0.4 + 0.3, torch.rand(1, 2 * r + 1, 3, 32, 48) * 0.2 + 0.4
    with torch.no_grad():
        fused, heads = net(ir, vi, aux=True)
    assert heads["gate"].shape == (1, 1) and float(heads["gate"]) == 0.0
    y_vi = rgb_to_ycbcr(vi[0, r : r + 1])
    blend = soft_pyramid_blend(ir[0, r : r + 1], y_vi[:, :1], torch.zeros(1, 5, 32, 48), net.config.blend_temperature)
    ycc = rgb_to_ycbcr(fused[0])
    torch.testing.assert_close(ycc[:, :1], blend.clamp(0, 1), atol=1e-4, rtol=0)  # 0.03 grey levels
    torch.testing.assert_close(ycc[:, 1:], y_vi[:, 1:], atol=1e-4, rtol=0)


def test_state_dict_is_laid_out_as_the_shipped_weights():
    """Every key and shape as recorded from the code that trained temcoco/model/weights/small.safetensors."""
    recorded = json.loads(STATE_DICT_LAYOUT.read_text())
    assert {k: list(v.shape) for k, v in SmallNet(SmallConfig()).state_dict().items()} == recorded


def test_size():
    net = SmallNet(SmallConfig())
    assert net.temporal_radius == 4 and sum(p.numel() for p in net.parameters()) < 500_000
