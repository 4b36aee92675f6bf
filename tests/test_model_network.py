"""The TemCoCo network: shapes, exact temporal receptive field, chunking, weights files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from temcoco.errors import TemcocoError
from temcoco.model.base import FusionMethod
from temcoco.model.checkpoint import load_network, read_metadata, save_network
from temcoco.model.inference import NetworkFusion
from temcoco.model.network import CONFIGS, TemCoCoNet

torch.set_num_threads(1)


def _net(name: str = "small", seed: int = 0) -> TemCoCoNet:
    """A random network whose output head is random too (it is zero at init: the plain blend)."""
    torch.manual_seed(seed)
    net = TemCoCoNet(CONFIGS[name]).eval()
    torch.nn.init.normal_(net.decoder.head.weight, std=0.05)
    return net


def _clip(n: int, h: int, w: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, h, w, 1), dtype=np.uint8), rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("name,t,h,w", [("small", 2, 36, 40), ("small", 1, 37, 41), ("small", 3, 17, 23)])
def test_shapes(name, t, h, w):
    net = _net(name)
    r = net.temporal_radius
    with torch.no_grad():
        rgb, heads = net(torch.rand(1, t + 2 * r, 1, h, w), torch.rand(1, t + 2 * r, 3, h, w), aux=True)
    assert rgb.shape == (1, t, 3, h, w)
    assert 0 <= rgb.min() and rgb.max() <= 1
    assert heads["vis_ir"].shape == (1, t, 256, -(-h // 4), -(-w // 4))
    assert heads["sem_vi"].shape == (1, t, CONFIGS[name].dino_dim, -(-h // 4), -(-w // 4))


def test_named_configurations():
    assert list(CONFIGS) == ["small"]  # `paper` is the published network: temcoco.model.paper
    assert CONFIGS["small"].temporal_radius == 4
    assert sum(p.numel() for p in _net("small").parameters()) < 500_000


def test_too_few_frames():
    net = _net()
    with pytest.raises(ValueError, match="at least 9 frames"):
        net(torch.rand(1, 8, 1, 16, 16), torch.rand(1, 8, 3, 16, 16))


def test_temporal_radius_is_exact():
    """Output t depends on input frames t-r .. t+r-2 (all of them, none beyond): r is exact on the left."""
    net = _net()
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


def _write(tmp_path, net: TemCoCoNet):
    path = tmp_path / "w.safetensors"
    save_network(net, path)
    return path


def test_weights_roundtrip_with_metadata(tmp_path):
    net = _net("small", seed=3)
    path = _write(tmp_path, net)
    meta = read_metadata(path)
    assert meta["format"] == "temcoco" and '"name": "small"' in meta["config"]
    loaded = load_network(path).eval()
    assert loaded.config == net.config
    x = torch.rand(1, 9, 1, 16, 16), torch.rand(1, 9, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded(*x), net(*x))


def test_bad_weights_files(tmp_path):
    with pytest.raises(TemcocoError, match="not found"):
        NetworkFusion.load(str(tmp_path / "missing.safetensors"))
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(TemcocoError, match="not a valid safetensors"):
        NetworkFusion.load(str(bad))
    other = tmp_path / "other.safetensors"
    save_file({"x": torch.zeros(2)}, str(other))
    with pytest.raises(TemcocoError, match="not a temcoco weights file"):
        NetworkFusion.load(str(other))


def test_network_fusion_interface(tmp_path):
    fusion = NetworkFusion.load(str(_write(tmp_path, _net())), device="cpu")
    assert isinstance(fusion, FusionMethod)
    assert fusion.name == "temcoco" and fusion.temporal_radius == 4
    assert fusion.version.startswith("temcoco-small-") and len(fusion.version) == len("temcoco-small-") + 8
    ir, vi = _clip(11, 19, 26)
    out = fusion.fuse(ir, vi)
    assert out.shape == (3, 19, 26, 3) and out.dtype == np.uint8
    with pytest.raises(TemcocoError, match="at least 9 frames"):
        fusion.fuse(ir[:8], vi[:8])


def test_chunked_equals_one_pass(tmp_path):
    """Chunks of core frames plus halo (edges replicated) give the one-pass frames bit for bit, for any
    chunking, with every pass of one shape (CPU kernels may round differently for another batch shape)."""
    for per_pass in (4, 1, 3):
        fusion = NetworkFusion.load(str(_write(tmp_path, _net(seed=5))), device="cpu", frames_per_pass=per_pass)
        r = fusion.temporal_radius
        ir, vi = _clip(10, 30, 34, seed=2)
        idx = np.clip(np.arange(-r, 10 + r), 0, 9)
        ir_p, vi_p = ir[idx], vi[idx]
        one_pass = fusion.fuse(ir_p, vi_p)
        for chunk in (3, 4, 10):
            parts = [fusion.fuse(ir_p[s : min(10, s + chunk) + 2 * r], vi_p[s : min(10, s + chunk) + 2 * r])
                     for s in range(0, 10, chunk)]
            np.testing.assert_array_equal(np.concatenate(parts), one_pass)


def test_shipped_weights_are_the_default():
    from temcoco.model.registry import load_method

    fusion = load_method("temcoco", device="cpu")
    assert isinstance(fusion, NetworkFusion) and fusion.version.startswith("temcoco-small-")
    ir, vi = _clip(2 * fusion.temporal_radius + 1, 24, 32)
    assert fusion.fuse(ir, vi).shape == (1, 24, 32, 3)


def test_a_closed_gate_gives_the_plain_pyramid_blend():
    """Gate 0 (a clean input): the luma is the soft Laplacian-pyramid blend with zero logits, the chroma VI's."""
    from temcoco.model.color import rgb_to_ycbcr
    from temcoco.model.pyramid import soft_pyramid_blend

    net = _net()
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
