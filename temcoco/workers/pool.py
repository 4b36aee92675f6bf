"""A pool of Ray fusion actors that many clip threads share.

Each stage is a typed method of :class:`WorkerPool` returning a future. Work is handed to an
idle actor (one call at a time, so a worker that dies takes down only the call it was running);
actors are restarted by Ray when their process dies, and get work again only once they answer
(a call sent to a restarting actor would fail too, and be charged a death it did not cause). A
failed call is retried a bounded number of times (all stages are idempotent).

Secrets never travel: actors get no environment from the driver (a local cluster inherits
the driver's; a remote cluster's nodes use their own credentials, see the README).
"""

from __future__ import annotations

import logging
import os
import queue
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayError, RayTaskError

from temcoco.errors import ClipError, TemcocoError
from temcoco.job import JobConfig
from temcoco.overlap import ChunkSpec
from temcoco.storage.layout import ClipLayout
from temcoco.workers.actor import FusionWorker, MethodInfo
from temcoco.workers.clip import ClipRun, Done, Started
from temcoco.workers.ingest import Ingested

log = logging.getLogger(__name__)

START_TIMEOUT = 300.0  # seconds for every actor to be placed and load its method
RESTART_POLL = 0.2  # seconds between asking a restarting actor whether it is back
RETRY_BACKOFF = 1.0  # seconds before the first retry of a stage; doubled for each further one


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


@dataclass(frozen=True)
class ActorResources:
    """What each fusion actor asks Ray for, and the torch device it then uses."""

    num_cpus: int
    num_gpus: int
    device: str


def actor_resources(cluster: dict[str, float], job: JobConfig) -> ActorResources:
    """The selection rule: one GPU per actor when the cluster has GPUs (and the user did not ask
    for the CPU), else CPU actors; each actor also takes ``cpus_per_worker`` CPUs.

    Raises TemcocoError when the actors cannot all be placed, since Ray would wait for them forever.
    """
    gpus = 1 if cluster.get("GPU", 0) >= 1 and job.device != "cpu" else 0
    if job.device == "cuda" and not gpus:
        raise TemcocoError("--device cuda was asked for but the Ray cluster has no GPU")
    if gpus and job.workers > cluster["GPU"]:
        raise TemcocoError(f"--workers {job.workers} needs {job.workers} GPUs (one per actor); the Ray cluster has "
                           f"{cluster['GPU']:g}: use --workers {int(cluster['GPU'])}, or --device cpu")
    needed = job.workers * job.cpus_per_worker
    if not gpus and needed > cluster.get("CPU", 0):
        raise TemcocoError(f"--workers {job.workers} x --cpus-per-worker {job.cpus_per_worker} needs {needed} CPUs; "
                           f"the Ray cluster has {cluster.get('CPU', 0):g}")
    return ActorResources(job.cpus_per_worker, gpus, "cuda" if gpus else "cpu")


class WorkerPool:
    """``job.workers`` :class:`FusionWorker` actors; each stage method runs on the next idle one.

    Every actor is placed and started before any work (one that cannot start is dropped, with
    its reason; none at all is a job-level error). A stage call that raises, or whose worker
    dies, is retried at most ``job.max_retries`` times with backoff (a ClipError, the clip's own
    problem, is not retried); then it fails with a ClipError that says what happened and where.
    An actor that dies is restarted by Ray; one that cannot start again is never fed work.
    """

    def __init__(self, job: JobConfig) -> None:
        connect(job.ray_address, job.workers * job.cpus_per_worker)
        resources = actor_resources(ray.cluster_resources(), job)
        actor_cls = ray.remote(FusionWorker).options(
            num_cpus=resources.num_cpus, num_gpus=resources.num_gpus, max_restarts=-1, max_task_retries=0,
        )
        self.actors = [actor_cls.remote(job, resources.device) for _ in range(job.workers)]
        self.max_retries = job.max_retries
        self._dead: dict[int, str] = {}  # actor index -> why it gets no work
        self._calls_done: Counter = Counter()  # (actor index, stage) -> completed calls
        self._idle: queue.Queue[int] = queue.Queue()
        self.method = self._start()
        for index in range(len(self.actors)):
            if index not in self._dead:
                self._idle.put(index)
        self._executor = ThreadPoolExecutor(len(self.actors), thread_name_prefix="stage")

    def _start(self) -> MethodInfo:
        """Wait until every actor is placed and constructed; drop those that cannot be; the loaded method."""
        refs = [a.describe.remote() for a in self.actors]
        _, pending = ray.wait(refs, num_returns=len(refs), timeout=START_TIMEOUT)
        infos = {}
        for index, ref in enumerate(refs):
            if ref in pending:
                self._dead[index] = f"not placed on the Ray cluster within {START_TIMEOUT:.0f} s"
                ray.kill(self.actors[index])
                continue
            try:
                infos[index] = ray.get(ref)
            except (RayActorError, RayTaskError) as e:
                self._dead[index] = f"could not start: {failure_line(e)}"
        for index, why in self._dead.items():
            log.warning("fusion worker %d gets no work: %s", index, why)
        if not infos:
            raise TemcocoError(f"no fusion worker could start: {next(iter(self._dead.values()))}")
        return next(iter(infos.values()))

    def start(self, run: ClipRun) -> Future[Started | Done]:
        return self._run("start", "fusing it", lambda a: a.start.remote(run))

    def fuse_chunk(self, layout: ClipLayout, spec: ChunkSpec, fingerprint: str) -> Future[int]:
        return self._run("fuse_chunk", f"fusing frames {spec.start}-{spec.stop - 1}",
                         lambda a: a.fuse_chunk.remote(layout, spec, fingerprint))

    def finish(self, run: ClipRun, ingested: Ingested) -> Future[Done]:
        return self._run("finish", "encoding and measuring it", lambda a: a.finish.remote(run, ingested))

    def _run(self, stage: str, what: str, call: Callable[[ray.actor.ActorHandle], ray.ObjectRef]) -> Future:
        """``call(actor)`` on idle actors, with retries (see the class doc); a future of its result."""
        return self._executor.submit(self._attempts, stage, what, call)

    def _attempts(self, stage: str, what: str, call: Callable[[ray.actor.ActorHandle], ray.ObjectRef]):
        died, failures = 0, []
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(RETRY_BACKOFF * 2 ** (attempt - 1))
            index = self._take()
            try:
                result = ray.get(call(self.actors[index]))
                self._calls_done[(index, stage)] += 1
                return result
            except RayActorError as e:
                died += 1
                failures.append("its worker died")
                if e.actor_init_failed:
                    self._dead[index] = f"could not restart: {failure_line(e)}"
                else:
                    self._await_restart(index)
            except Exception as e:  # noqa: BLE001 - a stage's own error
                cause = getattr(e, "cause", None) or e
                if isinstance(cause, TemcocoError):  # the clip's problem: the same on every try
                    raise cause from None
                failures.append(failure_line(cause))
            finally:
                if index not in self._dead:
                    self._idle.put(index)
        if died == len(failures):
            raise ClipError(f"worker died {died} times {what} (out of memory?)")
        raise ClipError(f"{what} failed {len(failures)} times, last: {failures[-1]}")

    def _await_restart(self, index: int) -> None:
        """Block until the actor at ``index``, restarted by Ray, answers; mark it dead if it cannot."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                ray.get(self.actors[index].describe.remote(), timeout=START_TIMEOUT)
                return
            except RayActorError as e:  # still restarting ("unavailable"), or it cannot start again
                if e.actor_init_failed:
                    self._dead[index] = f"could not restart: {failure_line(e)}"
                    return
                time.sleep(RESTART_POLL)
            except GetTimeoutError:
                break
        self._dead[index] = f"not restarted within {START_TIMEOUT:.0f} s"

    def _take(self) -> int:
        """An idle, live actor (blocks while all are busy); ClipError when none is left."""
        while len(self._dead) < len(self.actors):
            index = self._idle.get()
            if index not in self._dead:
                return index
        raise ClipError(f"no fusion worker is left: {next(iter(self._dead.values()))}")

    def work_by_node(self) -> dict[str, dict[str, int]]:
        """Completed calls per Ray node and stage, e.g. {node_id: {"fuse_chunk": 12, ...}}; actors that
        cannot answer count under "unknown"."""
        nodes = {}
        for index, actor in enumerate(self.actors):
            try:
                nodes[index] = ray.get(actor.where.remote(), timeout=30)["node_id"]
            except (RayError, TimeoutError):
                nodes[index] = "unknown"
        out: dict[str, dict[str, int]] = {}
        for (index, stage), n in sorted(self._calls_done.items()):
            per_stage = out.setdefault(nodes[index], {})
            per_stage[stage] = per_stage.get(stage, 0) + n
        return out

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        for actor in self.actors:
            ray.kill(actor)

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()


def failure_line(error: BaseException) -> str:
    """One line saying what went wrong: the worker's own error, not Ray's wrapper and traceback."""
    cause = getattr(error, "cause", None)  # ray.exceptions.RayTaskError carries the actor's exception
    if isinstance(cause, BaseException):
        error = cause
    lines = str(error).strip().splitlines()
    if isinstance(error, RayActorError) and error.actor_init_failed and lines:
        return lines[-1]  # the constructor's own error, last line of the traceback Ray quotes
    message = lines[0] if lines else ""
    if isinstance(error, TemcocoError) and message:
        return message
    return f"{type(error).__name__}: {message}" if message else type(error).__name__
