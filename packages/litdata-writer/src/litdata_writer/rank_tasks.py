"""The plan of a run: which tasks each writer rank of each node processes.

Shared by ``optimize`` and ``map``. Inputs are materialized once in the parent (an
iterable cannot be split deterministically otherwise); each worker then receives only
its own tasks, never the whole list.

Two ways to hand the tasks to the workers of a node (``keep_data_ordered``):

* ordered (static): every writer rank gets a fixed slice (``shares``) and the dataset
  is in input order; a crashed run resumes from each rank's checkpoint.
* work queue: the tasks are split between *nodes* only (``node_shares``); the workers
  of a node take them from one shared queue (see ``work_queue``). Inputs from a caller's
  ``queue`` or a data loader always go this way, as they arrive.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .inputs import LIST, InputSource
from .node_env import NodeInfo, node_info
from .partition import Task, make_tasks, plan_shares
from .settings import fast_dev_count, resolve_num_workers


@dataclass
class RunPlan:
    """The tasks of a run and which writer rank (or node) gets each of them.

    An ordered plan has every rank's task indices in ``shares``; a work-queue plan has each
    node's in ``node_shares``. A streamed ``source`` has no tasks in advance: both stay empty.
    """

    tasks: list[Task]
    shares: list[list[int]]  # ordered: task indices per writer rank, for every node
    node: NodeInfo
    num_workers: int
    num_inputs: int
    ordered: bool = True
    node_shares: list[list[int]] = field(default_factory=list)  # work queue: task indices per node
    source: InputSource | None = None  # a streamed source (caller's queue, data loader), else None

    @property
    def world_size(self) -> int:
        """Writer ranks of the whole run: nodes times workers per node."""
        return self.node.num_nodes * self.num_workers

    @property
    def node_ranks(self) -> range:
        """The global writer ranks that run on this node."""
        start = self.node.node_rank * self.num_workers
        return range(start, start + self.num_workers)

    def rank_tasks(self, rank: int) -> list[Task]:
        """The static tasks of ``rank`` (ordered plans; empty in a work-queue plan)."""
        return [self.tasks[t] for t in self.shares[rank]] if self.ordered else []

    def node_tasks(self, node_rank: int) -> list[Task]:
        """The tasks node ``node_rank`` feeds its shared queue (none in ordered plans or streamed sources)."""
        if self.ordered or self.source is not None:
            return []
        return [self.tasks[t] for t in self.node_shares[node_rank]]

    def busy_ranks(self, ranks: Iterable[int] | None = None) -> list[int]:
        """Ranks with work (idle ranks start no process and write nothing).

        In a work-queue plan a node with n tasks runs min(n, num_workers) workers; a
        streamed source keeps every worker of every node.
        """
        candidates = range(self.world_size) if ranks is None else ranks
        if self.ordered:
            return [r for r in candidates if self.shares[r]]
        if self.source is not None:
            return list(candidates)
        return [
            r for r in candidates if r % self.num_workers < len(self.node_shares[r // self.num_workers])
        ]

    def node_input_count(self) -> int:
        """Inputs this node will process (0 when unknown: a caller's queue)."""
        if self.source is not None:
            total = self.source.known_length()
            if total is None:
                return 0
            nodes, rank = self.node.num_nodes, self.node.node_rank
            return len(range(rank, total, nodes))
        if not self.ordered:
            return sum(len(self.tasks[t].positions) for t in self.node_shares[self.node.node_rank])
        return sum(len(self.tasks[t].positions) for r in self.node_ranks for t in self.shares[r])


def make_plan(
    inputs: InputSource | Iterable[Any],
    *,
    num_workers: int | None,
    num_nodes: int | None,
    batch_size: int | None,
    fast_dev_run: bool | int,
    reorder_files: bool,
    weights: Sequence[float] | None = None,
    align_chunk_size: int | None = None,
    ordered: bool = True,
) -> RunPlan:
    """``fast_dev_run`` keeps the first N inputs of the whole run (see ``settings``)."""
    workers = resolve_num_workers(num_workers)
    node = node_info(num_nodes)
    if isinstance(inputs, InputSource) and inputs.kind != LIST:
        return RunPlan(
            tasks=[], shares=[], node=node, num_workers=workers, num_inputs=0, ordered=False, source=inputs
        )
    if isinstance(inputs, InputSource):
        values = inputs.values
    else:
        if isinstance(inputs, (str, bytes)) or not isinstance(inputs, Iterable):
            raise TypeError(f"inputs must be a list or another iterable of inputs, got {type(inputs).__name__}")
        values = inputs if isinstance(inputs, list) else list(inputs)
    keep = fast_dev_count(fast_dev_run)
    if keep is not None:
        values = values[:keep]
        if weights is not None and len(weights) > keep:
            weights = weights[:keep]
    if not values:
        raise ValueError(f"The provided inputs should be non empty. Found {values}: inputs is empty, nothing to process.")
    tasks = make_tasks(values, batch_size)
    if ordered:
        shares = plan_shares(
            values, tasks, node.num_nodes * workers, reorder_files, weights=weights, align_chunk_size=align_chunk_size
        )
        return RunPlan(tasks=tasks, shares=shares, node=node, num_workers=workers, num_inputs=len(values))
    node_shares = plan_shares(values, tasks, node.num_nodes, reorder_files, weights=weights)
    return RunPlan(
        tasks=tasks,
        shares=[],
        node=node,
        num_workers=workers,
        num_inputs=len(values),
        ordered=False,
        node_shares=node_shares,
    )
