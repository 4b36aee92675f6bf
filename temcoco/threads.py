"""Threads that overlap a clip's stages: decoding ahead of the caller, encoding and measuring behind it.

PyAV, OpenCV and torch release the GIL in their kernels, so a decoder, an encoder and the metric
suite on their own threads run beside the fusion loop. Queues are bounded: memory holds a few
chunks whatever the clip's length. A thread's error is raised in the caller.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

_END = object()


class _Cancelled(Exception):
    """What a cancelled consumer's thread sees instead of its remaining items."""


def threaded(items: Iterator, depth: int) -> Iterator:
    """Run the iterator ``items`` in a thread, ``depth`` items ahead; re-raise its errors here.

    Closing the returned iterator early (its consumer failed or stopped) stops the thread and closes
    ``items``: a long-lived worker keeps no decoder blocked on a queue nobody reads."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                q.put(item)
                if stop.is_set():
                    return
            q.put(_END)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            q.put(e)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="decoder", daemon=True)
    thread.start()
    try:
        while (item := q.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock its put; it sees ``stop`` after it
            with contextlib.suppress(queue.Empty):
                q.get_nowait()
            thread.join(0.01)


class Consumer:
    """``consume(item)`` for each item :meth:`put`, in order, on a thread of its own, at most ``depth``
    items waiting. :meth:`close` waits for the last one; the thread's first error is raised by the next
    :meth:`put` or by :meth:`close` (items put after it are dropped). As a context manager it closes on
    success, and on an error drops what is left and lets the thread end.
    """

    def __init__(self, consume: Callable[[Any], None], depth: int = 1, name: str = "temcoco-consumer") -> None:
        self._consume = consume
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not _END:
            if self._error is None:
                try:
                    self._consume(item)
                except BaseException as e:  # noqa: BLE001 - raised in the caller
                    self._error = e

    def put(self, item: Any) -> None:
        self._raise()
        self._queue.put(item)

    def close(self) -> None:
        """Wait until every item put is consumed; raise the thread's error, if any."""
        self._join()
        self._raise()

    def cancel(self) -> None:
        """Drop the items not consumed yet and let the thread end (its error, if any, is not raised)."""
        self._error = self._error or _Cancelled()
        self._join()

    def _join(self) -> None:
        """End the thread once the items put before are consumed (or dropped)."""
        if self._thread.is_alive():
            self._queue.put(_END)
            self._thread.join()

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, error_type, error, traceback) -> None:
        if error_type is None:
            self.close()
        else:
            self.cancel()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error
