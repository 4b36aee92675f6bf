"""The published network (``paper``): the reference fingerprint, weight conversion and
exact windowed chunking."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from temcoco.errors import TemcocoError
from temcoco.model.paper.config import PARAMETERS, PaperConfig
from temcoco.model.paper.convert import convert_weights
from temcoco.model.paper.inference import PaperFusion
from temcoco.model.paper.network import PaperNet
from temcoco.model.paper.reference import REFERENCE_DIR, reference_state_dict
from temcoco.model.paper.weights import load_paper
from temcoco.model.registry import load_method
from temcoco.overlap import plan_chunks, replicate_edges

torch.set_num_threads(1)  # two threads on a shared 2-core machine are several times slower

needs_reference = pytest.mark.skipif(not (REFERENCE_DIR / "spec.json").is_file(), reason=f"no reference at {REFERENCE_DIR}")


@pytest.fixture(scope="module")
def reference_state() -> dict[str, torch.Tensor]:
    """The reference fill, with the network's own buffers: a complete state_dict."""
    state = reference_state_dict()
    state.update({k: v for k, v in PaperNet().state_dict().items() if k not in state})
    return state


@pytest.fixture(scope="module")
def reference_net(reference_state) -> PaperNet:
    net = PaperNet().eval()
    net.load_state_dict(reference_state, strict=True)
    return net


@needs_reference
def test_keys_shapes_and_parameters_are_the_published_ones():
    spec = json.loads((REFERENCE_DIR / "spec.json").read_text())
    net = PaperNet()
    assert {k: list(v.shape) for k, v in net.state_dict().items()} == {k: v["shape"] for k, v in spec["keys"].items()}
    assert sum(p.numel() for p in net.parameters()) == spec["parameters"] == PARAMETERS == 19_213_417


@needs_reference
def test_forward_matches_the_reference(reference_net):
    ir, vi = (torch.from_numpy(np.load(REFERENCE_DIR / f"input_{m}.npy")) for m in ("ir", "vi"))
    with torch.inference_mode():
        fused, feats = reference_net(ir, vi)
    expected = np.load(REFERENCE_DIR / "expected_fused.npy")  # (B, 3, T, H, W)
    np.testing.assert_allclose(fused.transpose(1, 2).numpy(), expected, atol=1e-4, rtol=0)
    names = {"ir_0": "sem_ir", "ir_1": "vis_ir", "vi_0": "sem_vi", "vi_1": "vis_vi"}
    with np.load(REFERENCE_DIR / "expected_feats.npz") as ref:
        for theirs, ours in names.items():
            np.testing.assert_allclose(feats[ours].numpy(), ref[theirs], atol=1e-4, rtol=0, err_msg=ours)


def test_every_output_depends_on_the_whole_window():
    torch.manual_seed(0)
    net = PaperNet().eval()
    ir, vi = torch.rand(1, 4, 3, 32, 32), torch.rand(1, 4, 3, 32, 32)
    with torch.inference_mode():
        a = net(ir, vi)[0]
        ir[:, 0] += 0.5
        b = net(ir, vi)[0]
    assert all((a[:, t] - b[:, t]).abs().max() > 0 for t in range(4))


def test_any_frame_size_pads_inside():
    torch.manual_seed(0)
    with torch.inference_mode():
        fused, feats = PaperNet().eval()(torch.rand(1, 3, 3, 21, 35), torch.rand(1, 3, 3, 21, 35))
    assert fused.shape == (1, 3, 3, 21, 35)
    assert feats["sem_ir"].shape == (3, 1024, 2, 3) and feats["vis_vi"].shape == (1, 256, 3, 8, 12)


# ---------------------------------------------------------------- conversion


@pytest.fixture(scope="module")
def converted(reference_state, tmp_path_factory):
    """The reference fill saved as a DataParallel-style official .pth, converted."""
    d = tmp_path_factory.mktemp("convert")
    torch.save({f"module.{k}": v for k, v in reference_state.items()}, d / "VideoFusionNet_495000.pth")
    summary = convert_weights(d / "VideoFusionNet_495000.pth", d / "paper.safetensors")
    return d / "paper.safetensors", summary


@needs_reference
def test_converted_checkpoint_is_the_reference(converted, reference_state):
    path, summary = converted
    assert "\n" not in summary and "19,213,417 parameters" in summary
    net, config = load_paper(path)
    assert config == PaperConfig()
    for key, value in net.state_dict().items():
        assert torch.equal(value, reference_state[key]), key


@needs_reference
def test_registry_picks_the_paper_network(converted):
    method = load_method("temcoco", weights=str(converted[0]), device="cpu")
    assert isinstance(method, PaperFusion)
    assert method.version.startswith("temcoco-paper-") and method.temporal_radius == 7


def test_a_torch_checkpoint_as_weights_says_to_convert_it(tmp_path):
    with pytest.raises(TemcocoError, match="convert-weights"):
        load_method("temcoco", weights=str(tmp_path / "VideoFusionNet_495000.pth"), device="cpu")


class _RunsCode:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_conversion_refuses_a_pickle_that_runs_code(tmp_path):
    payload = _RunsCode()
    payload.marker = tmp_path / "ran"
    torch.save({"weight": payload}, tmp_path / "evil.pth")
    with pytest.raises(TemcocoError) as info:
        convert_weights(tmp_path / "evil.pth", tmp_path / "out.safetensors")
    assert "refused" in str(info.value) and "\n" not in str(info.value)
    assert not payload.marker.exists() and not (tmp_path / "out.safetensors").exists()


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda s: s.pop("DCN_2.dconv_1.weight"), "lacks key 'DCN_2.dconv_1.weight'"),
        (lambda s: s.update({"dec.conv0.spatial_conv.conv3d.bias": torch.zeros(4)}), "'dec.conv0.spatial_conv.conv3d.bias' has shape (4,)"),
        (lambda s: s.update({"dec.extra": torch.zeros(1)}), "unexpected key 'dec.extra'"),
    ],
)
def test_conversion_names_the_wrong_key(tmp_path, edit, message):
    state = PaperNet().state_dict()
    edit(state)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(TemcocoError, match=message.replace("(", r"\(").replace(")", r"\)")):
        convert_weights(tmp_path / "bad.pth", tmp_path / "out.safetensors")


def test_window_config_is_checked():
    with pytest.raises(TemcocoError, match="no core frame"):
        PaperConfig(window_frames=4, halo=2)
    assert PaperConfig().core_frames == 6 and PaperConfig().temporal_radius == 7


# ---------------------------------------------------------------- exact chunking


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
    method = PaperFusion(PaperNet(), PaperConfig(window_frames=4, halo=1), "test", torch.device("cpu"))
    rng = np.random.default_rng(0)
    ir = rng.integers(0, 256, (13, 16, 24, 1), dtype=np.uint8)  # 24 is padded to 32 inside
    vi = rng.integers(0, 256, (13, 16, 24, 3), dtype=np.uint8)
    whole = _chunked(method, ir, vi, 13)
    assert whole.shape == (13, 16, 24, 3) and whole.std() > 0
    for chunk in (1, 3, 7):
        np.testing.assert_array_equal(_chunked(method, ir, vi, chunk), whole, err_msg=f"chunk {chunk}")
