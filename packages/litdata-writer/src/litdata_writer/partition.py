"""Splitting the inputs into tasks and the tasks across nodes and workers.

Every node computes the same plan from the same inputs, so no coordination is needed:
writer rank ``r = node_rank * num_workers + worker`` always gets the same share. Shares
are contiguous by default, which keeps the dataset in input order (the merge concatenates
ranks in order). With ``reorder_files`` and inputs that are local files, tasks are instead
balanced by total file size (largest first onto the least-loaded rank), so one worker does
not get all the big files; within a rank the input order is kept.
"""

from __future__ import annotations

import heapq
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Task:
    """One call of ``fn``: the positions (in the original inputs) it covers, and its argument."""

    positions: tuple[int, ...]
    argument: Any


def make_tasks(inputs: Sequence[Any], batch_size: int | None) -> list[Task]:
    """One task per input, or per batch of ``batch_size`` consecutive inputs."""
    if batch_size is None:
        return [Task((i,), value) for i, value in enumerate(inputs)]
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return [
        Task(
            tuple(range(start, min(start + batch_size, len(inputs)))),
            list(inputs[start : start + batch_size]),
        )
        for start in range(0, len(inputs), batch_size)
    ]


def contiguous_shares(num_tasks: int, world_size: int) -> list[range]:
    """Task ranges per rank: sizes differ by at most one, the first ranks take the extra."""
    base, extra = divmod(num_tasks, world_size)
    shares, start = [], 0
    for rank in range(world_size):
        size = base + (1 if rank < extra else 0)
        shares.append(range(start, start + size))
        start += size
    return shares


def file_sizes(inputs: Sequence[Any]) -> list[int] | None:
    """The size of each input when every input is a path to an existing local file, else None."""
    sizes = []
    for value in inputs:
        if not isinstance(value, (str, os.PathLike)):
            return None
        try:
            info = os.stat(value)
        except (OSError, ValueError):
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        sizes.append(info.st_size)
    return sizes


def balanced_shares(weights: Sequence[int], world_size: int) -> list[list[int]]:
    """Longest-processing-time greedy: heaviest task first onto the lightest rank.

    Deterministic (ties go to the lower task index and the lower rank), so every node and
    every rerun gets the same plan. Each rank's task indices are returned sorted.
    """
    heap = [(0, rank) for rank in range(world_size)]
    shares: list[list[int]] = [[] for _ in range(world_size)]
    for task in sorted(range(len(weights)), key=lambda t: (-weights[t], t)):
        load, rank = heapq.heappop(heap)
        shares[rank].append(task)
        heapq.heappush(heap, (load + weights[task], rank))
    return [sorted(share) for share in shares]


def plan_shares(
    inputs: Sequence[Any], tasks: Sequence[Task], world_size: int, reorder_files: bool
) -> list[list[int]]:
    """Task indices for each writer rank (``world_size`` = nodes x workers)."""
    if world_size < 1:
        raise ValueError(f"need at least one worker, got world size {world_size}")
    if reorder_files and len(tasks) > world_size:
        sizes = file_sizes(inputs)
        if sizes is not None:
            weights = [sum(sizes[p] for p in task.positions) for task in tasks]
            return balanced_shares(weights, world_size)
    return [list(share) for share in contiguous_shares(len(tasks), world_size)]
