"""The published network (``paper``): the reference fingerprint (keys, shapes, parameters and the
forward pass), every output depending on the whole window, any frame size."""

from __future__ import annotations

import json

import numpy as np
import torch

from temcoco.model.paper.config import PARAMETERS
from temcoco.model.paper.network import PaperNet
from temcoco.model.paper.reference import REFERENCE_DIR
from tests.support.paper import needs_reference

torch.set_num_threads(1)  # two threads on a shared 2-core machine are several times slower


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


