"""Progress events from a running job, for whoever shows them (the CLI's live display)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class JobProgress:
    """Counters updated by the flow's threads; read by a display. Thread-safe."""

    clips_total: int = 0
    clips_done: int = 0
    chunks_total: int = 0
    chunks_done: int = 0
    frames_fused: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)


_current = JobProgress()


def current() -> JobProgress:
    return _current


def reset() -> JobProgress:
    """A fresh progress record for a new job."""
    global _current
    _current = JobProgress()
    return _current
