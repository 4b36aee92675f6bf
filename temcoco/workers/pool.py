"""A pool of Ray fusion actors that many clip threads share.

Work is handed to an idle actor (each actor takes at most ``depth`` calls at once, so the
next call is queued when the current one finishes); actors are restarted by Ray when
their process dies, and the interrupted call is retried (all stages are idempotent).
"""

from __future__ import annotations

import logging
import os
import queue
from collections import Counter
from concurrent.futures import Future
from dataclasses import dataclass

import ray

from temcoco.errors import TemcocoError
from temcoco.workers.actor import FusionWorker, WorkerConfig


@dataclass(frozen=True)
class PoolConfig:
    workers: int = 1
    cpus_per_worker: int = 1
    ray_address: str | None = None


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


def actor_resources(cluster: dict[str, float], pool: PoolConfig, device: str = "auto") -> ActorResources:
    """The selection rule: one GPU per actor when the cluster has GPUs (and the user did not ask
    for the CPU), else CPU actors; each actor also takes ``cpus_per_worker`` CPUs.

    Raises TemcocoError when CPU actors cannot all fit, since Ray would wait for them forever.
    """
    gpus = 1 if cluster.get("GPU", 0) >= 1 and device != "cpu" else 0
    if device == "cuda" and not gpus:
        raise TemcocoError("--device cuda was asked for but the Ray cluster has no GPU")
    needed = pool.workers * pool.cpus_per_worker
    if not gpus and needed > cluster.get("CPU", 0):
        raise TemcocoError(f"--workers {pool.workers} x --cpus-per-worker {pool.cpus_per_worker} needs {needed} CPUs; "
                           f"the Ray cluster has {cluster.get('CPU', 0):g}")
    return ActorResources(pool.cpus_per_worker, gpus, "cuda" if gpus else "cpu")


class WorkerPool:
    """N :class:`FusionWorker` actors; ``call(name, *args)`` runs a method on the next idle one."""

    def __init__(self, pool: PoolConfig, worker: WorkerConfig, depth: int = 2) -> None:
        connect(pool.ray_address, pool.workers * pool.cpus_per_worker)
        resources = actor_resources(ray.cluster_resources(), pool, worker.device)
        actor_cls = ray.remote(FusionWorker).options(
            num_cpus=resources.num_cpus, num_gpus=resources.num_gpus, max_restarts=-1, max_task_retries=-1,
            runtime_env={"env_vars": forwarded_environment()},
        )
        config = WorkerConfig(worker.method, worker.weights, resources.device, pool.cpus_per_worker,
                              worker.storage_options)
        self.actors = [actor_cls.remote(config) for _ in range(pool.workers)]
        self._calls_done: Counter = Counter()
        self._idle: queue.Queue = queue.Queue()
        for _ in range(depth):
            for actor in self.actors:
                self._idle.put(actor)

    def call(self, name: str, *args) -> Future:
        """Run ``FusionWorker.<name>(*args)`` on an idle actor; blocks while all are busy."""
        actor = self._idle.get()
        future = getattr(actor, name).remote(*args).future()

        def done(f: Future) -> None:
            self._idle.put(actor)
            if not f.cancelled() and f.exception() is None:
                self._calls_done[(actor._actor_id.hex(), name)] += 1

        future.add_done_callback(done)
        return future

    def work_by_node(self) -> dict[str, dict[str, int]]:
        """Completed calls per Ray node and stage, e.g. {node_id: {"fuse_chunk": 12, ...}}."""
        nodes = {a._actor_id.hex(): w["node_id"] for a, w in zip(self.actors, self.where())}
        out: dict[str, dict[str, int]] = {}
        for (actor, name), n in sorted(self._calls_done.items()):
            stage = out.setdefault(nodes.get(actor, "unknown"), {})
            stage[name] = stage.get(name, 0) + n
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
