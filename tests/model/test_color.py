"""The differentiable YCbCr conversion is the classical methods' (numpy) one, and inverts."""

from __future__ import annotations

import numpy as np
import torch

from temcoco.model.classical import rgb_to_ycbcr as np_rgb_to_ycbcr
from temcoco.model.color import rgb_to_ycbcr, ycbcr_to_rgb


def test_color_roundtrip_matches_classical():
    rgb8 = torch.randint(0, 256, (2, 3, 5, 7), dtype=torch.uint8)
    rgb = rgb8.float() / 255
    ycc = rgb_to_ycbcr(rgb)
    ref = np_rgb_to_ycbcr(rgb8.permute(0, 2, 3, 1).numpy())
    np.testing.assert_allclose(ycc.permute(0, 2, 3, 1).numpy() * 255, ref, atol=1e-3)
    torch.testing.assert_close(ycbcr_to_rgb(ycc), rgb, atol=2e-3, rtol=0)
