"""Splitting the inputs into tasks and the tasks across nodes and workers.

Every node computes the same plan from the same inputs, so no coordination is needed:
writer rank ``r = node_rank * num_workers + worker`` always gets the same share. Shares
are contiguous by default, which keeps the dataset in input order (the merge concatenates
ranks in order). With ``reorder_files`` and inputs that are local files, tasks are instead
balanced by total file size (largest first onto the least-loaded rank), so one worker does
not get all the big files; within a rank the input order is kept. User ``weights`` balance
the same way, and ``align_chunking`` gives every rank but the last whole chunks.
"""

from __future__ import annotations

import heapq
import os
import stat
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Task:
    """One call of ``fn``: the positions (in the original inputs) it covers, and its argument."""

    positions: tuple[int, ...]
    argument: Any


def make_tasks(inputs: Sequence[Any], batch_size: int | None) -> list[Task]:
    """One task per input, or per batch of ``batch_size`` consecutive inputs.

    ``batch_size=1`` means no batching, as in LitData (which batches only above 1): ``fn``
    gets each input itself, not a list of one.
    """
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if batch_size is None or batch_size == 1:
        return [Task((i,), value) for i, value in enumerate(inputs)]
    return [
        Task(
            tuple(range(start, min(start + batch_size, len(inputs)))),
            list(inputs[start : start + batch_size]),
        )
        for start in range(0, len(inputs), batch_size)
    ]


def contiguous_shares(num_tasks: int, world_size: int) -> list[range]:
    """Task ranges per rank: sizes differ by at most one, the last ranks take the extra.

    The last ranks, as LitData does: the same call then writes the same chunk files
    (``chunk-{rank}-{i}``) with the same items, and ``map`` marks the same ``is_last``."""
    base, extra = divmod(num_tasks, world_size)
    shares, start = [], 0
    for rank in range(world_size):
        size = base + (1 if rank >= world_size - extra else 0)
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


def balanced_shares(weights: Sequence[float], world_size: int) -> list[list[int]]:
    """Longest-processing-time greedy: heaviest task first onto the lightest rank.

    Deterministic (ties go to the lower task index and the lower rank), so every node and
    every rerun gets the same plan. Each rank's task indices are returned sorted.
    """
    heap: list[tuple[float, int]] = [(0, rank) for rank in range(world_size)]
    shares: list[list[int]] = [[] for _ in range(world_size)]
    for task in sorted(range(len(weights)), key=lambda t: (-weights[t], t)):
        load, rank = heapq.heappop(heap)
        shares[rank].append(task)
        heapq.heappush(heap, (load + weights[task], rank))
    return [sorted(share) for share in shares]


def aligned_shares(num_tasks: int, world_size: int, chunk_size: int) -> list[range]:
    """``align_chunking``: every rank but the last takes the same number of *full* chunks.

    Rank r < world_size - 1 gets ``(num_tasks // chunk_size // world_size) * chunk_size``
    consecutive tasks, the last rank all the rest (full chunks plus the tail). When each
    task yields one item, the chunks are then exactly those one worker would write:
    ``chunk_size`` items each, only the very last one shorter. The price is balance: the
    last rank may get up to ``world_size * chunk_size`` more tasks than the others.
    """
    per_rank = (num_tasks // chunk_size // world_size) * chunk_size
    if per_rank == 0 and world_size > 1:
        warnings.warn(
            f"align_chunking: chunk_size ({chunk_size}) is too large for {num_tasks} inputs over "
            f"{world_size} workers, so every input goes to the last worker; use a smaller chunk_size "
            "or fewer workers",
            UserWarning,
            stacklevel=4,
        )
    shares = [range(rank * per_rank, (rank + 1) * per_rank) for rank in range(world_size - 1)]
    shares.append(range((world_size - 1) * per_rank, num_tasks))
    return shares


def task_weights(tasks: Sequence[Task], weights: Sequence[float], num_inputs: int) -> list[float]:
    """One weight per task from the user's ``weights`` (one per input, or one per batch)."""
    if len(weights) == num_inputs:
        return [sum(weights[p] for p in task.positions) for task in tasks]
    if len(weights) == len(tasks):
        return list(weights)
    raise ValueError("The provided weights length should match the inputs' length.")


def check_weights(weights: Any) -> list[float]:
    """Check ``weights`` (a sequence of non-negative numbers) and return them as a list."""
    if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence):
        raise TypeError(f"weights must be a list of numbers, one per input, got {type(weights).__name__}")
    for weight in weights:
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            raise ValueError(f"weights must be non-negative numbers, got {weight!r}")
    return list(weights)


def plan_shares(
    inputs: Sequence[Any],
    tasks: Sequence[Task],
    world_size: int,
    reorder_files: bool,
    *,
    weights: Sequence[float] | None = None,
    align_chunk_size: int | None = None,
) -> list[list[int]]:
    """Task indices for each writer rank (``world_size`` = nodes x workers).

    Precedence: ``align_chunk_size`` (aligned contiguous shares), then user ``weights``
    (balanced by weight), then ``reorder_files`` with local files (balanced by size),
    else contiguous shares.
    """
    if world_size < 1:
        raise ValueError(f"need at least one worker, got world size {world_size}")
    if align_chunk_size is not None:
        return [list(share) for share in aligned_shares(len(tasks), world_size, align_chunk_size)]
    if weights is not None:
        return balanced_shares(task_weights(tasks, weights, len(inputs)), world_size)
    if reorder_files and len(tasks) > world_size:
        sizes = file_sizes(inputs)
        if sizes is not None:
            weights = [sum(sizes[p] for p in task.positions) for task in tasks]
            return balanced_shares(weights, world_size)
    return [list(share) for share in contiguous_shares(len(tasks), world_size)]
