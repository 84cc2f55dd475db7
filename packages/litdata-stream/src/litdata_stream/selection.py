"""Which items of which chunks a dataset uses: a handful of numbers per chunk, never one per item.

A dataset of a billion items in 100,000 chunks must answer ``len(ds)``, ``ds[i]``, a
subsample and a split without an array of a billion indices. A :class:`Selection` is
a list of *parts*, one per chunk used, in stored order. Part ``p`` uses the items
``start[p]..stop[p]`` of chunk ``chunk[p]``, either all of them or ``picks[p]`` of them
chosen by a seeded draw (a subsample); a part may instead list its items explicitly
(the boundary chunk of a split of a subsample, or a subset of chosen indices), which
costs memory only for the items listed.

Items are addressed by their *stored position*: 0 .. len-1 in stored order of the
selection. ``ds[i]`` reads stored position ``i``; the epoch plan permutes stored
positions.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


def seeded_rng(seed: int, *keys: int) -> np.random.Generator:
    """A generator fixed by ``seed`` and ``keys`` (the same stream in every process)."""
    return np.random.default_rng([seed & 0xFFFFFFFF, *(k & 0xFFFFFFFF for k in keys)])


#: Parts whose item arrays are kept computed, per process (the chunks being read).
_ITEM_CACHE_PARTS = 64


@dataclass
class Selection:
    """The items a dataset uses, grouped by chunk (see the module docstring)."""

    chunk: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    picks: np.ndarray
    pick_seed: int = 0
    explicit: dict[int, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        counts = self.picks.copy()
        for part, items in self.explicit.items():
            counts[part] = len(items)
        self.counts = counts
        self.ranged = self.picks == self.stop - self.start
        for part in self.explicit:
            self.ranged[part] = False
        self.cum = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=self.cum[1:])
        self._items: OrderedDict[int, np.ndarray] = OrderedDict()

    # -- construction ------------------------------------------------------------------
    @classmethod
    def full(cls, chunk_sizes: Sequence[int]) -> Selection:
        """Every item of every non-empty chunk."""
        sizes = np.asarray(chunk_sizes, dtype=np.int64)
        used = np.flatnonzero(sizes > 0)
        return cls(used.astype(np.int64), np.zeros(len(used), np.int64), sizes[used], sizes[used].copy())

    def _parts(self, parts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[int, np.ndarray]]:
        """Copies of the arrays of ``parts`` (indices into self, ascending), explicit items renumbered."""
        renumbered = {}
        for old, items in self.explicit.items():
            new = int(np.searchsorted(parts, old))
            if new < len(parts) and parts[new] == old:
                renumbered[new] = items
        return (self.chunk[parts].copy(), self.start[parts].copy(), self.stop[parts].copy(),
                self.picks[parts].copy(), renumbered)

    # -- size and lookup ---------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.cum[-1])

    @property
    def num_parts(self) -> int:
        return len(self.chunk)

    def is_range(self, part: int) -> bool:
        """Whether part ``part`` uses every item of its ``start..stop`` range."""
        return bool(self.ranged[part])

    def items(self, part: int) -> np.ndarray:
        """The sorted within-chunk positions part ``part`` uses."""
        cached = self._items.get(part)
        if cached is not None:
            self._items.move_to_end(part)
            return cached
        if part in self.explicit:
            items = self.explicit[part]
        elif self.is_range(part):
            items = np.arange(self.start[part], self.stop[part], dtype=np.int64)
        else:
            width = int(self.stop[part] - self.start[part])
            chosen = seeded_rng(self.pick_seed, 7, int(self.chunk[part])).choice(width, int(self.picks[part]),
                                                                                 replace=False)
            items = np.sort(chosen).astype(np.int64) + self.start[part]
        self._items[part] = items
        while len(self._items) > _ITEM_CACHE_PARTS:
            self._items.popitem(last=False)
        return items

    def part_of(self, positions: np.ndarray) -> np.ndarray:
        """The part holding each stored position."""
        return np.searchsorted(self.cum, positions, side="right") - 1

    def within(self, positions: np.ndarray, parts: np.ndarray | None = None) -> np.ndarray:
        """The item within its chunk of each stored position (``parts``: their parts, if known)."""
        parts = self.part_of(positions) if parts is None else parts
        offsets = positions - self.cum[parts]
        result = self.start[parts] + offsets
        irregular = ~self.ranged[parts]
        if irregular.any():
            for part in np.unique(parts[irregular]).tolist():
                hits = parts == part
                result[hits] = self.items(part)[offsets[hits]]
        return result

    def locate(self, position: int) -> tuple[int, int]:
        """(chunk number, item within the chunk) of one stored position."""
        part = int(np.searchsorted(self.cum, position, side="right")) - 1
        offset = position - int(self.cum[part])
        if self.is_range(part):
            return int(self.chunk[part]), int(self.start[part]) + offset
        return int(self.chunk[part]), int(self.items(part)[offset])

    # -- derived selections ------------------------------------------------------------
    def subsample(self, count: int, seed: int) -> Selection:
        """``count`` of the selected items, drawn without replacement, fixed by ``seed``.

        How many items each part keeps is one multivariate hypergeometric draw (exactly
        as if ``count`` items were drawn from all of them); which items, a per-chunk draw
        made only when the chunk is read.
        """
        total = len(self)
        if not 0 <= count <= total:
            raise ValueError(f"cannot keep {count} of {total} items")
        rng = seeded_rng(seed, 5)
        kept = rng.multivariate_hypergeometric(self.counts, count, method="marginals") if total else self.counts
        used = np.flatnonzero(kept > 0)
        if all(self.is_range(int(p)) for p in used.tolist()):
            return Selection(self.chunk[used].copy(), self.start[used].copy(), self.stop[used].copy(),
                             kept[used].astype(np.int64), seed)
        # A subsample of a subsample: the parts already drawn list their items.
        explicit = {}
        for new, part in enumerate(used.tolist()):
            items = self.items(part)
            choice = seeded_rng(seed, 7, int(self.chunk[part])).choice(len(items), int(kept[part]), replace=False)
            explicit[new] = items[np.sort(choice)]
        chunk, start, stop, picks, _ = self._parts(used)
        return Selection(chunk, start, stop, picks, self.pick_seed, explicit)

    def take(self, order: np.ndarray, start: int, stop: int) -> Selection:
        """The items at positions ``start..stop`` of the parts laid out in ``order``.

        ``order`` is a permutation of the parts; the result lists its parts in stored
        order again. Whole parts stay as they are; the (at most two) cut parts keep a
        range or list their items.
        """
        counts = self.counts[order]
        before = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        lo = np.clip(start - before, 0, counts)
        hi = np.clip(stop - before, 0, counts)
        kept = np.flatnonzero(hi > lo)
        by_chunk = np.argsort(order[kept], kind="stable")
        parts, lo, hi = order[kept][by_chunk], lo[kept][by_chunk], hi[kept][by_chunk]
        chunk, starts, stops, picks, explicit = self._parts(parts)
        for new in np.flatnonzero((lo > 0) | (hi < self.counts[parts])).tolist():  # the (at most two) cut parts
            part, a, b = int(parts[new]), int(lo[new]), int(hi[new])
            if self.is_range(part):
                starts[new], stops[new], picks[new] = self.start[part] + a, self.start[part] + b, b - a
            else:
                explicit[new] = self.items(part)[a:b]
        return Selection(chunk, starts, stops, picks, self.pick_seed, explicit)

    def fingerprint(self) -> list[int]:
        """A few numbers that change when the selection does (checked on resume)."""
        return [len(self), self.num_parts, int(self.chunk[0]) if self.num_parts else -1,
                int(self.chunk[-1]) if self.num_parts else -1]
