"""The plan of a run: which tasks each writer rank of each node processes.

Shared by ``optimize`` and ``map``. Inputs are materialized once in the parent (an
iterable cannot be split deterministically otherwise); each worker then receives only
its own tasks, never the whole list.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .nodes import NodeInfo, node_info
from .partition import Task, make_tasks, plan_shares
from .settings import fast_dev_count, resolve_num_workers


@dataclass
class RunPlan:
    tasks: list[Task]
    shares: list[list[int]]  # task indices per writer rank, for every node
    node: NodeInfo
    num_workers: int
    num_inputs: int

    @property
    def world_size(self) -> int:
        return self.node.num_nodes * self.num_workers

    @property
    def node_ranks(self) -> range:
        start = self.node.node_rank * self.num_workers
        return range(start, start + self.num_workers)

    def rank_tasks(self, rank: int) -> list[Task]:
        return [self.tasks[t] for t in self.shares[rank]]

    def busy_ranks(self, ranks: Iterable[int] | None = None) -> list[int]:
        """Ranks with at least one task (idle ranks start no process and write nothing)."""
        return [r for r in (range(self.world_size) if ranks is None else ranks) if self.shares[r]]

    def node_input_count(self) -> int:
        return sum(len(self.tasks[t].positions) for r in self.node_ranks for t in self.shares[r])


def make_plan(
    inputs: Iterable[Any],
    *,
    num_workers: int | None,
    num_nodes: int | None,
    batch_size: int | None,
    fast_dev_run: bool | int,
    reorder_files: bool,
) -> RunPlan:
    if isinstance(inputs, (str, bytes)) or not isinstance(inputs, Iterable):
        raise TypeError(f"inputs must be a list or another iterable of inputs, got {type(inputs).__name__}")
    values = inputs if isinstance(inputs, list) else list(inputs)
    keep = fast_dev_count(fast_dev_run)
    if keep is not None:
        values = values[:keep]
    if not values:
        raise ValueError("inputs is empty: there is nothing to process")
    workers = resolve_num_workers(num_workers)
    node = node_info(num_nodes)
    tasks = make_tasks(values, batch_size)
    shares = plan_shares(values, tasks, node.num_nodes * workers, reorder_files)
    return RunPlan(tasks=tasks, shares=shares, node=node, num_workers=workers, num_inputs=len(values))
