"""The fusion actor: holds one loaded fusion method and runs clip stages on request."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

from temcoco.model.base import FusionMethod
from temcoco.storage.archive import ClipSource
from temcoco.storage.chunks import ChunkSpec
from temcoco.storage.layout import ClipLayout
from temcoco.workers import stages


@dataclass(frozen=True)
class WorkerConfig:
    """What every actor of a job needs to know."""

    method: str = "temcoco"
    weights: str | None = None
    device: str = "auto"
    threads: int = 1
    storage_options: dict = field(default_factory=dict)


class FusionWorker:
    """Runs the stages of :mod:`temcoco.workers.stages` (wrapped by ``ray.remote`` in the pool).

    Each actor sets torch's thread count to the CPUs it was given, so N actors on N cores do
    not oversubscribe the machine.
    """

    def __init__(self, config: WorkerConfig) -> None:
        import cv2
        import torch

        from temcoco.model.registry import load_method

        torch.set_num_threads(config.threads)
        cv2.setNumThreads(config.threads)
        self.config = config
        self.method: FusionMethod = load_method(config.method, config.weights, config.device)

    def where(self) -> dict:
        """This actor's host, process and Ray node id (for tests and logs)."""
        import ray

        return {"host": socket.gethostname(), "pid": os.getpid(), "node_id": ray.get_runtime_context().get_node_id()}

    def describe(self) -> dict:
        """The loaded method: name, version and temporal radius."""
        m = self.method
        return {"method": m.name, "model_version": m.version, "temporal_radius": m.temporal_radius}

    def fingerprint(self, source: ClipSource) -> str:
        return stages.fingerprint(source, self.config.storage_options)

    def ingest(self, source: ClipSource, layout: ClipLayout, fingerprint: str, chunk: int) -> stages.Ingested:
        return stages.ingest(source, layout, fingerprint, chunk, self.config.storage_options)

    def fuse_chunk(self, layout: ClipLayout, spec: ChunkSpec) -> int:
        return stages.fuse_chunk(layout, spec, self.method, self.config.storage_options)

    def finish(self, layout: ClipLayout, ingested: stages.Ingested) -> dict:
        return stages.finish(layout, ingested, self.config.storage_options)
