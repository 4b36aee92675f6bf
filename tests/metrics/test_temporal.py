"""Temporal metrics: warping, flowD and BiSWE on analytic motion, feaCD, weights discovery and loading."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from temcoco.errors import TemcocoError
from temcoco.metrics import temporal
from temcoco.metrics.clip import ClipMetrics, MetricConfig

H, W = 120, 160


@pytest.fixture(autouse=True)
def no_weights(tmp_path, monkeypatch):
    """An empty torch hub cache and no weights variables: tests add the weights they need."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(temporal.RAFT_ENV, raising=False)
    monkeypatch.delenv(temporal.RESNET18_ENV, raising=False)


def scene(h: int = H + 40, w: int = W + 40, seed: int = 0) -> np.ndarray:
    """(h, w, 3) uint8 smooth colour texture."""
    rng = np.random.default_rng(seed)
    x = cv2.GaussianBlur(rng.uniform(0, 255, (h, w, 3)), (0, 0), 2.5)
    return np.clip((x - x.mean()) * 4 + 128, 0, 255).astype(np.uint8)


def translating(n: int, dx: int, dy: int) -> list[temporal.Frames]:
    """n frames of a scene moving by (dx, dy) px per frame: VI the scene, IR its inverse grey, fused a blend."""
    big = scene()
    out = []
    for t in range(n):
        vi = np.ascontiguousarray(big[20 - t * dy : 20 - t * dy + H, 20 - t * dx : 20 - t * dx + W])
        ir = 255 - cv2.cvtColor(vi, cv2.COLOR_RGB2GRAY)
        fused = ((vi.astype(np.uint16) * 3 + ir[..., None]) // 4).astype(np.uint8)
        out.append(temporal.Frames(ir=ir, vi=vi, fused=fused))
    return out


def test_warp_of_a_ramp_is_exact() -> None:
    ramp = (3 * np.arange(W, dtype=np.float32)[None, :] + 2 * np.arange(H, dtype=np.float32)[:, None])
    flow = np.zeros((H, W, 2), np.float32)
    flow[..., 0], flow[..., 1] = 2.5, -1.25
    warped = temporal.warp(ramp, flow)
    inner = (slice(4, -4), slice(4, -4))
    np.testing.assert_allclose(warped[inner], (ramp + 3 * 2.5 - 2 * 1.25)[inner], atol=1e-3)


def test_occlusion_mask_forward_backward() -> None:
    forward = np.zeros((H, W, 2), np.float32)
    forward[..., 0] = 3.0
    assert temporal.occlusion_mask(forward, -forward).all()  # consistent: visible everywhere
    assert not temporal.occlusion_mask(forward, forward).any()  # residual 6 px: occluded everywhere


def test_flowd_zero_for_known_translation() -> None:
    prev, cur = translating(2, dx=2, dy=1)
    (flow_back,) = temporal.DisFlow()([(cur.vi, prev.vi)])
    inner = (slice(8, -8), slice(8, -8))
    np.testing.assert_allclose(np.median(flow_back[inner].reshape(-1, 2), axis=0), [-2, -1], atol=0.05)
    compensated = temporal.flowd_map(prev.fused_f32, cur.fused_f32, flow_back)[inner].mean()
    uncompensated = temporal.flowd_map(prev.fused_f32, cur.fused_f32, np.zeros_like(flow_back))[inner].mean()
    assert compensated < 0.5 < 10 < uncompensated


def test_flowd_and_biswe_of_a_translating_clip() -> None:
    clip = ClipMetrics(MetricConfig(flow="dis", feacd=False))
    for fr in translating(4, dx=2, dy=1):
        clip.update(fr.ir[..., None], fr.vi, fr.fused)
    r = clip.result()
    assert r["flow_method"] == "dis"
    assert r["flowD"] < 2.5  # all pixels, including the strips that enter the view
    assert r["BiSWE"] < 1.5  # newly visible pixels fail the forward-backward check and are masked


def test_flicker_gives_c_sqrt3_and_biswe_2c() -> None:
    # static VI and IR; the fused frame brightens by c on odd frames: flow is zero, every pixel
    # differs by (c, c, c) from its predecessor: flowD = |(c, c, c)| = c·sqrt(3), BiSWE = c + c
    c = 6
    vi = scene(H, W)
    ir = 255 - cv2.cvtColor(vi, cv2.COLOR_RGB2GRAY)
    base = np.clip(vi, 0, 255 - c)
    clip = ClipMetrics(MetricConfig(flow="dis", feacd=False))
    for t in range(5):
        clip.update(ir[..., None], vi, base + c * (t % 2))
    r = clip.result()
    assert r["flowD"] == pytest.approx(c * math.sqrt(3), rel=1e-3)
    assert r["BiSWE"] == pytest.approx(2 * c, rel=1e-2)  # the fused frames' own flow is ~0, not exactly
    assert clip.per_frame["flowD"][0] is None
    assert clip.per_frame["flowD"][1:] == pytest.approx([c * math.sqrt(3)] * 4, rel=1e-3)


def test_feacd_is_logit_sign_disagreement() -> None:
    d_f = torch.tensor([1.0, -1, 2, -3])
    d_v = torch.tensor([2.0, 1, -2, -1])  # agrees in sign with d_f at 0 and 3
    d_i = torch.tensor([0.5, -4, 1, -1])  # agrees everywhere
    assert temporal.feacd(d_f, d_v, d_i) == pytest.approx((0 + 2 + 2 + 0) / 4 + 0)
    # TemCoCo's own expression on (1, K) logits
    cos = torch.nn.functional.cosine_similarity
    expected = (1 - cos(d_f[None], d_v[None], dim=0)).mean() + (1 - cos(d_f[None], d_i[None], dim=0)).mean()
    assert temporal.feacd(d_f, d_v, d_i) == pytest.approx(float(expected))


def small_clip(n: int = 3) -> list[temporal.Frames]:
    return [temporal.Frames(ir=f.ir[:64, :64].copy(), vi=f.vi[:64, :64].copy(), fused=f.fused[:64, :64].copy())
            for f in translating(n, dx=1, dy=0)]


def run(config: MetricConfig, frames: list[temporal.Frames]) -> dict:
    clip = ClipMetrics(config)
    for fr in frames:
        clip.update(fr.ir[..., None], fr.vi, fr.fused)
    return clip.result()


def test_feacd_null_without_weights() -> None:
    assert run(MetricConfig(flow="dis"), small_clip())["feaCD"] is None


def test_feacd_with_resnet18_safetensors(tmp_path, monkeypatch) -> None:
    from safetensors.torch import save_file
    from torchvision.models import resnet18

    torch.manual_seed(0)
    path = tmp_path / "resnet18.safetensors"
    save_file(resnet18(weights=None).state_dict(), str(path))
    monkeypatch.setenv(temporal.RESNET18_ENV, str(path))
    value = run(MetricConfig(flow="dis"), small_clip(2))["feaCD"]  # two frames: one feaCD sample
    assert value is not None and 0 <= value <= 4
    assert run(MetricConfig(flow="dis", feacd=False), small_clip())["feaCD"] is None


def test_feacd_with_resnet18_in_hub_cache(tmp_path) -> None:
    from torchvision.models import ResNet18_Weights, resnet18

    path = temporal._hub_checkpoint(ResNet18_Weights.IMAGENET1K_V1.url)
    assert path.name == "resnet18-f37072fd.pth" and str(tmp_path) in str(path)
    path.parent.mkdir(parents=True)
    torch.save(resnet18(weights=None).state_dict(), path)
    assert temporal.find_resnet18_weights() == path
    assert run(MetricConfig(flow="dis"), small_clip())["feaCD"] is not None


def test_weights_variable_must_name_safetensors(tmp_path, monkeypatch) -> None:
    pickle = tmp_path / "resnet18.pth"
    pickle.write_bytes(b"not a tensor file")
    monkeypatch.setenv(temporal.RESNET18_ENV, str(pickle))
    with pytest.raises(TemcocoError, match="safetensors"):
        temporal.find_resnet18_weights()


def test_raft_from_safetensors(tmp_path, monkeypatch) -> None:
    from safetensors.torch import save_file
    from torchvision.models.optical_flow import raft_small

    torch.manual_seed(0)
    path = tmp_path / "raft_small.safetensors"
    save_file(raft_small(weights=None).state_dict(), str(path))
    monkeypatch.setenv(temporal.RAFT_ENV, str(path))
    flowd_flow, biswe_flow = temporal.make_flows("raft")
    assert flowd_flow is biswe_flow and flowd_flow.name == "raft"
    frames = small_clip()
    flows = flowd_flow([(frames[1].vi, frames[0].vi), (frames[1].ir, frames[0].ir)])
    assert [f.shape for f in flows] == [(64, 64, 2)] * 2 and all(f.dtype == np.float32 for f in flows)
    r = run(MetricConfig(flow="raft", feacd=False), frames[:2])
    assert r["flow_method"] == "raft" and math.isfinite(r["flowD"])
    if not torch.cuda.is_available():
        assert temporal.make_flows("auto")[0].name == "dis"  # RAFT on a CPU core is too slow for auto


def test_raft_requested_without_weights() -> None:
    with pytest.raises(TemcocoError, match="RAFT weights"):
        temporal.make_flows("raft")
    assert temporal.make_flows("auto")[0].name == "dis"
    with pytest.raises(ValueError):
        temporal.make_flows("farneback")


def test_raft_in_hub_cache() -> None:
    from torchvision.models.optical_flow import Raft_Small_Weights, raft_small

    path = temporal._hub_checkpoint(Raft_Small_Weights.DEFAULT.url)
    path.parent.mkdir(parents=True)
    torch.save(raft_small(weights=None).state_dict(), path)
    assert temporal.find_raft_weights() == path
    assert temporal.make_flows("raft")[0].name == "raft"


def _flowd_reference(prev: temporal.Frames, cur: temporal.Frames) -> float:
    """flowD as before issue 19, written out: DIS medium-preset flow VI_t -> VI_t-1 on grey levels, the previous
    fused frame sampled along it (bilinear, replicated border), per-pixel RGB L2 norm in float64, mean."""
    grey = [cv2.cvtColor(f.vi, cv2.COLOR_RGB2GRAY) for f in (cur, prev)]
    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(*grey, None)
    gx, gy = np.meshgrid(np.arange(flow.shape[1], dtype=np.float32), np.arange(flow.shape[0], dtype=np.float32))
    warped = cv2.remap(prev.fused.astype(np.float32), gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    return float(np.sqrt(((cur.fused.astype(np.float64) - warped) ** 2).sum(axis=2)).mean())


def test_flowd_equals_previous_definition_on_real_frames(m3svd) -> None:
    """flowD keeps its own medium-preset DIS flow (not BiSWE's fast-preset one): same values as before issue 19."""
    from tests.support.m3svd import averaged_frames

    frames = [temporal.Frames(ir=ir, vi=vi, fused=fused) for ir, vi, fused in averaged_frames(m3svd, 3)]
    clip = ClipMetrics(MetricConfig(flow="dis", feacd=False))
    for fr in frames:
        clip.update(fr.ir[..., None], fr.vi, fr.fused)
    expected = [None] + [_flowd_reference(p, c) for p, c in zip(frames, frames[1:])]
    assert clip.per_frame["flowD"][0] is None
    assert clip.per_frame["flowD"][1:] == pytest.approx(expected[1:], rel=1e-3)
