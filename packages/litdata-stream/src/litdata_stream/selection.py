"""Which items of which chunks a dataset uses: a handful of numbers per chunk, never one per item.

A dataset of a billion items in 100,000 chunks must answer ``len(ds)``, ``ds[i]``, a
subsample, an upsample and a split without an array of a billion indices. A
:class:`Selection` is a list of *parts* in stored order. Part ``p`` uses items of the
range ``start[p]..stop[p]`` of chunk ``chunk[p]``, in one of three forms:

* **ranged**: all of them;
* **drawn**: ``picks[p]`` of them, chosen by a seeded draw: the range is permuted by a
  generator keyed by ``draw[p]`` and the chunk, and the part keeps the ranks
  ``offset[p] .. offset[p] + picks[p]`` of that permutation (in stored order). A
  subsample keeps the first ranks; the splits of a shuffled ``train_test_split`` keep
  consecutive, disjoint rank ranges of the same permutation, so they are disjoint and
  exact at a few numbers per part, the items being computed only when a chunk is read;
* **explicit**: ``explicit[p]`` lists its items (the boundary chunk of a split of a
  subsample, or runs of a subset of chosen indices), costing memory only for them.

The same chunk may back several parts (an upsample repeats every part; a subset may
come back to a chunk): each part is a separate stretch of the epoch, so repeats of an
item are separate positions that a shuffle places independently.

Items are addressed by their *stored position*: 0 .. len-1 in stored order of the
selection. ``ds[i]`` reads stored position ``i``; the epoch plan permutes stored
positions.
"""

from __future__ import annotations

import hashlib
import math
import numbers
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from litdata_format import ItemIndexError


def seeded_rng(seed: int, *keys: int) -> np.random.Generator:
    """A generator fixed by ``seed`` and ``keys`` (the same stream in every process)."""
    return np.random.default_rng([seed & 0xFFFFFFFF, *(k & 0xFFFFFFFF for k in keys)])


#: Parts whose item arrays are kept computed, per process (the chunks being read).
_ITEM_CACHE_PARTS = 64

#: Which operation keyed a draw (kept in the high bits of ``draw``), so that a split and
#: a subsample with the same seed do not draw the same permutation of a chunk.
_SUBSAMPLE_DRAW, _SPLIT_DRAW = 0, 1


def _draw_key(seed: int, occurrence: np.ndarray, operation: int) -> np.ndarray:
    """Per-part draw keys: the seed's low 32 bits, the part's occurrence of its chunk, the operation."""
    keys: np.ndarray = (np.int64(seed & 0xFFFFFFFF) | (occurrence.astype(np.int64) << 32)
                        | np.int64(operation << 56)).astype(np.int64)
    return keys


def occurrences(chunks: np.ndarray) -> np.ndarray:
    """For each part, how many earlier parts use the same chunk (0 for its first part)."""
    n = len(chunks)
    order = np.argsort(chunks, kind="stable")
    ordered = chunks[order]
    first = np.ones(n, dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    group_start = np.maximum.accumulate(np.where(first, np.arange(n), 0)) if n else np.zeros(0, np.int64)
    result = np.empty(n, dtype=np.int64)
    result[order] = np.arange(n) - group_start
    return result


#: numpy's exact hypergeometric draws need populations below this.
_EXACT_DRAW_LIMIT = 10**9


def _hypergeometric(rng: np.random.Generator, good: np.ndarray, bad: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """How many of ``sample`` items drawn from ``good + bad`` are good, per entry: numpy's
    exact draw where it can, else (populations of a billion or more) its normal
    approximation, rounded and clipped to the possible range."""
    result = np.empty(len(good), dtype=np.int64)
    small = (good < _EXACT_DRAW_LIMIT) & (bad < _EXACT_DRAW_LIMIT)
    if small.any():
        result[small] = rng.hypergeometric(good[small], bad[small], sample[small])
    big = ~small
    if big.any():
        g, b, n = (x[big].astype(np.float64) for x in (good, bad, sample))
        population = g + b
        mean = n * g / population
        var = n * (g / population) * (b / population) * (population - n) / np.maximum(population - 1, 1)
        draw = np.rint(rng.normal(mean, np.sqrt(var))).astype(np.int64)
        result[big] = np.clip(draw, np.maximum(0, sample[big] - bad[big]), np.minimum(sample[big], good[big]))
    return result


def spread(counts: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """How many of ``total`` items drawn without replacement from parts of ``counts`` items
    fall in each part: a multivariate hypergeometric draw (exact sum, each at most its
    count). Any size: above numpy's limit the parts are halved recursively, one
    vectorized draw per level."""
    counts = np.asarray(counts, dtype=np.int64)
    if total == 0 or not len(counts):
        return np.zeros(len(counts), dtype=np.int64)
    if int(counts.sum()) < _EXACT_DRAW_LIMIT:
        return np.asarray(rng.multivariate_hypergeometric(counts, total, method="marginals"), dtype=np.int64)
    cum = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=cum[1:])
    lo, hi, want = np.array([0]), np.array([len(counts)]), np.array([total], dtype=np.int64)
    result = np.zeros(len(counts), dtype=np.int64)
    while len(lo):
        single = hi - lo == 1
        result[lo[single]] = want[single]
        lo, hi, want = lo[~single], hi[~single], want[~single]
        mid = (lo + hi) // 2
        left = _hypergeometric(rng, cum[mid] - cum[lo], cum[hi] - cum[mid], want)
        lo, hi, want = np.concatenate([lo, mid]), np.concatenate([mid, hi]), np.concatenate([left, want - left])
    return result


def resample_counts(total: int, fraction: float) -> tuple[int, int]:
    """(whole copies, extra items) of ``subsample=fraction`` over ``total`` items.

    LitData's rule: 1 subtracted from the fraction while it is at least 1 (each time one
    whole copy of the items), then ``int(total * rest)`` items more; a fraction close to
    1 is the items once. ``2.5`` over 10 items: 2 copies and 5 items, 25 in all.
    """
    if math.isclose(fraction, 1.0):
        return 1, 0
    copies, rest = 0, float(fraction)
    while rest >= 1.0:
        copies += 1
        rest -= 1.0
    return copies, int(total * rest) if rest > 0 else 0


def check_subsample(value: object) -> float:
    """``subsample`` as a float: any number above 0 (above 1: upsampling)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"subsample must be a number greater than 0 (a fraction, or above 1 to repeat items), "
                         f"got subsample={value!r}")
    return float(value)


def subset_positions(indices: Sequence[int] | slice | np.ndarray, size: int) -> np.ndarray:
    """``indices`` of a dataset of ``size`` items as an int64 array, each checked.

    A ``slice`` is resolved against ``size``; other indices must be ints in
    ``0 .. size-1`` (no negative indices, as in LitData): ``ItemIndexError`` names the first
    one outside.
    """
    if isinstance(indices, slice):
        return np.arange(*indices.indices(size), dtype=np.int64)
    if isinstance(indices, (str, bytes)) or not hasattr(indices, "__len__"):
        raise TypeError(f"subset needs a sequence of ints or a slice, got {type(indices).__name__}")
    array = np.asarray(indices)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.ndim != 1 or array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"subset needs a sequence of ints or a slice, got {array.dtype} values of shape {array.shape}")
    array = array.astype(np.int64)
    outside = np.flatnonzero((array < 0) | (array >= size))
    if len(outside):
        where = int(outside[0])
        raise ItemIndexError(f"subset index {int(array[where])} (indices[{where}]) is out of range for a dataset "
                             f"of {size} items (0 .. {size - 1})")
    return array


def _zeros(n: int) -> np.ndarray:
    """``n`` int64 zeros that take no memory (a read-only broadcast of one value)."""
    return np.broadcast_to(np.int64(0), (n,))


@dataclass
class Selection:
    """The items a dataset uses, grouped in parts (see the module docstring)."""

    chunk: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    picks: np.ndarray
    draw: np.ndarray | None = None
    offset: np.ndarray | None = None
    explicit: dict[int, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Columns nobody changes in place; the defaults are one shared zero (no memory per
        # part): a dataset of 100,000 chunks is planned in every process of a loader.
        n = len(self.chunk)
        self.draw = _zeros(n) if self.draw is None else np.asarray(self.draw, np.int64)
        self.offset = _zeros(n) if self.offset is None else np.asarray(self.offset, np.int64)
        if self.explicit:
            counts = self.picks.copy()
            for part, items in self.explicit.items():
                counts[part] = len(items)
        else:
            counts = self.picks
        self.counts = counts
        self.ranged = self.picks == self.stop - self.start
        for part in self.explicit:
            self.ranged[part] = False
        self.cum = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=self.cum[1:])
        self._items: OrderedDict[int, np.ndarray] = OrderedDict()
        self._fingerprint: list[int] | None = None

    # -- construction ------------------------------------------------------------------
    @classmethod
    def full(cls, chunk_sizes: Sequence[int]) -> Selection:
        """Every item of every non-empty chunk."""
        sizes = np.asarray(chunk_sizes, dtype=np.int64)
        used = np.flatnonzero(sizes > 0)
        stop = sizes if len(used) == len(sizes) else sizes[used]  # a loaded index's column, not a copy
        if stop.flags.writeable:
            stop = stop.copy()
            stop.flags.writeable = False
        return cls(used.astype(np.int64), _zeros(len(used)), stop, stop)

    @classmethod
    def concat(cls, selections: Sequence[Selection]) -> Selection:
        """The parts of ``selections`` one after another (an upsample: copies of one selection)."""
        if not selections:
            return cls.full([])
        explicit: dict[int, np.ndarray] = {}
        base = 0
        for selection in selections:
            for part, items in selection.explicit.items():
                explicit[base + part] = items
            base += selection.num_parts

        def joined(name: str) -> np.ndarray:
            return np.concatenate([getattr(s, name) for s in selections]).astype(np.int64)

        return cls(joined("chunk"), joined("start"), joined("stop"), joined("picks"), joined("draw"),
                   joined("offset"), explicit)

    def _parts(
        self, parts: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[int, np.ndarray]]:
        """Copies of the arrays of ``parts`` (indices into self, ascending), explicit items renumbered."""
        renumbered = {}
        for old, items in self.explicit.items():
            new = int(np.searchsorted(parts, old))
            if new < len(parts) and parts[new] == old:
                renumbered[new] = items
        assert self.draw is not None and self.offset is not None
        return (self.chunk[parts].copy(), self.start[parts].copy(), self.stop[parts].copy(),
                self.picks[parts].copy(), self.draw[parts].copy(), self.offset[parts].copy(), renumbered)

    # -- size and lookup ---------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.cum[-1])

    @property
    def num_parts(self) -> int:
        """How many parts (pieces of chunks) the selection holds."""
        return len(self.chunk)

    def is_range(self, part: int) -> bool:
        """Whether part ``part`` uses every item of its ``start..stop`` range."""
        return bool(self.ranged[part])

    def _drawn_items(self, part: int) -> np.ndarray:
        assert self.draw is not None and self.offset is not None
        width = int(self.stop[part] - self.start[part])
        key = int(self.draw[part])
        ranks = seeded_rng(key, 7, int(self.chunk[part]), key >> 32).permutation(width)
        first = int(self.offset[part])
        drawn: np.ndarray = np.sort(ranks[first : first + int(self.picks[part])]).astype(np.int64) + self.start[part]
        return drawn

    def items(self, part: int) -> np.ndarray:
        """The within-chunk positions part ``part`` uses, in stored order."""
        cached = self._items.get(part)
        if cached is not None:
            self._items.move_to_end(part)
            return cached
        if part in self.explicit:
            items = self.explicit[part]
        elif self.is_range(part):
            items = np.arange(self.start[part], self.stop[part], dtype=np.int64)
        else:
            items = self._drawn_items(part)
        self._items[part] = items
        while len(self._items) > _ITEM_CACHE_PARTS:
            self._items.popitem(last=False)
        return items

    def part_of(self, positions: np.ndarray) -> np.ndarray:
        """The part holding each stored position."""
        return np.searchsorted(self.cum, positions, side="right") - 1

    def within(self, positions: np.ndarray, parts: np.ndarray | None = None) -> np.ndarray:
        """The item within its chunk of each stored position (``parts``: their parts, if known).

        O(positions log positions) plus one item array per irregular part touched.
        """
        parts = self.part_of(positions) if parts is None else parts
        offsets = positions - self.cum[parts]
        result: np.ndarray = self.start[parts] + offsets
        irregular = np.flatnonzero(~self.ranged[parts])
        if len(irregular):
            by_part = irregular[np.argsort(parts[irregular], kind="stable")]
            grouped = parts[by_part]
            bounds = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]]).tolist() + [len(by_part)]
            for a, b in zip(bounds[:-1], bounds[1:]):
                hits = by_part[a:b]
                result[hits] = self.items(int(grouped[a]))[offsets[hits]]
        return result

    def locate(self, position: int) -> tuple[int, int]:
        """(chunk number, item within the chunk) of one stored position."""
        part = int(np.searchsorted(self.cum, position, side="right")) - 1
        offset = position - int(self.cum[part])
        if self.is_range(part):
            return int(self.chunk[part]), int(self.start[part]) + offset
        return int(self.chunk[part]), int(self.items(part)[offset])

    # -- derived selections ------------------------------------------------------------
    def _keep(self, kept: np.ndarray, first_rank: np.ndarray, seed: int, operation: int) -> Selection:
        """The parts keeping ``kept[p]`` items each: the ranks ``first_rank[p] ..`` of each
        part's seeded permutation of its items (all of them: the part as it is)."""
        used = np.flatnonzero(kept > 0)
        chunk, start, stop, picks, draw, offset, explicit = self._parts(used)
        kept, first_rank = kept[used], first_rank[used]
        whole = kept == self.counts[used]
        ranged = self.ranged[used]
        fresh = ranged & ~whole  # ranged parts drawn from now on
        draw[fresh] = _draw_key(seed, occurrences(self.chunk)[used][fresh], operation)
        offset[fresh] = first_rank[fresh]
        redrawn = ~ranged & ~whole  # already drawn: a sub-range of their ranks
        offset[redrawn] += first_rank[redrawn]
        picks[:] = np.where(whole, picks, kept)
        if explicit:
            occurrence = occurrences(self.chunk)[used]
            for new in list(explicit):
                if whole[new]:
                    continue
                items = explicit[new]
                ranks = seeded_rng(seed, 13 + operation, int(chunk[new]), int(occurrence[new])).permutation(len(items))
                a = int(first_rank[new])
                explicit[new] = items[np.sort(ranks[a : a + int(kept[new])])]
                picks[new] = len(explicit[new])
        return Selection(chunk, start, stop, picks, draw, offset, explicit)

    def subsample(self, count: int, seed: int) -> Selection:
        """``count`` of the selected items, drawn without replacement, fixed by ``seed``.

        How many items each part keeps is one multivariate hypergeometric draw (exactly
        as if ``count`` items were drawn from all of them); which items, a per-part draw
        made only when the chunk is read.
        """
        total = len(self)
        if not 0 <= count <= total:
            raise ValueError(f"cannot keep {count} of {total} items")
        rng = seeded_rng(seed, 5)
        kept = spread(self.counts, count, rng)
        return self._keep(kept, np.zeros(self.num_parts, np.int64), seed, _SUBSAMPLE_DRAW)

    def resample(self, fraction: float, seed: int) -> Selection:
        """``subsample=fraction`` of these items: below 1 a subsample; above 1 whole copies of
        them plus a subsample of the rest (see :func:`resample_counts`), each item
        ``floor(fraction)`` or ``floor(fraction) + 1`` times, fixed by ``seed``."""
        copies, extra = resample_counts(len(self), fraction)
        pieces = [self] * copies
        if extra or not copies:
            pieces.append(self.subsample(extra, seed))
        return pieces[0] if len(pieces) == 1 else Selection.concat(pieces)

    def shuffled_splits(self, sizes: Sequence[int], seed: int) -> list[Selection]:
        """Disjoint selections of ``sizes`` items, as if the items were shuffled and cut.

        How many items of each part go to each split: successive multivariate
        hypergeometric draws; which ones: consecutive rank ranges of one seeded
        permutation per part, so the splits never share an item and cost a few numbers
        per part (explicit parts list their items).
        """
        if sum(sizes) > len(self):
            raise ValueError(f"cannot split {len(self)} items into {list(sizes)}")
        rng = seeded_rng(seed, 17)
        remaining = self.counts.copy()
        first_rank = np.zeros(self.num_parts, np.int64)
        results = []
        for size in sizes:
            kept = spread(remaining, int(size), rng)
            results.append(self._keep(kept, first_rank.copy(), seed, _SPLIT_DRAW))
            remaining -= kept
            first_rank += kept
        return results

    def subset(self, positions: np.ndarray) -> Selection:
        """The items at stored ``positions`` (in range: the caller checks), in that order,
        duplicates kept.

        Consecutive positions in one chunk become one part: a range where they are
        consecutive items, else an explicit list. O(positions) time, and memory for the
        parts (a few numbers each) and the listed items.
        """
        positions = np.asarray(positions, dtype=np.int64)
        n = len(positions)
        if n == 0:
            return Selection.full([])
        parts = self.part_of(positions)
        within = self.within(positions, parts)
        chunks = self.chunk[parts]
        starts_group = np.ones(n, dtype=bool)
        starts_group[1:] = chunks[1:] != chunks[:-1]
        gap = np.zeros(n, dtype=bool)
        gap[1:] = (within[1:] != within[:-1] + 1) & ~starts_group[1:]
        firsts = np.flatnonzero(starts_group)
        lasts = np.r_[firsts[1:], n]
        counts = (lasts - firsts).astype(np.int64)
        broken = np.add.reduceat(gap.astype(np.int64), firsts) > 0
        start = within[firsts].copy()
        stop = start + counts
        explicit = {}
        for group in np.flatnonzero(broken).tolist():
            items = within[firsts[group] : lasts[group]].copy()
            explicit[group] = items
            start[group], stop[group] = int(items.min()), int(items.max()) + 1
        return Selection(chunks[firsts].copy(), start, stop, counts, None, None, explicit)

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
        chunk, starts, stops, picks, draw, offset, explicit = self._parts(parts)
        for new in np.flatnonzero((lo > 0) | (hi < self.counts[parts])).tolist():  # the (at most two) cut parts
            part, a, b = int(parts[new]), int(lo[new]), int(hi[new])
            if self.is_range(part):
                starts[new], stops[new], picks[new] = self.start[part] + a, self.start[part] + b, b - a
            else:
                explicit[new] = self.items(part)[a:b]
                picks[new] = b - a
        return Selection(chunk, starts, stops, picks, draw, offset, explicit)

    def fingerprint(self) -> list[int]:
        """A few numbers that change when the selection does (checked on resume): its size,
        parts, first and last chunk, and a digest of every part and listed item (so a
        subsample, upsample, subset or split of other items is told apart)."""
        if self._fingerprint is None:
            digest = hashlib.blake2b(digest_size=8)
            for array in (self.chunk, self.start, self.stop, self.picks, self.draw, self.offset):
                digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
            for part in sorted(self.explicit):
                digest.update(np.int64(part).tobytes())
                digest.update(np.ascontiguousarray(self.explicit[part], dtype=np.int64).tobytes())
            self._fingerprint = [len(self), self.num_parts, int(self.chunk[0]) if self.num_parts else -1,
                                 int(self.chunk[-1]) if self.num_parts else -1,
                                 int.from_bytes(digest.digest()[:6], "big")]
        return self._fingerprint
