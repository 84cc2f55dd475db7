"""The epoch plan: which samples each rank and worker yields, in which order.

Everything the stream promises about order rests on this one pure function of
(the selected items, seed, epoch, shuffle, world size, rank, batch size, drop_last):

1. Chunks are visited in stored order, or in a seeded random order per epoch; items
   within each chunk are shuffled too (a new order each epoch, reproducible from the
   seed). Items of one chunk stay together, so a reader streams chunk by chunk.
2. The resulting global sequence is cut into ``world_size`` equal contiguous shares, one
   per rank. With ``drop_last`` the remainder is dropped (and so is each rank's last,
   partial batch); without it the sequence is padded by repeating its first items, so
   every rank gets the same number of samples and therefore the same number of batches
   (a rank with fewer batches hangs DDP).
3. A rank's samples are cut into batches; batch ``j`` is produced by DataLoader worker
   ``(j - first_batch) % num_workers``. A DataLoader asks its workers for batches in
   round-robin order, so batches come out in order ``j = first_batch, first_batch+1, ...``
   whatever the number of workers: the sample sequence of a rank does not depend on
   ``num_workers``, and resuming after ``k`` batches means starting at ``first_batch=k``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: A selection: for each chunk (by number in the index), the sorted item positions used.
Selection = list[tuple[int, np.ndarray]]


def full_selection(chunk_sizes: Sequence[int]) -> Selection:
    """Every item of every chunk."""
    return [(i, np.arange(size, dtype=np.int64)) for i, size in enumerate(chunk_sizes) if size > 0]


def chunk_offsets(chunk_sizes: Sequence[int]) -> np.ndarray:
    """Global index of each chunk's first item."""
    offsets = np.zeros(len(chunk_sizes) + 1, dtype=np.int64)
    np.cumsum(np.asarray(chunk_sizes, dtype=np.int64), out=offsets[1:])
    return offsets


def selection_indices(selection: Selection, offsets: np.ndarray) -> np.ndarray:
    """The global indices of a selection in stored order."""
    if not selection:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([offsets[chunk] + items for chunk, items in selection])


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed & 0xFFFFFFFF, *(k & 0xFFFFFFFF for k in keys)])


def epoch_sequence(selection: Selection, offsets: np.ndarray, *, seed: int, epoch: int, shuffle: bool) -> np.ndarray:
    """All selected global indices in this epoch's order (before splitting across ranks)."""
    if not selection:
        return np.zeros(0, dtype=np.int64)
    if not shuffle:
        return selection_indices(selection, offsets)
    order = _rng(seed, epoch, 0).permutation(len(selection))
    parts = []
    for position in order:
        chunk, items = selection[position]
        parts.append(offsets[chunk] + _rng(seed, epoch, 1, chunk).permutation(items))
    return np.concatenate(parts)


def rank_share(sequence: np.ndarray, *, world_size: int, rank: int, drop_last: bool, batch_size: int = 1) -> np.ndarray:
    """The contiguous share of ``sequence`` that ``rank`` yields (equal length on every rank)."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside a world of size {world_size}")
    total = len(sequence)
    if drop_last:
        per_rank = total // world_size
        per_rank -= per_rank % batch_size
        return sequence[rank * per_rank : (rank + 1) * per_rank]
    per_rank = -(-total // world_size)
    if total == 0:
        return sequence
    padded = np.resize(sequence, per_rank * world_size) if per_rank * world_size != total else sequence
    return padded[rank * per_rank : (rank + 1) * per_rank]


@dataclass(frozen=True)
class WorkerPlan:
    """What one worker of one rank yields: its batches in order, as global indices."""

    samples: np.ndarray
    batch_size: int
    batch_numbers: np.ndarray

    def batches(self) -> list[np.ndarray]:
        return [self.samples[i * self.batch_size : (i + 1) * self.batch_size] for i in range(len(self.batch_numbers))]


def num_batches(num_samples: int, batch_size: int) -> int:
    return -(-num_samples // batch_size)


def worker_plan(
    rank_samples: np.ndarray, *, batch_size: int, num_workers: int, worker_id: int, first_batch: int = 0
) -> WorkerPlan:
    """The batches of ``rank_samples`` that ``worker_id`` produces, starting at ``first_batch``.

    With ``num_workers == 0`` (the main process reads) pass ``num_workers=1, worker_id=0``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    workers = max(num_workers, 1)
    if not 0 <= worker_id < workers:
        raise ValueError(f"worker {worker_id} is outside {workers} workers")
    total = num_batches(len(rank_samples), batch_size)
    numbers = np.arange(first_batch + worker_id, total, workers, dtype=np.int64)
    if len(numbers) == 0:
        return WorkerPlan(np.zeros(0, dtype=np.int64), batch_size, numbers)
    starts = numbers * batch_size
    pieces = [rank_samples[s : s + batch_size] for s in starts]
    return WorkerPlan(np.concatenate(pieces), batch_size, numbers)


def rank_samples(
    selection: Selection,
    offsets: np.ndarray,
    *,
    seed: int,
    epoch: int,
    shuffle: bool,
    world_size: int,
    rank: int,
    drop_last: bool,
    batch_size: int = 1,
) -> np.ndarray:
    """The samples one rank yields in one epoch, in order (steps 1 and 2 above)."""
    sequence = epoch_sequence(selection, offsets, seed=seed, epoch=epoch, shuffle=shuffle)
    return rank_share(sequence, world_size=world_size, rank=rank, drop_last=drop_last, batch_size=batch_size)
