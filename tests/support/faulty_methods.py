"""Test-only fusion methods (``--method tests.support.faulty_methods:<factory>``) that misbehave on purpose."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import tempfile
from pathlib import Path

import numpy as np

from temcoco.model.classical import ClassicalFusion

POISON_LEVEL = 200  # a window brighter than this on average is the poison clip


class _Average:
    name, temporal_radius = "average", 0

    def __init__(self, version: str) -> None:
        self.version = version
        self._average = ClassicalFusion("average")

    def fuse(self, ir: np.ndarray, vi: np.ndarray, first: int = 0) -> np.ndarray:
        return self._average.fuse(ir, vi, first)


class KillOnBright(_Average):
    """Kills its own worker process (as the OOM killer would) on a bright clip; averages the rest."""

    def fuse(self, ir: np.ndarray, vi: np.ndarray, first: int = 0) -> np.ndarray:
        if vi.mean() > POISON_LEVEL:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().fuse(ir, vi, first)


class RaiseOnceAtFrame4(_Average):
    """Raises the first time any worker fuses the chunk starting at frame 4 of a given clip, then works."""

    def fuse(self, ir: np.ndarray, vi: np.ndarray, first: int = 0) -> np.ndarray:
        if first == 4:
            mark = Path(tempfile.gettempdir()) / f"temcoco-raise-once-{hashlib.sha1(vi.tobytes()).hexdigest()[:16]}"
            try:
                mark.touch(exist_ok=False)
            except FileExistsError:
                pass
            else:
                raise RuntimeError("injected failure at frame 4")
        return super().fuse(ir, vi, first)


class FailToStart:
    """A method whose loading fails (as a missing weights file on one node would)."""

    def __init__(self) -> None:
        raise FileNotFoundError("weights not found on this node")


def install_write_faults(plan: Path) -> None:
    """In this process, make atomic publications to URLs containing ``plan/part``'s text fail, once
    per file in ``plan/tokens`` (claimed by removing it, so the count holds across processes), and
    make storage retries not sleep."""
    import temcoco.report
    import temcoco.storage.fs as fs

    part, tokens = (plan / "part").read_text(), plan / "tokens"
    real = getattr(fs.open_atomic, "real", fs.open_atomic)

    @contextlib.contextmanager
    def open_atomic(url, storage_options=None):
        if part in url and _claim(tokens):
            raise fs.StorageError(f"cannot write {url}: injected failure")
        with real(url, storage_options) as f:
            yield f

    open_atomic.real = real
    for module in (fs, temcoco.report):
        module.open_atomic = open_atomic
    fs.time = type("NoSleep", (), {"sleep": staticmethod(lambda s: None)})


def _claim(tokens: Path) -> bool:
    for token in sorted(tokens.iterdir()):
        try:
            token.unlink()
            return True
        except FileNotFoundError:  # claimed by another process meanwhile
            continue
    return False


def failing_writes(weights=None, device="auto"):
    """Averages, in a worker whose storage writes fail as the plan folder ``weights`` says
    (see :func:`install_write_faults`)."""
    install_write_faults(Path(weights))
    return _Average("failing-writes-1")


def kill_on_bright(weights=None, device="auto"):
    return KillOnBright("kill-on-bright-1")


def raise_once_at_frame_4(weights=None, device="auto"):
    return RaiseOnceAtFrame4("raise-once-1")


def fail_to_start(weights=None, device="auto"):
    return FailToStart()
