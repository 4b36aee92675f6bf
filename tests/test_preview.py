"""Per-frame series of a clip's preview: reduced to a bounded number of bins, spikes kept."""

import math

import pytest

from temcoco.preview import coarsen, reduce_series


def test_a_long_series_keeps_at_most_max_points_and_its_spikes():
    values = [1.0 + 0.001 * (t % 7) for t in range(108_000)]  # an hour at 30 fps
    values[54_321], values[99_999] = 40.0, -3.0  # one-frame spikes
    values[0] = None  # flowD has no value at frame 0
    s = reduce_series(values)
    assert s["frames"] == 108_000 and len(s["frame"]) == len(s["min"]) == len(s["mean"]) == len(s["max"]) == 1000
    assert s["frame"][:3] == [0, 108, 216] and s["frame"][-1] == 107_892
    assert max(s["max"]) == 40.0 and min(s["min"]) == -3.0
    spike = s["frame"].index(54_216)  # the bin holding frame 54,321
    assert s["max"][spike] == 40.0 and s["min"][spike] == 1.0
    assert s["mean"][spike] == pytest.approx((sum(values[54_216:54_324])) / 108, rel=1e-5)
    assert s["mean"][0] == pytest.approx(sum(values[1:108]) / 107, rel=1e-5)  # None is not a zero


def test_short_series_keep_every_frame_and_gaps():
    assert reduce_series([None, 2.0, math.nan, 4.0]) == {
        "frames": 4, "frame": [0, 1, 2, 3], "min": [None, 2.0, None, 4.0], "mean": [None, 2.0, None, 4.0],
        "max": [None, 2.0, None, 4.0]}
    assert reduce_series([]) == {"frames": 0, "frame": [], "min": [], "mean": [], "max": []}


def test_coarsening_keeps_exact_min_mean_max_over_each_new_bin():
    values = [float((t * 37) % 101) for t in range(1800)]
    s = coarsen(reduce_series(values, 1000), 60)
    assert len(s["frame"]) == 60 and s["frames"] == 1800
    for i, (start, stop) in enumerate(zip(s["frame"], [*s["frame"][1:], 1800])):
        assert 29 <= stop - start <= 31
        span = values[start:stop]
        assert (s["min"][i], s["max"][i]) == (min(span), max(span))
        assert s["mean"][i] == pytest.approx(sum(span) / len(span), rel=1e-5)
