"""Block shuffle: chunks in a seeded random order, then items permuted across blocks of them.

The chunks are laid out in a random order (as the chunk shuffle does) and the sequence
is cut into blocks of ``block_size`` items; each block is permuted as a whole. A batch
therefore mixes items of every chunk of its block (about ``block_size / items per
chunk`` chunks), at the price of holding that many chunks in the cache at once.
``block_size`` at least the dataset's size is a full permutation. This is the default
of ``shuffle=True`` (``shuffle_algo="block"``); Mosaic Streaming's ``py1b`` is the
same idea.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..selection import Selection, seeded_rng
from .base import EpochOrder, PartLayout

_KEPT_BLOCKS = 4


class BlockShuffle(EpochOrder):
    """Chunks in a seeded random order, then items permuted within blocks of ``block_size`` items.

    The permutation of a block is computed only when a position in it is asked for, and the
    last few are kept, so reading a batch costs only the blocks it touches.
    """

    name = "block"

    def __init__(self, selection: Selection, *, seed: int, epoch: int, block_size: int) -> None:
        super().__init__(selection)
        if block_size < 1:
            raise ValueError(f"shuffle_block_size must be at least 1, got {block_size}")
        self.seed, self.epoch = seed, epoch
        self.block_size = min(int(block_size), max(self.size, 1))
        self.layout = PartLayout(selection, seeded_rng(seed, epoch, 0).permutation(selection.num_parts))
        mean = self.size / max(selection.num_parts, 1)
        self.window_chunks = int(np.ceil(self.block_size / max(mean, 1))) + 1
        self._blocks: OrderedDict[int, np.ndarray] = OrderedDict()

    def _bounds(self, block: int) -> tuple[int, int]:
        return block * self.block_size, min((block + 1) * self.block_size, self.size)

    def _permutation(self, block: int) -> np.ndarray:
        cached = self._blocks.get(block)
        if cached is None:
            start, stop = self._bounds(block)
            cached = seeded_rng(self.seed, self.epoch, 2, block).permutation(stop - start)
            self._blocks[block] = cached
            while len(self._blocks) > _KEPT_BLOCKS:
                self._blocks.popitem(last=False)
        return cached

    def stored(self, positions: np.ndarray) -> np.ndarray:
        """Stored positions of epoch ``positions``: permute within each block, then map through the layout."""
        blocks = positions // self.block_size
        laid = np.empty(len(positions), dtype=np.int64)
        for block in np.unique(blocks).tolist():
            hits = blocks == block
            laid[hits] = block * self.block_size + self._permutation(block)[positions[hits] - block * self.block_size]
        return self.layout.stored(laid)

    def chunks_for(self, positions: np.ndarray) -> list[int]:
        """Every chunk of each block that ``positions`` touch, block by block.

        A block's chunks are all needed at once, so the prefetcher gets them together.
        """
        chunks: list[int] = []
        blocks = positions // self.block_size
        _, first = np.unique(blocks, return_index=True)
        for block in blocks[np.sort(first)].tolist():
            start, stop = self._bounds(block)
            first_slot, last_slot = self.layout.slot_of(np.asarray([start, stop - 1]))
            chunks += self.layout.chunks_of_slots(int(first_slot), int(last_slot))
        return chunks
