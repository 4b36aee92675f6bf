"""The archive-fusion job: every setting, built once (by ``submit`` or ``schedule``) and passed
as one frozen object to the flow and from it to each actor."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field

from temcoco.device import DEVICES
from temcoco.errors import TemcocoError
from temcoco.model.registry import METHODS
from temcoco.storage.keys import check_job_id


@dataclass(frozen=True)
class JobConfig:
    """What defines an archive-fusion job (DESIGN.md 'Commands')."""

    archive: str  # local folder or s3:// URL with ir/ and vi/ or a manifest.csv
    out: str  # output root
    job_id: str | None = None  # None: a new id when the job starts (see new_job_id)
    method: str = "temcoco"
    weights: str | None = None  # network weights (.safetensors); None: the shipped ones
    workers: int = 1  # fusion actors
    cpus_per_worker: int = 1
    chunk: int = 64  # core frames per chunk, and zarr chunk length along time
    ray_address: str | None = None  # None: start a local Ray cluster
    incremental: bool = False  # skip clips fused before with the same inputs and model
    device: str = "auto"
    storage_options: dict = field(default_factory=dict)  # fsspec options
    keep_staging: bool = False  # keep the staged inputs of failed clips (for debugging)
    allow_sources: tuple[str, ...] = ()  # prefixes beyond the archive's store that manifest sources may name

    def __post_init__(self) -> None:
        for name in ("chunk", "workers", "cpus_per_worker"):
            if getattr(self, name) < 1:
                raise TemcocoError(f"--{name.replace('_', '-')} must be at least 1")
        if self.method not in METHODS:
            raise TemcocoError(f"unknown method {self.method!r}: choose one of {', '.join(METHODS)}")
        if self.device not in DEVICES:
            raise TemcocoError(f"unknown device {self.device!r}: choose {', '.join(DEVICES)}")
        if self.job_id is not None:
            check_job_id(self.job_id)


def new_job_id() -> str:
    """UTC time and 6 random hex digits, e.g. ``20261129T020000Z-3fa2c1``."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
