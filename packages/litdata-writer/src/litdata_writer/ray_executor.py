"""``executor="ray"``: the writer ranks of ``optimize()`` / ``map()`` as tasks on a Ray cluster.

The driver (the process that calls ``optimize``) plans the whole run as if it were one
node with ``num_nodes * num_workers`` writer ranks: the shares are exactly those of the
environment-variable launcher with the same ``num_nodes`` and ``num_workers``, so both
write the same chunks. The driver holds the output lock, starts one Ray task per busy
writer rank, shows progress, and merges and publishes ``index.json`` once every task has
stored its share. Nothing else of the writer runs on the driver.

Placement: one placement group of ``num_nodes`` bundles of ``num_workers`` CPUs each,
strategy ``SPREAD``. Rank ``r`` runs in bundle ``r // num_workers``, so the ranks of one
"node" share of the plan run together on one machine, and the bundles go to different
machines when the cluster has them (soft: a cluster with fewer, bigger machines still
runs the job). The group reserves the whole run's CPUs before any task starts, so a
rank never waits behind other work of the cluster halfway through a run, and a run that
cannot fit says so (``LITDATA_RAY_PLACEMENT_TIMEOUT``, default 600 s) instead of
hanging. Per-task ``SPREAD`` scheduling would also spread, but gives no reservation and
no grouping.

Failures: a task whose worker process or node dies is retried by Ray
(``LITDATA_RAY_MAX_RETRIES`` times, default 3; when a node is gone, its bundle is placed
again on a node with room). The retry is the same writer rank: it resumes from its
checkpoint in the output and writes the same deterministic chunk names, so its share is
stored once and listed once (``map`` reruns the rank's share; files named by ``fn`` are
simply rewritten). An exception raised by ``fn`` is not retried: the task returns the
failing input and its traceback, and the driver stops every other task and raises the
same :class:`WorkerError` as the local executor. Progress comes from a small actor on
the driver's node that the tasks report to, read without ever waiting for it (it starts
in a process of its own, which takes longer than a small run); a retried rank's count
starts over from its checkpoint. The last line counts what was stored (the ranks'
checkpoints; for ``map``, the shares of the ranks that returned), so it is exact.

Ray is imported only here and only when ``executor="ray"`` is asked for.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .heartbeat import seconds_from_env
from .output import make_staging_root, open_output, remove_staging_root
from .progress import Progress
from .rank_writer import RankJob, stored_progress
from .worker_processes import Job, Reporter, WorkerError
from .worker_processes import _failure as failure_from_report  # the local executor's message, reused

EXECUTORS = ("local", "ray")
INSTALL_HINT = "executor='ray' needs Ray: pip install 'litdata-writer[ray]' (or 'litdata[ray]')"
MAX_RETRIES_ENV = "LITDATA_RAY_MAX_RETRIES"
DEFAULT_MAX_RETRIES = 3
PLACEMENT_TIMEOUT_ENV = "LITDATA_RAY_PLACEMENT_TIMEOUT"
DEFAULT_PLACEMENT_TIMEOUT = 600.0
POLL_SECONDS = 0.2
NOT_STATIC = (
    "executor='ray' gives every writer rank a fixed share of a list of inputs; "
    "keep_data_ordered=False, queue= and data-loader inputs need executor='local'"
)


@dataclass(frozen=True)
class ClusterShape:
    """How the run is laid out on the cluster: ``num_nodes`` bundles of ``workers_per_node`` ranks."""

    num_nodes: int
    workers_per_node: int

    @property
    def world_size(self) -> int:
        """Writer ranks of the whole run: bundles times ranks per bundle."""
        return self.num_nodes * self.workers_per_node


def wants_ray(executor: str | None) -> bool:
    """Check ``executor`` ("local", the default, or "ray"); True for Ray (which must import)."""
    if executor is None or executor == "local":
        return False
    if executor != "ray":
        raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    import_ray()
    return True


def import_ray() -> Any:
    """The ``ray`` module, or an ImportError that says which extra to install."""
    try:
        import ray
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return ray


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def cluster_shape(num_nodes: int | None, num_workers: int | None) -> ClusterShape:
    """Connect to Ray (``ray.init()`` unless the caller did) and size the run.

    ``num_nodes`` defaults to the cluster's alive nodes that have CPUs and
    ``num_workers`` to the CPUs of the smallest of them (so one bundle fits on any).
    ``NUM_NODES`` / ``NODE_RANK`` are not read: the cluster, not the environment, says
    where the work runs.
    """
    ray = import_ray()
    if num_nodes is not None:
        _positive_int("num_nodes", num_nodes)
    if num_workers is not None:
        _positive_int("num_workers", num_workers)
    if not ray.is_initialized():
        ray.init()  # RAY_ADDRESS, else a running local cluster, else a new local one
    cpus = [int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")]
    cpus = [c for c in cpus if c > 0]
    if not cpus and (num_nodes is None or num_workers is None):
        raise RuntimeError("executor='ray': the Ray cluster has no alive node with CPUs to run writer ranks on")
    return ClusterShape(
        num_nodes=num_nodes if num_nodes is not None else len(cpus),
        workers_per_node=num_workers if num_workers is not None else min(cpus),
    )


def max_retries() -> int:
    """How often Ray retries the task of a lost rank (``LITDATA_RAY_MAX_RETRIES``, default 3)."""
    value = os.environ.get(MAX_RETRIES_ENV, "").strip()
    if not value:
        return DEFAULT_MAX_RETRIES
    if not value.isdigit():
        raise ValueError(f"environment variable {MAX_RETRIES_ENV}={value!r} must be a whole number >= 0")
    return int(value)


def check_static(ordered: bool) -> None:
    """Refuse a work-queue run: the Ray executor needs every rank's share fixed in advance."""
    if not ordered:
        raise ValueError(NOT_STATIC)


class RankProgress:
    """The counts of every rank's current attempt (a Ray actor on the driver's node)."""

    def __init__(self) -> None:
        self._ranks: dict[int, list[Any]] = {}
        self._retired: set[str] = set()

    def add(self, rank: int, attempt: str, inputs: int, items: int) -> None:
        """Count a report of ``rank``; a new ``attempt`` starts its counts over, a retired one is ignored."""
        if attempt in self._retired:  # a late report of an attempt that was retried since
            return
        entry = self._ranks.get(rank)
        if entry is None or entry[0] != attempt:  # a retry starts over (it re-reports its checkpoint)
            if entry is not None:
                self._retired.add(entry[0])
            entry = self._ranks[rank] = [attempt, 0, 0]
        entry[1] += inputs
        entry[2] += items

    def totals(self) -> tuple[int, int]:
        """Inputs and items reported so far, summed over the current attempts of all ranks."""
        return sum(e[1] for e in self._ranks.values()), sum(e[2] for e in self._ranks.values())


class _TaskChannel:
    """What a task's :class:`Reporter` writes to: progress goes to the actor, a failure is kept."""

    def __init__(self, counter: Any, rank: int) -> None:
        self._counter = counter
        self._rank = rank
        self._attempt = uuid.uuid4().hex
        self.error: dict[str, Any] | None = None
        self._last: Any = None

    def put(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "progress":
            self._last = self._counter.add.remote(self._rank, self._attempt, message[2], message[3])
        elif kind == "error":
            self.error = message[2]

    def drain(self, attempts: int = 20) -> None:
        """Wait until the actor took every report of this task (calls from one caller run in order).

        A task must not end with its calls to the actor still on their way: Ray's core
        worker can abort (``Tried to complete task that was not pending``) when their
        replies come back after the task is gone. Progress only: while a node leaves, the
        actor can be briefly unreachable (``ActorUnavailableError``); retry for a while,
        then let the work's result stand."""
        if self._last is None:
            return
        from ray.exceptions import RayError

        for _ in range(attempts):
            try:
                import_ray().get(self._last, timeout=10.0)
                return
            except (RayError, TimeoutError):
                time.sleep(0.5)


def stored_counts(payload: Any) -> tuple[int, int]:
    """Inputs and items an ``optimize`` rank's checkpoint says are stored (0, 0 for ``map``)."""
    if not isinstance(payload, RankJob):
        return 0, 0
    return stored_progress(open_output(payload.output_url, payload.storage_options), payload)


def run_rank(job: Job, counter: Any, baseline: tuple[int, int] = (0, 0)) -> dict[str, Any] | None:
    """Body of one Ray task: run the rank; return None, or the failure report of ``fn``.

    ``baseline``: what the rank's checkpoint held when the run started (the driver's
    progress starts from it). A retry resumes from a later checkpoint and reports only
    its new work, so it first reports what was stored since the run started.
    A cloud output is staged on the task's own machine (the driver's staging folder
    does not exist there).
    """
    channel = _TaskChannel(counter, job.rank)
    reporter = Reporter(channel, job.rank)
    stored = stored_counts(job.payload)
    channel.put(("progress", job.rank, stored[0] - baseline[0], stored[1] - baseline[1], None))
    payload = job.payload
    staging = None
    if getattr(payload, "staging_root", None) is not None:
        staging = make_staging_root(f"ray-rank-{job.rank}")
        payload = dataclasses.replace(payload, staging_root=staging)
    try:
        job.body(payload, reporter)
        reporter.flush()
    except Exception as exc:  # noqa: BLE001 - reported to the driver, which stops the run
        reporter.failed(exc)
        return channel.error
    finally:
        remove_staging_root(staging)
    channel.drain()
    return None


@functools.cache
def _remotes() -> tuple[Any, Any]:
    ray = import_ray()
    return ray.remote(run_rank), ray.remote(RankProgress)


def _driver_affinity(ray: Any) -> dict[str, Any]:
    """Keep the progress actor on the driver's node: a lost worker node must not take it along."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    try:
        node_id = ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001 - e.g. Ray Client: let Ray place it
        return {}
    return {"scheduling_strategy": NodeAffinitySchedulingStrategy(node_id=node_id, soft=True)}


def run_ray_jobs(
    jobs: Sequence[Job],
    *,
    shape: ClusterShape,
    make_progress: Callable[[], Progress],
    what: str = "optimize",
) -> None:
    """Run every job as a Ray task in its rank's bundle; return when all stored their share."""
    if not jobs:
        return
    ray = import_ray()
    from ray.util.placement_group import placement_group, remove_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    remote_rank, remote_progress = _remotes()
    retries = max_retries()
    group = placement_group([{"CPU": shape.workers_per_node}] * shape.num_nodes, strategy="SPREAD")
    counter = remote_progress.options(num_cpus=0, **_driver_affinity(ray)).remote()
    refs: dict[Any, int] = {}
    progress: Progress | None = None
    try:
        baselines = {job.rank: stored_counts(job.payload) for job in jobs}
        progress = make_progress()
        _wait_placed(ray, group, shape, progress, what)
        for job in jobs:
            strategy = PlacementGroupSchedulingStrategy(
                placement_group=group, placement_group_bundle_index=job.rank // shape.workers_per_node
            )
            ref = remote_rank.options(
                num_cpus=1,
                max_retries=retries,
                retry_exceptions=False,
                scheduling_strategy=strategy,
                name=f"litdata-{what}-rank-{job.rank}",
            ).remote(job, counter, baselines[job.rank])
            refs[ref] = job.rank
        shown = _supervise(ray, refs, counter, progress, what, retries)
        final = _final_totals(jobs, baselines, shown)
        progress.update(final[0] - shown[0], final[1] - shown[1])
        progress.close()
    finally:
        _cancel_unfinished(ray, list(refs))
        try:
            remove_placement_group(group)
            ray.kill(counter)
        except Exception:  # noqa: BLE001, S110 - the cluster may be gone
            pass
        if progress is not None:
            progress.abort()


def _cancel_unfinished(ray: Any, refs: list[Any]) -> None:
    """Stop the tasks still running (after a failure, or Ctrl-C); leave finished ones alone.

    Cancelling a task whose result is already in can abort the driver itself: Ray 2.60's
    core worker then gets the task's reply for a task it marked cancelled and dies on a
    failed check ("Tried to complete task that was not pending"), killing the calling
    process (seen in one run in five of the Ray tests)."""
    if not refs:
        return
    try:
        _, running = ray.wait(refs, num_returns=len(refs), timeout=0)
    except Exception:  # noqa: BLE001 - the cluster may be gone: nothing to stop
        return
    for ref in running:
        try:
            ray.cancel(ref, force=True)
        except Exception:  # noqa: BLE001, S110 - finished or gone meanwhile
            pass


def _wait_placed(ray: Any, group: Any, shape: ClusterShape, progress: Progress, what: str) -> None:
    timeout = seconds_from_env(PLACEMENT_TIMEOUT_ENV, DEFAULT_PLACEMENT_TIMEOUT)
    ready = group.ready()
    deadline = time.monotonic() + timeout
    while True:
        done, _ = ray.wait([ready], timeout=max(0.0, min(5.0, deadline - time.monotonic())))
        if done:
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"executor='ray': the cluster could not reserve {shape.num_nodes} x {shape.workers_per_node} CPUs "
                f"(num_nodes x num_workers) within {timeout:.0f}s ({PLACEMENT_TIMEOUT_ENV}); "
                f"it has {ray.cluster_resources().get('CPU', 0):.0f} CPUs. Lower num_nodes or num_workers, or add nodes."
            )
        progress.message(
            f"{what}: waiting for the Ray cluster to reserve {shape.num_nodes} x {shape.workers_per_node} CPUs"
        )


def _final_totals(
    jobs: Sequence[Job], baselines: dict[int, tuple[int, int]], shown: tuple[int, int]
) -> tuple[int, int]:
    """The counts the last progress line shows once every task has stored its share.

    Taken from what really landed, not from the actor (its reports can be late, lost
    while a node leaves, or not yet counted when a short run ends): an ``optimize``
    rank's checkpoint holds its inputs and items; a ``map`` rank that returned did
    every input of its share."""
    inputs = items = 0
    for job in jobs:
        if isinstance(job.payload, RankJob):
            stored = stored_counts(job.payload)
            inputs += stored[0] - baselines[job.rank][0]
            items += stored[1] - baselines[job.rank][1]
        else:
            inputs += sum(len(task.positions) for task in getattr(job.payload, "tasks", ()))
    return max(inputs, shown[0]), max(items, shown[1])


def _supervise(
    ray: Any, refs: dict[Any, int], counter: Any, progress: Progress, what: str, retries: int
) -> tuple[int, int]:
    """Wait for every task, update the progress line; return the counts it shows."""
    from ray.exceptions import RayError, RayTaskError

    shown = (0, 0)
    pending = list(refs)
    asked: Any = None  # the actor's answer on its way: never waited for (it may still be starting)
    while True:
        ready, pending = ray.wait(pending, num_returns=1, timeout=POLL_SECONDS)
        if asked is None:
            asked = counter.totals.remote()
        elif ray.wait([asked], timeout=0)[0]:
            try:
                totals = ray.get(asked)
                progress.update(totals[0] - shown[0], totals[1] - shown[1])
                shown = totals
            except RayError:  # progress only: the work goes on without it
                pass
            asked = None
        for ref in ready:
            rank = refs[ref]
            try:
                report = ray.get(ref)
            except RayTaskError as exc:  # raised outside fn: e.g. the job could not be unpickled there
                raise WorkerError(
                    f"{what} failed in worker rank {rank} (a Ray task). We found the following error: {exc}", rank=rank, worker_traceback=str(exc)
                ) from exc
            except RayError as exc:  # its worker or node died more often than Ray retries
                raise WorkerError(
                    f"{what} failed: the Ray task of worker rank {rank} was lost ({type(exc).__name__}) and "
                    f"{retries} retries ({MAX_RETRIES_ENV}) did not bring it back: {exc}. "
                    "Rerun the same call to resume from the chunks already stored.",
                    rank=rank,
                ) from exc
            if report is not None:
                raise failure_from_report(rank, report, what)
        if not pending:
            return shown
