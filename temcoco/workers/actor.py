"""The fusion actor: holds one loaded fusion method and runs clip stages on request."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from temcoco.job import JobConfig
from temcoco.model.base import FusionMethod
from temcoco.overlap import ChunkSpec
from temcoco.storage.layout import ClipLayout
from temcoco.workers import clip
from temcoco.workers.fuse_chunk import fuse_chunk
from temcoco.workers.ingest import Ingested, Limits


@dataclass(frozen=True)
class MethodInfo:
    """The fusion method an actor loaded."""

    name: str
    version: str  # the metrics table's model_version
    temporal_radius: int


def memory_share(cpus: int) -> int:
    """This actor's share of its node's memory: total memory x its CPUs / the node's CPUs (bytes)."""
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return total * min(cpus, os.cpu_count() or 1) // (os.cpu_count() or 1)


class FusionWorker:
    """Runs the stages of clips (:mod:`temcoco.workers.clip`, :mod:`temcoco.workers.fuse_chunk`), wrapped by
    ``ray.remote`` in the pool.

    ``device`` is the torch device the pool chose for this actor's resources. Each actor sets
    torch's thread count to the CPUs it was given, so N actors on N cores do not oversubscribe
    the machine.
    """

    def __init__(self, job: JobConfig, device: str) -> None:
        import cv2
        import torch

        from temcoco.allocator import keep_freed_memory
        from temcoco.model.registry import load_method

        keep_freed_memory()
        torch.set_num_threads(job.cpus_per_worker)
        cv2.setNumThreads(job.cpus_per_worker)
        self.job = job
        self.method: FusionMethod = load_method(job.method, job.weights, device)
        self.limits = Limits(job.max_pixels, memory_share(job.cpus_per_worker))

    def where(self) -> dict:
        """This actor's host, process and Ray node id (for tests and logs)."""
        import ray

        return {"host": socket.gethostname(), "pid": os.getpid(), "node_id": ray.get_runtime_context().get_node_id()}

    def describe(self) -> MethodInfo:
        m = self.method
        return MethodInfo(m.name, m.version, m.temporal_radius)

    def start(self, run: clip.ClipRun) -> clip.Started | clip.Done:
        return clip.start(run, self.job, self.method, self.limits)

    def fuse_chunk(self, layout: ClipLayout, spec: ChunkSpec, fingerprint: str) -> int:
        return fuse_chunk(layout, spec, fingerprint, self.method, self.job.storage_options)

    def finish(self, run: clip.ClipRun, ingested: Ingested) -> clip.Done:
        return clip.finish(run, ingested, self.job, self.method)
