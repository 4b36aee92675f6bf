"""A pool of Ray fusion actors, run by the driver's one loop.

Each stage is a typed method of :class:`WorkerPool` that queues a call with its continuations;
:meth:`WorkerPool.step` hands queued calls to idle actors and waits on them with ``ray.wait``.
Work is handed to an idle actor (one call at a time, so a worker that dies takes down only the call it was running);
actors are restarted by Ray when their process dies, and get work again only once they answer
(a call sent to a restarting actor would fail too, and be charged a death it did not cause). A
failed call is retried a bounded number of times (all stages are idempotent).

Secrets never travel: actors get no environment from the driver (a local cluster inherits
the driver's; a remote cluster's nodes use their own credentials, see the README).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ray
from ray.exceptions import RayActorError, RayError, RayTaskError

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
WAIT_AT_MOST = 1.0  # seconds a step waits for its calls before it looks at restart deadlines again


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


@dataclass(eq=False)
class Call:
    """One stage call: sent to idle actors until it succeeds or its tries are spent; then ``then`` gets
    its result, or ``fail`` the error that ended it (both run on the driver's loop, in :meth:`WorkerPool.step`)."""

    stage: str
    what: str  # what the stage does, for its error message: "fusing frames 0-63"
    send: Callable[[ray.actor.ActorHandle], ray.ObjectRef]
    then: Callable[[Any], None]
    fail: Callable[[Exception], None]
    tries: int = 0
    died: int = 0  # tries whose worker died
    last_error: str = ""


@dataclass(frozen=True)
class Probe:
    """A restarting actor being asked whether it is back (its ``describe``), until ``deadline``."""

    index: int
    deadline: float


class WorkerPool:
    """``job.workers`` :class:`FusionWorker` actors; each stage call runs on the next idle one.

    Every actor is placed and started before any work (one that cannot start is dropped, with
    its reason; none at all is a job-level error). A stage call that raises, or whose worker
    dies, is retried at most ``job.max_retries`` times with backoff (a TemcocoError, the clip's own
    problem, is not retried); then it fails with a ClipError that says what happened and where.
    An actor that dies is restarted by Ray; one that cannot start again is never fed work.

    The driver's one thread runs the pool: the stage methods queue calls and return at once,
    :meth:`step` sends them to idle actors and waits (``ray.wait``) for any call or restart probe
    to end, then runs the calls' continuations. No thread blocks in ``ray.get``.
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
        self.method = self._start()
        self._idle: deque[int] = deque(i for i in range(len(self.actors)) if i not in self._dead)
        self._queued: deque[Call] = deque()  # calls waiting for an idle actor
        self._later: list[tuple[float, int, Call | Probe]] = []  # (when, tiebreak, call to retry or actor to ask again)
        self._running: dict[ray.ObjectRef, tuple[int, Call]] = {}
        self._probes: dict[ray.ObjectRef, Probe] = {}
        self._tiebreak = itertools.count()

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

    def start(self, run: ClipRun, then: Callable[[Started | Done], None], fail: Callable[[Exception], None]) -> None:
        self._queued.append(Call("start", "fusing it", lambda a: a.start.remote(run), then, fail))

    def fuse_chunk(self, layout: ClipLayout, spec: ChunkSpec, fingerprint: str, then: Callable[[int], None],
                   fail: Callable[[Exception], None]) -> None:
        self._queued.append(Call("fuse_chunk", f"fusing frames {spec.start}-{spec.stop - 1}",
                                 lambda a: a.fuse_chunk.remote(layout, spec, fingerprint), then, fail))

    def finish(self, run: ClipRun, ingested: Ingested, then: Callable[[Done], None],
               fail: Callable[[Exception], None]) -> None:
        self._queued.append(Call("finish", "encoding and measuring it", lambda a: a.finish.remote(run, ingested),
                                 then, fail))

    def step(self) -> None:
        """Send queued calls to idle actors, wait for a call or probe to end (or the next retry to be due),
        and handle what ended: results and final errors go to the calls' continuations."""
        self._due()
        self._dispatch()
        refs = [*self._running, *self._probes]
        if not refs:
            time.sleep(max(0.0, self._later[0][0] - time.monotonic()) if self._later else 0.0)
            return
        wait = max(0.0, self._later[0][0] - time.monotonic()) if self._later else WAIT_AT_MOST
        ready, _ = ray.wait(refs, num_returns=1, timeout=wait)
        if ready:
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        for ref in ready:
            if ref in self._running:
                self._ended(ref, *self._running.pop(ref))
            else:
                self._probed(ref, self._probes.pop(ref))
        self._expire_probes()

    def _due(self) -> None:
        """Calls whose backoff is over are queued again; actors due to be asked whether they are back are asked."""
        now = time.monotonic()
        while self._later and self._later[0][0] <= now:
            _, _, item = heapq.heappop(self._later)
            if isinstance(item, Call):
                self._queued.append(item)
            else:
                self._probe(item)

    def _dispatch(self) -> None:
        while self._queued and self._idle:
            index, call = self._idle.popleft(), self._queued.popleft()
            self._running[call.send(self.actors[index])] = (index, call)
        if self._queued and len(self._dead) == len(self.actors):
            error = ClipError(f"no fusion worker is left: {next(iter(self._dead.values()))}")
            while self._queued:
                self._queued.popleft().fail(error)

    def _ended(self, ref: ray.ObjectRef, index: int, call: Call) -> None:
        """A call ended on actor ``index``: its result, or a retry, or its final error."""
        try:
            result = ray.get(ref)
        except RayActorError as e:
            call.died += 1
            call.last_error = "its worker died"
            if e.actor_init_failed:
                self._dead[index] = f"could not restart: {failure_line(e)}"
            else:
                self._probe(Probe(index, time.monotonic() + START_TIMEOUT))
            self._retry(call)
            return
        except Exception as e:  # noqa: BLE001 - a stage's own error
            self._idle.append(index)
            cause = getattr(e, "cause", None) or e
            if isinstance(cause, TemcocoError):  # the clip's problem: the same on every try
                call.fail(cause)
                return
            call.last_error = failure_line(cause)
            self._retry(call)
            return
        self._idle.append(index)
        self._calls_done[(index, call.stage)] += 1
        call.then(result)

    def _retry(self, call: Call) -> None:
        call.tries += 1
        if call.tries <= self.max_retries:
            when = time.monotonic() + RETRY_BACKOFF * 2 ** (call.tries - 1)
            heapq.heappush(self._later, (when, next(self._tiebreak), call))
        elif call.died == call.tries:
            call.fail(ClipError(f"worker died {call.died} times {call.what} (out of memory?)"))
        else:
            call.fail(ClipError(f"{call.what} failed {call.tries} times, last: {call.last_error}"))

    def _probe(self, probe: Probe) -> None:
        """Ask the actor, restarted by Ray, whether it is back; it gets work once it answers."""
        self._probes[self.actors[probe.index].describe.remote()] = probe

    def _probed(self, ref: ray.ObjectRef, probe: Probe) -> None:
        try:
            ray.get(ref)
        except RayActorError as e:  # still restarting ("unavailable"), or it cannot start again
            if e.actor_init_failed:
                self._dead[probe.index] = f"could not restart: {failure_line(e)}"
            else:
                heapq.heappush(self._later, (time.monotonic() + RESTART_POLL, next(self._tiebreak), probe))
            return
        self._idle.append(probe.index)

    def _expire_probes(self) -> None:
        """An actor not back by its probe's deadline gets no more work."""
        now = time.monotonic()
        for ref, probe in list(self._probes.items()):
            if now >= probe.deadline:
                del self._probes[ref]
                self._dead[probe.index] = f"not restarted within {START_TIMEOUT:.0f} s"

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
