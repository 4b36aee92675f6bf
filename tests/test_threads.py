"""Threads that overlap a clip's stages: errors reach the caller, and nothing is left running."""

from __future__ import annotations

import threading
import time

import pytest

from temcoco.threads import Consumer, threaded


def test_a_decoder_stopped_early_ends_its_thread_and_closes_its_source() -> None:
    closed = threading.Event()

    def endless():
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()

    before = threading.active_count()
    frames = threaded(endless(), depth=2)
    assert [next(frames), next(frames)] == [0, 1]
    frames.close()  # as when the fusion loop that reads it fails
    assert closed.wait(2) and threading.active_count() == before


def test_a_decoder_error_is_raised_in_the_caller() -> None:
    def broken():
        yield 1
        raise ValueError("truncated video")

    frames = threaded(broken(), depth=1)
    assert next(frames) == 1
    with pytest.raises(ValueError, match="truncated video"):
        next(frames)


def test_a_consumer_keeps_order_raises_its_error_and_cancels_cleanly() -> None:
    seen: list[int] = []
    with Consumer(seen.append, depth=1) as consumer:
        for n in range(5):
            consumer.put(n)
    assert seen == [0, 1, 2, 3, 4]

    def fail(n: int) -> None:
        raise OSError(f"disk full at {n}")

    consumer = Consumer(fail)
    consumer.put(0)
    with pytest.raises(OSError, match="disk full at 0"):
        time.sleep(0.05)
        consumer.put(1)  # the thread's error, raised by the next put
    consumer.cancel()

    before = threading.active_count()
    slow = Consumer(lambda n: time.sleep(0.01), depth=1)
    with pytest.raises(RuntimeError), slow:
        slow.put(0)
        raise RuntimeError("the producer failed")
    assert threading.active_count() == before  # its thread ended with the error
