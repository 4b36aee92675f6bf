"""Nightly runs: a Prefect deployment of ``fuse_archive`` with ``incremental=True`` on a cron schedule."""

from __future__ import annotations

import hashlib

from temcoco.errors import TemcocoError
from temcoco.flows.fuse_archive import fuse_archive


def nightly_deployment(archive: str, out: str, cron: str, method: str = "temcoco", workers: int = 1,
                       cpus_per_worker: int = 1, chunk: int = 64, ray_address: str | None = None):
    """A served deployment that runs ``submit --incremental`` of ``archive`` into ``out`` on ``cron``."""
    from prefect.schedules import Cron

    try:
        schedule = Cron(cron, timezone="UTC")
    except ValueError as e:
        raise TemcocoError(f"invalid --cron {cron!r}: {e}") from e
    name = "nightly-" + hashlib.sha1(f"{archive}\0{out}".encode()).hexdigest()[:10]
    return fuse_archive.to_deployment(
        name=name, schedule=schedule, description=f"incremental fusion of {archive} into {out}",
        parameters={"archive": archive, "out": out, "method": method, "workers": workers,
                    "cpus_per_worker": cpus_per_worker, "chunk": chunk, "ray_address": ray_address,
                    "incremental": True},
    )


def serve(deployment) -> None:
    """Serve until interrupted: Prefect starts a run at each scheduled time."""
    from prefect import serve as prefect_serve

    prefect_serve(deployment)
