"""``temcoco convert-weights``: the official checkpoint becomes the reference network's weights file,
which the registry runs; pickles that run code and wrong keys are refused."""

from __future__ import annotations

import os

import pytest
import torch

from temcoco.errors import TemcocoError
from temcoco.model.networks import load_trainee
from temcoco.model.paper.config import PaperConfig
from temcoco.model.paper.convert import convert_weights
from temcoco.model.paper.inference import PaperFusion
from temcoco.model.paper.network import PaperNet
from temcoco.model.registry import load_method
from tests.support.paper import needs_reference


@needs_reference
def test_converted_checkpoint_is_the_reference(converted, reference_state):
    path, summary = converted
    assert "\n" not in summary and "19,213,417 parameters" in summary
    trainee = load_trainee(path)
    assert trainee.config == PaperConfig()
    for key, value in trainee.state_dict().items():
        assert torch.equal(value, reference_state[key]), key


@needs_reference
def test_registry_picks_the_paper_network(converted):
    method = load_method("temcoco", weights=str(converted[0]), device="cpu")
    assert isinstance(method, PaperFusion)
    assert method.version.startswith("temcoco-paper-") and method.temporal_radius == 7


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
