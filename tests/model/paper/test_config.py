"""The published network's window config: checked, and read from weights files of either spelling."""

from __future__ import annotations

import pytest

from temcoco.errors import TemcocoError
from temcoco.model.paper.config import PaperConfig


def test_window_config_is_checked():
    with pytest.raises(TemcocoError, match="no core frame"):
        PaperConfig(window_frames=4, context_frames=2)
    assert PaperConfig().core_frames == 6 and PaperConfig().temporal_radius == 7


def test_old_weights_files_spell_context_frames_halo():
    """Files converted before the rename store ``halo``; they load with the same windows."""
    old = {"name": "paper", "window_frames": 8, "halo": 1}
    assert PaperConfig.from_dict(old) == PaperConfig(window_frames=8, context_frames=1)
    assert PaperConfig.from_dict(PaperConfig().to_dict()) == PaperConfig()
    assert "halo" not in PaperConfig().to_dict()
