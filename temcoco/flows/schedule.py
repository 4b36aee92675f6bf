"""Nightly runs: a Prefect deployment of ``fuse_archive`` with ``incremental=True`` on a cron schedule."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, replace

from temcoco.errors import TemcocoError
from temcoco.flows.fuse_archive import fuse_archive
from temcoco.job import JobConfig


def nightly_deployment(job: JobConfig, cron: str):
    """A served deployment that runs ``job`` incrementally on ``cron`` (each run gets a new job id).

    At most one run at a time: a firing while the previous run still goes is cancelled (the next
    firing fuses what it left), so slow nights never pile up runs over the same archive."""
    from prefect.client.schemas.objects import (
        ConcurrencyLimitConfig,
        ConcurrencyLimitStrategy,
    )
    from prefect.schedules import Cron

    if job.job_id:
        raise TemcocoError("--job-id cannot be scheduled: every nightly run gets a new job id")
    try:
        schedule = Cron(cron, timezone="UTC")
    except ValueError as e:
        raise TemcocoError(f"invalid --cron {cron!r}: {e}") from e
    name = "nightly-" + hashlib.sha1(f"{job.archive}\0{job.out}".encode()).hexdigest()[:10]
    return fuse_archive.to_deployment(
        name=name, schedule=schedule, description=f"incremental fusion of {job.archive} into {job.out}",
        parameters={"job": asdict(replace(job, incremental=True))},
        concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW),
    )


def serve(deployment) -> None:
    """Serve until interrupted: Prefect starts a run at each scheduled time."""
    from prefect import serve as prefect_serve

    prefect_serve(deployment)
