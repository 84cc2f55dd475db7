"""Chunk-then-item shuffle: chunks in a seeded random order, items shuffled within each chunk.

The cheapest shuffle to stream: a reader finishes one chunk before it opens the next,
so it holds one chunk at a time. Its weakness is that a batch holds items of one or two
chunks: a dataset written in class order gives batches of one class. Chosen with
``shuffle_algo="chunk"``.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..selection import Selection, seeded_rng
from .base import EpochOrder, PartLayout, first_use

_KEPT_PERMUTATIONS = 8


class ChunkShuffle(EpochOrder):
    """Chunks in a seeded random order, items shuffled within each chunk.

    Each chunk's permutation is seeded by its chunk number and made on first use; the last
    few are kept for the next reads.
    """

    name = "chunk"

    def __init__(self, selection: Selection, *, seed: int, epoch: int) -> None:
        super().__init__(selection)
        self.seed, self.epoch = seed, epoch
        self.layout = PartLayout(selection, seeded_rng(seed, epoch, 0).permutation(selection.num_parts))
        self._permutations: OrderedDict[int, np.ndarray] = OrderedDict()

    def _permutation(self, slot: int) -> np.ndarray:
        cached = self._permutations.get(slot)
        if cached is None:
            part = int(self.layout.order[slot])
            chunk = int(self.selection.chunk[part])
            cached = seeded_rng(self.seed, self.epoch, 1, chunk).permutation(int(self.selection.counts[part]))
            self._permutations[slot] = cached
            while len(self._permutations) > _KEPT_PERMUTATIONS:
                self._permutations.popitem(last=False)
        return cached

    def stored(self, positions: np.ndarray) -> np.ndarray:
        """Stored positions of epoch ``positions``: find each one's chunk slot and permute within it."""
        layout = self.layout
        slots = layout.slot_of(positions)
        offsets = positions - layout.cum[slots]
        result = np.empty(len(positions), dtype=np.int64)
        for slot in np.unique(slots).tolist():
            hits = slots == slot
            result[hits] = self._permutation(slot)[offsets[hits]] + self.selection.cum[layout.order[slot]]
        return result

    def chunks_for(self, positions: np.ndarray) -> list[int]:
        """The chunks holding ``positions``, in the shuffled order they are first reached."""
        slots = first_use(self.layout.slot_of(positions))
        chunks: list[int] = self.selection.chunk[self.layout.order[slots]].tolist()
        return chunks
