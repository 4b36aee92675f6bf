"""The small network's config: unknown keys in a weights file are named; a config survives JSON."""

import json

import pytest

from temcoco.errors import TemcocoError
from temcoco.model.small.config import SmallConfig


def test_unknown_network_keys_are_named():
    config = {**SmallConfig().to_dict(), "heads_": 2}
    with pytest.raises(TemcocoError, match="unknown network config key 'heads_' in weights.safetensors"):
        SmallConfig.from_dict(json.loads(json.dumps(config)), "weights.safetensors")
    assert SmallConfig.from_dict(json.loads(json.dumps(SmallConfig().to_dict()))) == SmallConfig()


def test_temporal_radius_and_spatial_multiple():
    config = SmallConfig()
    assert config.temporal_radius == 4  # 3 + w, w = 1
    assert config.spatial_multiple == 16  # windows of 4 at 1/4 scale and 4 pyramid levels
