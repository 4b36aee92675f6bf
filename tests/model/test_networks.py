"""The network registry: its names, new networks, and weights files loaded as the network they hold
(for fusion and for training), the shipped weights by default."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from temcoco.errors import TemcocoError
from temcoco.model.checkpoint import FORMAT, read_metadata, save_network
from temcoco.model.networks import NETWORKS, SHIPPED_WEIGHTS, load_fusion, load_trainee, new_network, new_trainee
from temcoco.model.paper.config import PaperConfig
from temcoco.model.paper.inference import PaperFusion
from temcoco.model.paper.network import PaperNet
from temcoco.model.paper.training import PaperTrainee
from temcoco.model.registry import load_method
from temcoco.model.small.inference import SmallFusion
from temcoco.model.small.network import SmallNet
from tests.support.small import random_clip, random_small_net, write_weights

torch.set_num_threads(1)


def test_names():
    assert list(NETWORKS) == ["small", "paper"]
    assert isinstance(new_network("small"), SmallNet) and isinstance(new_trainee("small"), SmallNet)
    assert type(new_network("paper")) is PaperNet and isinstance(new_trainee("paper"), PaperTrainee)
    with pytest.raises(TemcocoError, match="unknown network 'big': choose one of small, paper"):
        new_trainee("big")


def test_shipped_weights_are_the_default():
    fusion = load_method("temcoco", device="cpu")
    assert isinstance(fusion, SmallFusion) and fusion.version.startswith("temcoco-small-")
    assert SHIPPED_WEIGHTS.name == "small.safetensors"
    ir, vi = random_clip(2 * fusion.temporal_radius + 1, 24, 32)
    assert fusion.fuse(ir, vi).shape == (1, 24, 32, 3)


def test_a_weights_file_loads_as_the_network_it_holds(tmp_path):
    net = random_small_net(seed=1)
    path = write_weights(tmp_path, net)
    trainee, fusion = load_trainee(path), load_fusion(path, device="cpu")
    assert isinstance(trainee, SmallNet) and isinstance(fusion, SmallFusion)
    for loaded in (trainee, fusion.net):
        assert all(torch.equal(v, net.state_dict()[k]) for k, v in loaded.state_dict().items())


def test_an_unknown_network_in_a_weights_file_is_named(tmp_path):
    path = tmp_path / "w.safetensors"
    save_file({"x": torch.zeros(1)}, str(path), metadata={"format": FORMAT, "config": json.dumps({"name": "big"})})
    with pytest.raises(TemcocoError, match="holds an unknown network 'big'"):
        load_fusion(path)


def test_a_torch_checkpoint_as_weights_says_to_convert_it(tmp_path):
    with pytest.raises(TemcocoError, match="convert-weights"):
        load_method("temcoco", weights=str(tmp_path / "VideoFusionNet_495000.pth"), device="cpu")


def test_paper_weights_load_as_the_paper_network(tmp_path):
    """A paper weights file, here as files converted before ``halo`` became ``context_frames`` store it."""
    path = tmp_path / "paper.safetensors"
    state = {k: v.contiguous() for k, v in PaperNet().state_dict().items()}
    old_config = {"name": "paper", "window_frames": 8, "halo": 1}
    save_file(state, str(path), metadata={"format": FORMAT, "config": json.dumps(old_config)})
    fusion = load_method("temcoco", weights=str(path), device="cpu")
    assert isinstance(fusion, PaperFusion) and fusion.config == PaperConfig(window_frames=8, context_frames=1)
    trainee = load_trainee(path)
    assert isinstance(trainee, PaperTrainee) and trainee.config == fusion.config
    save_network(trainee, tmp_path / "again.safetensors")  # written back with today's name
    assert json.loads(read_metadata(tmp_path / "again.safetensors")["config"])["context_frames"] == 1
