import numpy as np
import pytest

from temcoco.overlap import gather, plan_chunks, replicate_edges, stream_windows


def test_plan_covers_every_frame_once_and_aligns_to_chunks():
    specs = plan_chunks(23, 7, 3)
    assert [(s.start, s.stop) for s in specs] == [(0, 7), (7, 14), (14, 21), (21, 23)]
    assert all(s.start % 7 == 0 for s in specs)


def test_halo_is_replicated_at_true_ends_only():
    frames = np.arange(10)
    first, middle, last = plan_chunks(10, 4, 2)
    assert replicate_edges(frames[first.read_start:first.read_stop], first.pad).tolist() == [0, 0, 0, 1, 2, 3, 4, 5]
    assert replicate_edges(frames[middle.read_start:middle.read_stop], middle.pad).tolist() == [2, 3, 4, 5, 6, 7, 8, 9]
    assert replicate_edges(frames[last.read_start:last.read_stop], last.pad).tolist() == [6, 7, 8, 9, 9, 9]


@pytest.mark.parametrize("frames", [1, 2, 7, 20, 21])
@pytest.mark.parametrize("chunk", [1, 3, 7, 100])
@pytest.mark.parametrize("halo", [0, 1, 4])
def test_streamed_windows_equal_planned_windows(frames, chunk, halo):
    x = np.arange(frames)
    planned = [(s.start, s.stop, gather(lambda lo, hi: x[lo:hi], s).tolist()) for s in plan_chunks(frames, chunk, halo)]
    streamed = [(s.start, s.stop, w[0].tolist())
                for s, w in stream_windows(((np.array(i),) for i in range(frames)), chunk, halo)]
    assert streamed == planned


def test_streamed_windows_hold_bounded_frames():
    held = []

    def frames():
        for i in range(1000):
            held.append(i)
            yield (np.array(i),)

    consumed_at = []
    for spec, _ in stream_windows(frames(), 10, 2):
        consumed_at.append(len(held) - spec.start)
    assert max(consumed_at) <= 10 + 2 + 1


def test_bad_plan_arguments():
    with pytest.raises(ValueError):
        plan_chunks(10, 0, 1)
    with pytest.raises(ValueError):
        plan_chunks(10, 5, -1)
