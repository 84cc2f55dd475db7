"""The epoch plan: which samples each rank and DataLoader worker yields, in which order.

Everything the stream promises about order rests on this module, and it costs O(chunks)
to plan and O(items read) to follow, in every process:

1. **Epoch order.** A shuffle algorithm (:mod:`litdata_stream.shuffle`) orders the
   selected items for the epoch, lazily: position ``p`` of the epoch maps to a stored
   item, computed only for the positions a reader asks for.
2. **Segment.** The positions still to serve in this epoch, as a list of intervals
   (the whole epoch, unless a resume on another topology left pieces of it), planned for
   one world size and batch size. It is cut into ``world_size`` equal contiguous shares,
   one per rank. With ``drop_last`` the remainder is dropped (and so is each rank's last,
   partial batch); without it the shares are padded by repeating the first positions,
   so that every rank gets the same number of batches (a rank with fewer hangs DDP).
3. **Workers.** A rank's share is cut into batches; batch ``j`` is produced by DataLoader
   worker ``(j - first_batch) % num_workers``. A DataLoader asks its workers for batches
   round-robin, so batches come out in order whatever the number of workers: resuming
   after ``k`` batches on the same topology means starting at batch ``k``.
4. **Elastic resume.** Every rank has consumed the same number of batches, so the state
   of any one rank tells what every rank has consumed. A resume on another world size or
   batch size starts a new segment over what no rank has served yet
   (:meth:`RankPlan.remaining_after`): nothing is lost, nothing is served twice but
   padding.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .chunk_runs import chunk_runs
from .shuffle import EpochOrder

Intervals = tuple[tuple[int, int], ...]


def num_batches(num_samples: int, batch_size: int) -> int:
    """How many batches of ``batch_size`` hold ``num_samples`` samples, counting a last partial one."""
    return -(-num_samples // batch_size)


@dataclass(frozen=True)
class Segment:
    """The part of an epoch planned for one topology.

    ``intervals`` are the epoch positions to serve, in order (``None``: all of them).
    """

    world_size: int
    batch_size: int
    drop_last: bool
    intervals: Intervals | None = None

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.world_size < 1:
            raise ValueError(f"world_size must be at least 1, got {self.world_size}")


def merge_intervals(pieces: Sequence[tuple[int, int]]) -> Intervals:
    """Drop empty pieces and join pieces that touch, keeping the order."""
    merged: list[tuple[int, int]] = []
    for start, stop in pieces:
        if stop <= start:
            continue
        if merged and merged[-1][1] == start:
            merged[-1] = (merged[-1][0], stop)
        else:
            merged.append((int(start), int(stop)))
    return tuple(merged)


class RankPlan:
    """One rank's samples in one segment of an epoch."""

    def __init__(self, order: EpochOrder, segment: Segment, rank: int) -> None:
        if not 0 <= rank < segment.world_size:
            raise ValueError(f"rank {rank} is outside a world of size {segment.world_size}")
        self.order, self.segment, self.rank = order, segment, rank
        if segment.intervals is None:
            self._starts = np.zeros(1, dtype=np.int64)
            lengths = np.asarray([order.size], dtype=np.int64)
        else:
            self._starts = np.asarray([a for a, _ in segment.intervals], dtype=np.int64)
            lengths = np.asarray([b - a for a, b in segment.intervals], dtype=np.int64)
            if len(self._starts) and (self._starts.min() < 0 or (self._starts + lengths).max() > order.size):
                raise ValueError("the saved plan refers to positions beyond this dataset's epoch")
        self._vcum = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=self._vcum[1:])
        self.total = int(self._vcum[-1])
        world, batch = segment.world_size, segment.batch_size
        if segment.drop_last:
            per_rank = self.total // world
            self.per_rank = per_rank - per_rank % batch
        else:
            self.per_rank = num_batches(self.total, world) if self.total else 0
        self.num_batches = num_batches(self.per_rank, batch)

    def _epoch_positions(self, virtual: np.ndarray) -> np.ndarray:
        """Epoch positions of positions in the concatenated intervals (wrapping: padding)."""
        if self.total == 0:
            return virtual
        virtual = virtual % self.total
        k = np.searchsorted(self._vcum, virtual, side="right") - 1
        return self._starts[k] + (virtual - self._vcum[k])

    def local_epoch_positions(self, local: np.ndarray) -> np.ndarray:
        """Epoch positions of this rank's samples numbered ``local``."""
        return self._epoch_positions(self.rank * self.per_rank + local)

    def stored_at(self, local: np.ndarray) -> np.ndarray:
        """Stored positions of this rank's samples numbered ``local``."""
        return self.order.stored(self.local_epoch_positions(local))

    def epoch_positions(self, start: int, stop: int) -> np.ndarray:
        """Epoch positions of this rank's samples ``start .. stop-1``."""
        base = self.rank * self.per_rank
        return self._epoch_positions(np.arange(base + start, base + min(stop, self.per_rank), dtype=np.int64))

    def batch_positions(self, number: int) -> np.ndarray:
        """Epoch positions of batch ``number`` of this rank."""
        size = self.segment.batch_size
        return self.epoch_positions(number * size, (number + 1) * size)

    def batch(self, number: int) -> np.ndarray:
        """Stored positions of batch ``number`` of this rank, in the order they are yielded."""
        return self.order.stored(self.batch_positions(number))

    def worker_batches(self, num_workers: int, worker_id: int, first_batch: int = 0) -> range:
        """The batch numbers DataLoader worker ``worker_id`` produces (``num_workers=0``:
        pass 1 and 0: the main process reads)."""
        workers = max(num_workers, 1)
        if not 0 <= worker_id < workers:
            raise ValueError(f"worker {worker_id} is outside {workers} workers")
        return range(first_batch + worker_id, self.num_batches, workers)

    def samples(self) -> np.ndarray:
        """Every stored position of this rank in order (O(samples): tests, small datasets)."""
        parts = [self.batch(j) for j in range(self.num_batches)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def chunk_stream(self, batches: range) -> Iterator[int]:
        """The chunks ``batches`` read, in order of use, again when one comes back (lazily)."""
        used = (chunk for number in batches for chunk in self.order.chunks_for(self.batch_positions(number)))
        return chunk_runs(used, self.order.window_chunks)

    def remaining_after(self, samples_consumed: int) -> Intervals:
        """The epoch positions no rank has served once every rank served ``samples_consumed``.

        Padding is never carried over (a padded position repeats one that is served
        anyway), and with ``drop_last`` the dropped tail is kept: a new topology may
        serve it.
        """
        consumed = min(max(samples_consumed, 0), self.per_rank)
        world, per_rank, total = self.segment.world_size, self.per_rank, self.total
        virtual = [(r * per_rank + consumed, min((r + 1) * per_rank, total)) for r in range(world)]
        if world * per_rank < total:
            virtual.append((world * per_rank, total))
        pieces: list[tuple[int, int]] = []
        for start, stop in virtual:
            while start < stop:
                k = int(np.searchsorted(self._vcum, start, side="right")) - 1
                end = min(stop, int(self._vcum[k + 1]))
                offset = int(self._starts[k]) - int(self._vcum[k])
                pieces.append((start + offset, end + offset))
                start = end
        return merge_intervals(pieces)
