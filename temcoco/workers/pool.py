"""A pool of Ray fusion actors that many clip threads share.

Each stage is a typed method of :class:`WorkerPool` returning a future. Work is handed to an
idle actor (each actor takes at most ``depth`` calls at once, so the next call is queued when
the current one finishes); actors are restarted by Ray when their process dies, and the
interrupted call is retried (all stages are idempotent).
"""

from __future__ import annotations

import logging
import os
import queue
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import ray

from temcoco.errors import TemcocoError
from temcoco.job import JobConfig
from temcoco.overlap import ChunkSpec
from temcoco.storage.archive import ClipSource
from temcoco.storage.layout import ClipLayout
from temcoco.workers.actor import FusionWorker, MethodInfo
from temcoco.workers.stages import Ingested


def connect(address: str | None, cpus_needed: int) -> None:
    """Connect to the Ray cluster at ``address``, or start a local one (reuse one already connected)."""
    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    try:
        quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
        if address:
            ray.init(address=address, **quiet)
        else:
            ray.init(num_cpus=max(os.cpu_count() or 1, cpus_needed), include_dashboard=False, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise TemcocoError(f"cannot connect to the Ray cluster at {address or 'local'}: {e}") from e


def forwarded_environment() -> dict[str, str]:
    """The driver's object-store settings (``AWS_*``), handed to actors so they reach the same storage."""
    return {k: v for k, v in os.environ.items() if k.startswith("AWS_")}


@dataclass(frozen=True)
class ActorResources:
    """What each fusion actor asks Ray for, and the torch device it then uses."""

    num_cpus: int
    num_gpus: int
    device: str


def actor_resources(cluster: dict[str, float], job: JobConfig) -> ActorResources:
    """The selection rule: one GPU per actor when the cluster has GPUs (and the user did not ask
    for the CPU), else CPU actors; each actor also takes ``cpus_per_worker`` CPUs.

    Raises TemcocoError when CPU actors cannot all fit, since Ray would wait for them forever.
    """
    gpus = 1 if cluster.get("GPU", 0) >= 1 and job.device != "cpu" else 0
    if job.device == "cuda" and not gpus:
        raise TemcocoError("--device cuda was asked for but the Ray cluster has no GPU")
    needed = job.workers * job.cpus_per_worker
    if not gpus and needed > cluster.get("CPU", 0):
        raise TemcocoError(f"--workers {job.workers} x --cpus-per-worker {job.cpus_per_worker} needs {needed} CPUs; "
                           f"the Ray cluster has {cluster.get('CPU', 0):g}")
    return ActorResources(job.cpus_per_worker, gpus, "cuda" if gpus else "cpu")


class WorkerPool:
    """``job.workers`` :class:`FusionWorker` actors; each stage method runs on the next idle one."""

    def __init__(self, job: JobConfig, depth: int = 2) -> None:
        connect(job.ray_address, job.workers * job.cpus_per_worker)
        resources = actor_resources(ray.cluster_resources(), job)
        actor_cls = ray.remote(FusionWorker).options(
            num_cpus=resources.num_cpus, num_gpus=resources.num_gpus, max_restarts=-1, max_task_retries=-1,
            runtime_env={"env_vars": forwarded_environment()},
        )
        self.actors = [actor_cls.remote(job, resources.device) for _ in range(job.workers)]
        self._calls_done: Counter = Counter()  # (actor index, stage) -> completed calls
        self._idle: queue.Queue[int] = queue.Queue()
        for _ in range(depth):
            for index in range(len(self.actors)):
                self._idle.put(index)

    def describe(self) -> Future[MethodInfo]:
        return self._run("describe", lambda a: a.describe.remote())

    def fingerprint(self, source: ClipSource) -> Future[str]:
        return self._run("fingerprint", lambda a: a.fingerprint.remote(source))

    def ingest(self, source: ClipSource, layout: ClipLayout, fingerprint: str) -> Future[Ingested]:
        return self._run("ingest", lambda a: a.ingest.remote(source, layout, fingerprint))

    def fuse_chunk(self, layout: ClipLayout, spec: ChunkSpec, fingerprint: str) -> Future[int]:
        return self._run("fuse_chunk", lambda a: a.fuse_chunk.remote(layout, spec, fingerprint))

    def finish(self, layout: ClipLayout, ingested: Ingested) -> Future[dict]:
        return self._run("finish", lambda a: a.finish.remote(layout, ingested))

    def _run(self, stage: str, call: Callable[[ray.actor.ActorHandle], ray.ObjectRef]) -> Future:
        """``call(actor)`` on an idle actor; blocks while all are busy."""
        index = self._idle.get()
        future = call(self.actors[index]).future()

        def done(f: Future) -> None:
            self._idle.put(index)
            if not f.cancelled() and f.exception() is None:
                self._calls_done[(index, stage)] += 1

        future.add_done_callback(done)
        return future

    def work_by_node(self) -> dict[str, dict[str, int]]:
        """Completed calls per Ray node and stage, e.g. {node_id: {"fuse_chunk": 12, ...}}."""
        nodes = [w["node_id"] for w in self.where()]
        out: dict[str, dict[str, int]] = {}
        for (index, stage), n in sorted(self._calls_done.items()):
            per_stage = out.setdefault(nodes[index], {})
            per_stage[stage] = per_stage.get(stage, 0) + n
        return out

    def where(self) -> list[dict]:
        return ray.get([a.where.remote() for a in self.actors])

    def shutdown(self) -> None:
        for actor in self.actors:
            ray.kill(actor)

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
