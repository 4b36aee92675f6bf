"""The archive-fusion job: every setting, built once (by ``submit`` or ``schedule``) and passed
as one frozen object to the flow and from it to each actor."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field

from temcoco.device import DEVICES, check_device
from temcoco.metrics.policy import MetricPolicy
from temcoco.model.registry import METHODS, check_method
from temcoco.options import check_minimums, option
from temcoco.storage.fs import environment_storage_options
from temcoco.storage.keys import check_job_id
from temcoco.storage.video import DEFAULT_MAX_PIXELS


@dataclass(frozen=True)
class JobConfig:
    """What defines an archive-fusion job (DESIGN.md 'Commands'); each field's metadata is its
    option of ``submit`` and ``schedule`` (:mod:`temcoco.options`), its default the option's."""

    archive: str = field(metadata=option("archive with ir/ and vi/ or a manifest.csv (local path or s3://)",
                                         argument=True))
    out: str = field(metadata=option("output location (local path or s3://)", "--out"))
    job_id: str | None = field(  # None: a new id when the job starts (see new_job_id)
        default=None, metadata=option("job id (default: time + random); reuse one to resume"))
    method: str = field(default="temcoco", metadata=option(f"fusion method: {', '.join(METHODS)}", "--method", "-m"))
    weights: str | None = field(  # None: the shipped ones
        default=None, metadata=option("network weights (.safetensors)"))
    workers: int = field(default=1, metadata=option("fusion actors", min=1))
    cpus_per_worker: int = field(default=1, metadata=option("CPU cores per actor", min=1))
    chunk: int = field(default=64, metadata=option("core frames per chunk (and zarr chunk)", min=1))
    ray_address: str | None = field(default=None, metadata=option("existing Ray cluster (default: start a local one)"))
    incremental: bool = field(default=False, metadata=option("skip clips an earlier job fused with the same inputs "
                                                             "and model"))
    redo: bool = field(default=False, metadata=option("with a reused --job-id: do every clip again "
                                                      "(default: keep the clips the job already finished)", "--redo"))
    verify_content: bool = field(default=False, metadata=option("identify inputs by hashing their bytes (default: size "
                                                                "and ETag or mtime from the listing)", "--verify-content"))
    device: str = field(default="auto", metadata=option(f"{', '.join(DEVICES[:-1])} or {DEVICES[-1]}"))
    keep_staging: bool = field(default=False, metadata=option("keep the staged inputs of failed clips"))
    allow_sources: tuple[str, ...] = field(default=(), metadata=option(
        "a prefix (bucket or folder) beyond the archive's store that manifest sources may name; repeatable",
        "--allow-source"))
    max_retries: int = field(default=3, metadata=option("retries of a stage that fails or kills its worker", min=0))
    max_pixels: int = field(  # larger frames are refused before they are decoded
        default=DEFAULT_MAX_PIXELS, metadata=option("largest frame (width x height) accepted", min=1))
    metrics: MetricPolicy = MetricPolicy()  # which frames are scored: its own fields are the options

    @property
    def storage_options(self) -> dict:
        """fsspec options: from this process's environment (``--storage-options`` sets it), never a field,
        so they stay out of Prefect parameters, Ray task arguments, summaries and logs."""
        return environment_storage_options()

    def __post_init__(self) -> None:
        check_minimums(self)
        check_method(self.method)
        check_device(self.device)
        if self.job_id is not None:
            check_job_id(self.job_id)


def new_job_id() -> str:
    """UTC time and 6 random hex digits, e.g. ``20261129T020000Z-3fa2c1``."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
