"""Fixtures of the published network's tests: the reference fingerprint's weights
(``../shared/reference/temcoco-official``) as a network and as a converted official checkpoint."""

from __future__ import annotations

import pytest
import torch

from temcoco.model.paper.convert import convert_weights
from temcoco.model.paper.network import PaperNet
from temcoco.model.paper.reference import reference_state_dict

torch.set_num_threads(1)  # two threads on a shared 2-core machine are several times slower

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


@pytest.fixture(scope="module")
def converted(reference_state, tmp_path_factory):
    """The reference fill saved as a DataParallel-style official .pth, converted."""
    d = tmp_path_factory.mktemp("convert")
    torch.save({f"module.{k}": v for k, v in reference_state.items()}, d / "VideoFusionNet_495000.pth")
    summary = convert_weights(d / "VideoFusionNet_495000.pth", d / "paper.safetensors")
    return d / "paper.safetensors", summary
