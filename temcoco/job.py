"""The archive-fusion job: every setting, built once (by ``submit`` or ``schedule``) and passed
as one frozen object to the flow and from it to each actor."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from temcoco.device import DEVICES
from temcoco.errors import TemcocoError
from temcoco.metrics.policy import MetricPolicy
from temcoco.model.registry import METHODS, is_method
from temcoco.storage.fs import environment_storage_options
from temcoco.storage.keys import check_job_id
from temcoco.storage.video import DEFAULT_MAX_PIXELS


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
    incremental: bool = False  # skip clips fused by an earlier job with the same inputs and model
    redo: bool = False  # a reused job id: do every clip again (default: keep the clips it already finished)
    verify_content: bool = False  # inputs identified by their bytes' hash, not by their listing (size, ETag/mtime)
    device: str = "auto"
    keep_staging: bool = False  # keep the staged inputs of failed clips (for debugging)
    allow_sources: tuple[str, ...] = ()  # prefixes beyond the archive's store that manifest sources may name
    max_retries: int = 3  # a stage that raises or kills its worker is retried at most this often
    max_pixels: int = DEFAULT_MAX_PIXELS  # larger frames are refused before they are decoded
    metrics: MetricPolicy = MetricPolicy()  # which frames are scored (--metrics, --metric-stride)

    @property
    def storage_options(self) -> dict:
        """fsspec options: from this process's environment (``--storage-options`` sets it), never a field,
        so they stay out of Prefect parameters, Ray task arguments, summaries and logs."""
        return environment_storage_options()

    def __post_init__(self) -> None:
        for name in ("chunk", "workers", "cpus_per_worker", "max_pixels"):
            if getattr(self, name) < 1:
                raise TemcocoError(f"--{name.replace('_', '-')} must be at least 1")
        if self.max_retries < 0:
            raise TemcocoError("--max-retries must be at least 0")
        if not is_method(self.method):
            raise TemcocoError(f"unknown method {self.method!r}: choose one of {', '.join(METHODS)} "
                               "or give package.module:factory")
        if self.device not in DEVICES:
            raise TemcocoError(f"unknown device {self.device!r}: choose {', '.join(DEVICES)}")
        if self.job_id is not None:
            check_job_id(self.job_id)


def new_job_id() -> str:
    """UTC time and 6 random hex digits, e.g. ``20261129T020000Z-3fa2c1``."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
