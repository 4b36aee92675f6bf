"""Configuration files reject unknown keys at every level, naming the key and the file."""

import json
import re

import pytest

from temcoco.errors import TemcocoError
from temcoco.model.network import NetworkConfig
from temcoco.model.train import TrainConfig


@pytest.mark.parametrize("text, words", [
    ("stepz = 3\n", "unknown key 'stepz' in"),
    ("[loss]\ntemporall = 1.0\n", "unknown key 'temporall' in [loss] of"),
    ("[degrade]\nblur = 2\n", "unknown key 'blur' in [degrade] of"),
])
def test_unknown_training_keys_are_named(tmp_path, text, words):
    path = tmp_path / "train.toml"
    path.write_text(text)
    with pytest.raises(TemcocoError, match=re.escape(words)) as caught:
        TrainConfig.from_toml(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_tables_and_lists_are_read(tmp_path):
    path = tmp_path / "train.toml"
    path.write_text("steps = 3\n[loss]\ntemporal = 0.5\n")
    config = TrainConfig.from_toml(path)
    assert config.steps == 3 and config.loss.temporal == 0.5


def test_unknown_network_keys_are_named():
    config = {**NetworkConfig().to_dict(), "heads_": 2}
    with pytest.raises(TemcocoError, match="unknown network config key 'heads_' in weights.safetensors"):
        NetworkConfig.from_dict(json.loads(json.dumps(config)), "weights.safetensors")
    assert NetworkConfig.from_dict(json.loads(json.dumps(NetworkConfig().to_dict()))) == NetworkConfig()
