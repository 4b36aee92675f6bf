import numpy as np
import pytest

from temcoco.errors import TemcocoError
from temcoco.model import FusionMethod, load_method
from temcoco.model.classical import ClassicalFusion, rgb_to_ycbcr, ycbcr_to_rgb


def frames(t=3, h=37, w=53, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (t, h, w, 1), dtype=np.uint8), rng.integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def test_ycbcr_roundtrip_is_within_one_level():
    _, vi = frames()
    assert np.abs(ycbcr_to_rgb(rgb_to_ycbcr(vi)).astype(int) - vi).max() <= 1


@pytest.mark.parametrize("name", ["average", "max", "laplacian"])
def test_classical_methods_implement_the_interface(name):
    m = load_method(name)
    assert isinstance(m, FusionMethod) and m.temporal_radius == 0
    ir, vi = frames()
    out = m.fuse(ir, vi)
    assert out.shape == vi.shape and out.dtype == np.uint8


def test_average_and_max_rules_on_luminance():
    ir = np.full((1, 4, 4, 1), 200, np.uint8)
    vi = np.full((1, 4, 4, 3), 100, np.uint8)  # grey: Y = 100, chroma neutral
    assert np.all(ClassicalFusion("average").fuse(ir, vi) == 150)
    assert np.all(ClassicalFusion("max").fuse(ir, vi) == 200)


def test_laplacian_keeps_strong_detail_from_either_source():
    ir = np.zeros((1, 64, 64, 1), np.uint8)
    ir[0, 20:40, 20:40] = 255  # a hot square
    vi = np.full((1, 64, 64, 3), 128, np.uint8)
    vi[0, :, ::4] = 60  # visible texture
    y = rgb_to_ycbcr(ClassicalFusion("laplacian").fuse(ir, vi)[0])[..., 0]
    assert y[30, 30] > y[5, 5] + 60  # the hot square is there
    assert np.std(y[50:60, 0:16]) > 10  # so is the texture


def test_unknown_method_is_a_clear_error():
    with pytest.raises(TemcocoError, match="unknown method"):
        load_method("nope")
