"""Layers both networks use: the deformable convolution and the padding to a multiple."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from temcoco.model.layers import DeformConv, pad_to_multiple


def test_deform_conv_with_zero_offsets_is_a_conv():
    torch.manual_seed(0)
    x = torch.rand(2, 16, 9, 11)
    dense, grouped = DeformConv(16), DeformConv(16, group_width=8, bias=False)
    torch.nn.init.normal_(dense.bias)
    assert set(dense.state_dict()) == {"weight", "bias"} and set(grouped.state_dict()) == {"weight"}
    assert grouped.weight.shape == (16, 8, 3, 3)
    zero = torch.zeros(2, 18, 9, 11)  # one offset group
    torch.testing.assert_close(dense(x, zero), F.conv2d(x, dense.weight, dense.bias, padding=1))
    torch.testing.assert_close(grouped(x, zero.repeat(1, 8, 1, 1)), F.conv2d(x, grouped.weight, padding=1, groups=2))


def test_deform_conv_follows_its_offsets():
    """An offset of one pixel to the right everywhere samples the input shifted by one column."""
    torch.manual_seed(1)
    conv, x = DeformConv(4, bias=False), torch.rand(1, 4, 8, 8)
    offset = torch.zeros(1, 18, 8, 8)
    offset[:, 1::2] = 1.0  # (dy, dx) pairs: dx = 1
    shifted = F.pad(x[..., 1:], (0, 1))
    # (the first column differs: the conv pads with zeros where the shifted taps still see column 0)
    torch.testing.assert_close(conv(x, offset)[..., 1:], F.conv2d(shifted, conv.weight, padding=1)[..., 1:])


def test_pad_to_multiple_reflects_or_replicates_any_leading_dims():
    x = torch.arange(2 * 3 * 5 * 6, dtype=torch.float32).view(2, 3, 1, 5, 6)
    padded = pad_to_multiple(x, 4)
    assert padded.shape == (2, 3, 1, 8, 8)
    torch.testing.assert_close(padded[..., :5, :6], x)
    torch.testing.assert_close(padded[..., 5, :6], x[..., 3, :])  # reflected about the last row
    small = torch.rand(1, 1, 2, 2)
    assert torch.equal(pad_to_multiple(small, 4)[..., 3, 3], small[..., 1, 1])  # too small to reflect: replicated
    whole = x[..., :4, :4]
    assert pad_to_multiple(whole, 4) is whole  # already a multiple: untouched
