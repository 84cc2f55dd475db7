"""From LitData's input arguments to what each worker of this node gets.

``optimize`` and ``map`` both call :func:`plan_work` with the arguments that decide
*which* inputs a worker sees and *how* (``inputs`` / ``queue``, ``reader``, ``weights``,
``batch_size``, ``keep_data_ordered``, ``align_chunking``, ``use_checkpoint`` /
``resume``, ``input_dir`` / ``num_downloaders``). Every check that LitData makes before
starting is made here, in the parent, before any output is touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .input_files import DEFAULT_DOWNLOADERS, InputFetcher, is_remote_dir
from .inputs import LOADER, QUEUE, ReadThenCall, resolve_inputs
from .ordering import Ordering, resolve_ordering
from .partition import Task, check_weights
from .platform_args import warn_once
from .rank_tasks import RunPlan, make_plan
from .rank_writer import rank_fingerprint
from .settings import fast_dev_count, resolve_num_workers
from .work_queue import QueuedTasks, TaskFeeder, caller_queue_tasks, list_tasks, loader_tasks


@dataclass
class WorkSetup:
    """What :func:`plan_work` decided: the plan, the ordering, the ``fn`` to call and input preparation."""

    plan: RunPlan
    ordering: Ordering
    fn: Callable[..., Any]  # the user's fn, behind the reader's read() when a reader is given
    prepare_tasks: Callable[[Iterable[Task]], Iterable[Task]] | None
    fast_dev_limit: int | None = None
    _shared: QueuedTasks | None = None
    _feeder: TaskFeeder | None = None

    def rank_tasks(self, rank: int) -> list[Task] | QueuedTasks:
        """The static tasks of ``rank``, or the node's shared queue (the same object for all)."""
        if self.ordering.ordered:
            return self.plan.rank_tasks(rank)
        feeder = self.feeder()
        assert feeder is not None  # not ordered: the tasks come from the shared queue
        return feeder.handle

    def fingerprint(self, settings: dict[str, Any], rank: int, first_chunk: int) -> str:
        """What a rank's partial index and checkpoints are tagged with (see ``rank_writer``).

        Static plans keep the historical fingerprint (a rank's own tasks). A work-queue
        rank's tasks are not known in advance: it is tagged with its node's share.
        """
        plan = self.plan
        if self.ordering.ordered:
            return rank_fingerprint(settings, rank, first_chunk, plan.rank_tasks(rank))
        node = rank // plan.num_workers
        extra = {"work_queue": plan.source.kind if plan.source is not None else "list"}
        return rank_fingerprint({**settings, **extra}, rank, first_chunk, plan.node_tasks(node))

    def feeder(self) -> TaskFeeder | None:
        """The parent's feeder of the shared queue (None for a static plan)."""
        if self.ordering.ordered:
            return None
        if self._feeder is None:
            plan = self.plan
            if plan.source is None:
                make = list_tasks(plan.tasks, plan.node_shares[plan.node.node_rank])
            elif plan.source.kind == QUEUE:
                make = caller_queue_tasks(plan.source.stream)
            else:
                make = loader_tasks(plan.source.stream, plan.node.node_rank, plan.node.num_nodes)
            limit = self.fast_dev_limit if plan.source is not None and plan.source.kind == LOADER else None
            self._feeder = TaskFeeder(_limited(make, limit))
        return self._feeder


def _limited(make: Any, limit: int | None) -> Any:
    if limit is None:
        return make

    def limited(stopped: Callable[[], bool]) -> Iterator[Task]:
        for count, task in enumerate(make(stopped)):
            if count >= limit:
                return
            yield task

    return limited


def plan_work(
    fn: Callable[..., Any],
    inputs: Any,
    queue: Any,
    *,
    input_dir: str | None,
    weights: Any,
    reader: Any,
    batch_size: int | None,
    num_workers: int | None,
    num_nodes: int | None,
    fast_dev_run: bool | int,
    reorder_files: bool,
    keep_data_ordered: bool | None,
    use_checkpoint: bool,
    resume: bool,
    align_chunking: bool,
    chunk_size: int | None,
    num_downloaders: int | None,
    storage_options: dict[str, Any],
    allow_queue: bool = True,
    skip_none_reads: bool = True,
) -> WorkSetup:
    """Check the input arguments as LitData does and plan which tasks each worker gets.

    The returned ``fn`` reads each input through ``reader`` when one is given, and for a
    remote ``input_dir`` ``prepare_tasks`` downloads the files the inputs name.
    """
    workers = resolve_num_workers(num_workers)
    source = resolve_inputs(
        inputs,
        queue,
        batch_size=batch_size,
        weights=weights,
        reader=reader,
        num_workers=workers,
        allow_queue=allow_queue,
    )
    if weights is not None and not source.streamed:
        weights = check_weights(weights)
    else:
        weights = None
    ordering = resolve_ordering(
        keep_data_ordered=keep_data_ordered,
        use_checkpoint=use_checkpoint,
        resume=resume,
        align_chunking=align_chunking,
        chunk_size=chunk_size,
        source=source,
    )
    plan = make_plan(
        source,
        num_workers=workers,
        num_nodes=num_nodes,
        batch_size=None if source.streamed else batch_size,
        fast_dev_run=fast_dev_run,
        reorder_files=reorder_files,
        weights=weights,
        align_chunk_size=chunk_size if align_chunking else None,
        ordered=ordering.ordered,
    )
    prepare = None
    if input_dir is not None and is_remote_dir(input_dir):
        prepare = InputFetcher(
            str(input_dir), dict(storage_options), num_downloaders=num_downloaders or DEFAULT_DOWNLOADERS
        )
    elif num_downloaders is not None:
        warn_once("num_downloaders")
    wrapped = fn if reader is None else ReadThenCall(reader, fn, skip_none=skip_none_reads)
    return WorkSetup(
        plan=plan, ordering=ordering, fn=wrapped, prepare_tasks=prepare, fast_dev_limit=fast_dev_count(fast_dev_run)
    )
