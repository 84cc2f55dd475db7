"""What every shuffle algorithm provides: an epoch's order of a selection's items.

An :class:`EpochOrder` maps the positions ``0 .. size-1`` of an epoch to *stored
positions* of the selection (see :mod:`litdata_stream.selection`), lazily: a reader asks
for the few positions of its next batch, and the algorithm computes only the part of
its permutation they fall in. Planning an epoch therefore costs O(chunks), and reading
costs O(items read), in every process.

Most algorithms first lay the selection's parts (one per chunk) out in some order;
:class:`PartLayout` turns a position of that layout into a stored position.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ..selection import Selection


class PartLayout:
    """The parts of ``selection`` one after another in ``order`` (a permutation of the parts)."""

    def __init__(self, selection: Selection, order: np.ndarray | None) -> None:
        self.selection = selection
        self.order = np.arange(selection.num_parts, dtype=np.int64) if order is None else order
        counts = selection.counts[self.order]
        self.cum = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=self.cum[1:])

    def slot_of(self, laid: np.ndarray) -> np.ndarray:
        """The index into ``order`` holding each laid-out position."""
        return np.searchsorted(self.cum, laid, side="right") - 1

    def stored(self, laid: np.ndarray) -> np.ndarray:
        """Stored positions of laid-out positions, each part's items in stored order."""
        slots = self.slot_of(laid)
        positions: np.ndarray = self.selection.cum[self.order[slots]] + (laid - self.cum[slots])
        return positions

    def chunks_of_slots(self, first: int, last: int) -> list[int]:
        """Chunk numbers of the parts in slots ``first..last`` (inclusive), in order."""
        chunks: list[int] = self.selection.chunk[self.order[first : last + 1]].tolist()
        return chunks


def first_use(values: np.ndarray) -> list[int]:
    """The distinct ``values`` in order of first appearance."""
    _, index = np.unique(values, return_index=True)
    distinct: list[int] = values[np.sort(index)].tolist()
    return distinct


class EpochOrder(ABC):
    """One epoch's order of a selection's items."""

    #: How many chunks a reader hops between at once (the chunks it keeps open).
    window_chunks: int = 1

    def __init__(self, selection: Selection) -> None:
        self.selection = selection
        self.size = len(selection)

    @abstractmethod
    def stored(self, positions: np.ndarray) -> np.ndarray:
        """Stored positions of epoch ``positions``."""

    @abstractmethod
    def chunks_for(self, positions: np.ndarray) -> list[int]:
        """The chunks reading ``positions`` needs, in order of first use (for the prefetcher)."""
