"""Encoding a clip's fused frames: a committed chunk whose data is gone is an error."""

import pytest

from tests.support.archives import write_pair
from tests.support.stages import fuse_through_stages
from temcoco.errors import ClipError
from temcoco.storage.archive import ClipSource
from temcoco.storage.fs import remove_tree
from temcoco.workers.encode_and_measure import encode_and_measure


def test_a_chunk_without_its_data_is_an_error_not_black(tmp_path):
    root = write_pair(tmp_path / "pair", 6, 16, 24, seed=2)
    layout, ingested = fuse_through_stages(ClipSource("c", str(root / "ir"), str(root / "vi")), tmp_path / "out",
                                           "average")
    remove_tree(layout.fused_frames + "/c/1")  # frames 2-3: marker present, data gone
    with pytest.raises(ClipError, match="fused frames 2-3 are committed but their data is missing"):
        encode_and_measure(layout, ingested)
