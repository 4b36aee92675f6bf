"""Weights files: a network and its config round-trip through safetensors; bad files are one-line
errors; optimizer states round-trip."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from temcoco.errors import TemcocoError
from temcoco.model.checkpoint import (load_optimizer, load_weights, read_config, read_metadata, save_optimizer,
                                      weights_version)
from temcoco.model.small.config import SmallConfig
from temcoco.model.small.network import SmallNet
from tests.support.small import random_small_net, write_weights

torch.set_num_threads(1)


def test_weights_roundtrip_with_metadata(tmp_path):
    net = random_small_net(seed=3)
    path = write_weights(tmp_path, net)
    meta = read_metadata(path)
    assert meta["format"] == "temcoco" and '"name": "small"' in meta["config"]
    loaded = SmallNet(SmallConfig.from_dict(read_config(path))).eval()
    load_weights(loaded, path)
    assert loaded.config == net.config
    x = torch.rand(1, 9, 1, 16, 16), torch.rand(1, 9, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded(*x), net(*x))
    assert weights_version(path).startswith("temcoco-small-") and len(weights_version(path)) == len("temcoco-small-") + 8


def test_bad_weights_files(tmp_path):
    with pytest.raises(TemcocoError, match="not found"):
        read_config(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(TemcocoError, match="not a valid safetensors"):
        read_config(bad)
    other = tmp_path / "other.safetensors"
    save_file({"x": torch.zeros(2)}, str(other))
    with pytest.raises(TemcocoError, match="not a temcoco weights file"):
        read_config(other)
    with pytest.raises(TemcocoError, match="cannot load weights from .*other.safetensors") as caught:
        load_weights(SmallNet(), other)
    assert "\n" not in str(caught.value)
    with pytest.raises(TemcocoError, match="convert-weights"):
        read_metadata(tmp_path / "VideoFusionNet_495000.pth")


def test_optimizer_state_roundtrip(tmp_path):
    p = torch.nn.Parameter(torch.rand(3))
    opt = torch.optim.AdamW([p], lr=0.1)
    p.sum().backward()
    opt.step()
    save_optimizer(opt, tmp_path / "o.safetensors")
    assert set(load_file(str(tmp_path / "o.safetensors"))) >= {"0.exp_avg", "0.exp_avg_sq"}
    opt2 = torch.optim.AdamW([torch.nn.Parameter(p.detach().clone())], lr=0.5)
    load_optimizer(opt2, tmp_path / "o.safetensors")
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s2["param_groups"][0]["lr"] == 0.1
    torch.testing.assert_close(s1["state"][0]["exp_avg_sq"], s2["state"][0]["exp_avg_sq"])
