"""Leases on job ids: at most one live run per job id under an OUT.

A run writes ``OUT/jobs/<id>.lease`` (owner, host, pid, expiry) and renews it every
:data:`HEARTBEAT` seconds; a lease counts as held until it expires (:data:`TTL`), or at once
when its host is this machine and its process is gone. So a killed run can be resumed right
away on the same machine, and after :data:`TTL` seconds from anywhere.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid

from temcoco.errors import TemcocoError
from temcoco.storage.fs import filesystem, read_json, write_json
from temcoco.storage.layout import job_lease

TTL = 60.0
HEARTBEAT = 10.0
SETTLE = 0.3  # seconds between writing a lease and checking that no other run overwrote it


def is_live(lease: dict | None, now: float | None = None) -> bool:
    """Whether ``lease`` (the JSON of a lease file) is held by a running run."""
    if not lease:
        return False
    if (now or time.time()) > float(lease.get("expires", 0)):
        return False
    if lease.get("host") == socket.gethostname():
        try:
            os.kill(int(lease["pid"]), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
    return True


def is_held(out: str, job_id: str, storage_options: dict | None = None) -> bool:
    return is_live(read_json(job_lease(out, job_id), storage_options))


class JobLease:
    """A context manager that holds the lease of ``job_id`` under ``out`` while the run lasts."""

    def __init__(self, out: str, job_id: str, storage_options: dict | None = None) -> None:
        self.url, self.job_id, self.storage_options = job_lease(out, job_id), job_id, storage_options
        self.record = {"owner": uuid.uuid4().hex, "host": socket.gethostname(), "pid": os.getpid()}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _write(self) -> None:
        write_json(self.url, {**self.record, "expires": time.time() + TTL}, self.storage_options)

    def _holder(self) -> dict | None:
        return read_json(self.url, self.storage_options)

    def __enter__(self) -> "JobLease":
        current = self._holder()
        if is_live(current):
            raise TemcocoError(f"job {self.job_id} is running (host {current['host']}, pid {current['pid']}): "
                               "wait for it to end, or use another --job-id")
        self._write()
        time.sleep(SETTLE)
        if (self._holder() or {}).get("owner") != self.record["owner"]:
            raise TemcocoError(f"job {self.job_id} was started by another run at the same moment: use another --job-id")
        self._thread = threading.Thread(target=self._renew, name=f"lease {self.job_id}", daemon=True)
        self._thread.start()
        return self

    def _renew(self) -> None:
        while not self._stop.wait(HEARTBEAT):
            try:
                self._write()
            except Exception:  # noqa: BLE001 - a missed renewal is retried; the lease lasts TTL
                pass

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        if (self._holder() or {}).get("owner") == self.record["owner"]:
            fs, path = filesystem(self.url, self.storage_options)
            fs.rm_file(path)
