"""The mixed sequence of a ``CombinedStreamingDataset``, planned in blocks and drawn lazily.

Position ``p`` of a rank's mixed sequence draws one dataset by weight; the k-th draw of
dataset ``d`` is the k-th sample of ``d``'s own plan for that rank. The rules:

- ``iterate_over_all``: each position draws by weight among the datasets that still have
  samples; the sequence ends when none has.
- otherwise: each position draws by weight among all datasets of positive weight, and
  the sequence ends just before the first draw of a dataset that has none left (at once,
  if such a dataset is empty from the start).

A billion-sample mixture must not cost a billion of anything to plan, so the sequence is
cut into blocks of ``BLOCK`` positions. What a block draws is planned up front as counts
only: the multinomial counts of each dataset among the block's positions (drawn for all
the blocks of a phase at once, a phase being the stretch over which the same datasets
are drawn). Independent draws per position are exactly multinomial counts laid out by a
uniformly random arrangement, so the arrangement of a block (a seeded permutation of its
multiset of draws) is generated only when a reader reaches that block. Where a block's
counts would draw a dataset more often than it has samples left, that one block is laid
out during planning to find the exact position of the offending draw: the block ends
there (a shorter block), and the sequence either ends or goes on with the datasets
left. Planning thus costs O(blocks * datasets) time and memory; reading costs O(block)
per block reached.

The plan keeps the cumulative counts of each dataset at every block start, which answers
"how many draws of each dataset precede position p" (a resume's per-dataset progress)
and "the k-th draw of which dataset is position p" for any range of positions.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

#: Positions per block: big enough that the per-block tables stay small (a billion draws
#: make 250,000 blocks), small enough that laying out one block is cheap.
BLOCK = 4096
#: Laid-out blocks a plan keeps: readers of one worker (the per-dataset streams, their
#: prefetchers, the order of datasets) walk the same blocks a little apart.
KEPT_BLOCKS = 16
#: Blocks whose counts are drawn in one go while planning.
DRAWN_AT_ONCE = 4096


def _rng(seed: int, epoch: int, replans: int, *key: int) -> np.random.Generator:
    return np.random.default_rng([seed & 0xFFFFFFFF, epoch & 0xFFFFFFFF, replans & 0xFFFFFFFF, 23, *key])


class LazyMix:
    """One rank's mixed sequence: which dataset each position draws, and the how-many-th draw."""

    def __init__(self, lengths: Sequence[int], weights: Sequence[float], *, seed: int, epoch: int,
                 iterate_over_all: bool, replans: int = 0, block: int = BLOCK) -> None:
        if block < 1:
            raise ValueError(f"block must be at least 1, got {block}")
        self.num_datasets = len(lengths)
        self._key = (int(seed), int(epoch), int(replans))
        self._block = int(block)
        self._laid: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()  # a worker's prefetch thread reads the plan too
        counts, truncated = self._plan(np.asarray(lengths, dtype=np.int64),
                                       np.asarray(weights, dtype=np.float64), bool(iterate_over_all))
        #: Every block's drawn counts before any cut (what its arrangement permutes).
        self._drawn = counts
        #: Blocks cut short: block number -> positions kept.
        self._truncated = truncated
        sizes = np.full(len(counts), self._block, dtype=np.int64)
        taken = counts.astype(np.int64)
        for number, keep in truncated.items():
            sizes[number] = keep
            taken[number] = np.bincount(self._arrangement(number)[:keep], minlength=self.num_datasets)
        self._starts = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(sizes, out=self._starts[1:])
        self._cumulative = np.zeros((len(counts) + 1, self.num_datasets), dtype=np.int64)
        np.cumsum(taken, axis=0, out=self._cumulative[1:])

    # -- planning ----------------------------------------------------------------------
    def _plan(self, remaining: np.ndarray, weights: np.ndarray,
              iterate_over_all: bool) -> tuple[np.ndarray, dict[int, int]]:
        """(the drawn counts of every block, {block cut short: positions kept})."""
        remaining = remaining.copy()
        drawable = weights > 0
        parts: list[np.ndarray] = []
        truncated: dict[int, int] = {}
        blocks = 0
        if not iterate_over_all and (drawable & (remaining == 0)).any():
            return np.zeros((0, self.num_datasets), dtype=np.int64), truncated
        phase = 0
        while True:
            alive = drawable & (remaining > 0) if iterate_over_all else drawable
            left = int(remaining[alive].sum())
            if not alive.any() or left == 0:
                break
            candidates = np.flatnonzero(alive)
            probabilities = weights[candidates] / weights[candidates].sum()
            # Blocks are drawn a batch at a time, so that a phase that ends early (a dataset
            # drawn faster than its size) costs what it uses; it ends at the first block whose
            # counts overdraw a dataset (the last one always does, unless every dataset ends
            # exactly with it).
            generator = _rng(*self._key, 1, phase)
            needed = -(-left // self._block)
            while True:
                size = min(needed, DRAWN_AT_ONCE)
                counts = np.zeros((size, self.num_datasets), dtype=np.int64)
                counts[:, candidates] = generator.multinomial(self._block, probabilities, size=size)
                over = (np.cumsum(counts, axis=0) > remaining).any(axis=1)
                if over.any() or size == needed:
                    break
                parts.append(counts)
                blocks += size
                needed -= size
                remaining -= counts.sum(axis=0)
            if not over.any():  # every dataset ends exactly with the last block
                parts.append(counts)
                blocks += size
                break
            cut = int(np.argmax(over))
            parts.append(counts[: cut + 1])
            remaining -= counts[:cut].sum(axis=0)
            number = blocks + cut
            blocks += cut + 1
            laid = self._arrangement(number, counts[cut])
            keep = len(laid)
            for d in candidates:
                if counts[cut, d] > remaining[d]:
                    keep = min(keep, int(np.flatnonzero(laid == d)[remaining[d]]))
            truncated[number] = keep
            remaining -= np.bincount(laid[:keep], minlength=self.num_datasets)
            if not iterate_over_all:
                break
            phase += 1
        # A block's counts are at most BLOCK: small ints keep the table small for many datasets.
        small = np.int16 if self._block < 2**15 else np.int64
        counts = np.concatenate([p.astype(small) for p in parts]) if parts else np.zeros((0, self.num_datasets), small)
        return counts, truncated

    def _arrangement(self, number: int, drawn: np.ndarray | None = None) -> np.ndarray:
        """Block ``number``'s full multiset of draws (``drawn``: its counts, while planning), in its seeded order."""
        counts = self._drawn[number] if drawn is None else drawn
        multiset = np.repeat(np.arange(self.num_datasets, dtype=np.int64), counts.astype(np.int64))
        return _rng(*self._key, 2, number).permutation(multiset)

    def _laid_out(self, number: int) -> tuple[np.ndarray, np.ndarray]:
        """(dataset, draw number) of each position of block ``number`` (kept for a while)."""
        with self._lock:
            found = self._laid.get(number)
            if found is not None:
                self._laid.move_to_end(number)
                return found
        keep = int(self._starts[number + 1] - self._starts[number])
        datasets = self._arrangement(number)[:keep]
        draws = np.empty(keep, dtype=np.int64)
        for d in range(self.num_datasets):
            hits = datasets == d
            draws[hits] = self._cumulative[number, d] + np.arange(int(hits.sum()), dtype=np.int64)
        found = (datasets, draws)
        with self._lock:
            self._laid[number] = found
            while len(self._laid) > KEPT_BLOCKS:
                self._laid.popitem(last=False)
        return found

    # -- queries -----------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._starts[-1])

    @property
    def num_blocks(self) -> int:
        """How many blocks of draws the mixed sequence is made of."""
        return len(self._drawn)

    def draws(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """(dataset drawn, how-many-th draw of it) for positions ``start .. stop-1``."""
        start, stop = max(int(start), 0), min(int(stop), len(self))
        if stop <= start:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        first = int(np.searchsorted(self._starts, start, side="right")) - 1
        last = int(np.searchsorted(self._starts, stop - 1, side="right")) - 1
        datasets, draws = [], []
        for number in range(first, last + 1):
            base = int(self._starts[number])
            d, k = self._laid_out(number)
            piece = slice(max(start - base, 0), min(stop - base, len(d)))
            datasets.append(d[piece])
            draws.append(k[piece])
        if len(datasets) == 1:
            return datasets[0], draws[0]
        return np.concatenate(datasets), np.concatenate(draws)

    def datasets_at(self, start: int, stop: int) -> np.ndarray:
        """The dataset drawn at positions ``start .. stop-1``."""
        return self.draws(start, stop)[0]

    def counts_before(self, position: int) -> np.ndarray:
        """Draws of each dataset among positions ``0 .. position-1``."""
        position = min(max(int(position), 0), len(self))
        number = int(np.searchsorted(self._starts, position, side="right")) - 1
        counts: np.ndarray = self._cumulative[number].copy()
        base = int(self._starts[number])
        if position > base:
            counts += np.bincount(self._laid_out(number)[0][: position - base], minlength=self.num_datasets)
        return counts


@lru_cache(maxsize=8)
def _cached(lengths: tuple[int, ...], weights: tuple[float, ...], seed: int, epoch: int, iterate_over_all: bool,
            replans: int) -> LazyMix:
    return LazyMix(lengths, weights, seed=seed, epoch=epoch, iterate_over_all=iterate_over_all, replans=replans)


def lazy_mix(lengths: Sequence[int], weights: Sequence[float], *, seed: int, epoch: int, iterate_over_all: bool,
             replans: int = 0) -> LazyMix:
    """The :class:`LazyMix` of these arguments, planned once per process (``len()``, the
    state and the iteration of one epoch ask for the same one)."""
    return _cached(tuple(int(n) for n in lengths), tuple(float(w) for w in weights), int(seed), int(epoch),
                   bool(iterate_over_all), int(replans))
