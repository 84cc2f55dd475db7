"""The shuffle algorithms, one per module, chosen by name.

==========  ==========================================================================
``none``    stored order (``shuffle=False``)
``chunk``   chunks in random order, items shuffled within each chunk: one chunk open
            at a time, but a batch holds one or two chunks' items
``block``   chunks in random order, items permuted across blocks of
            ``shuffle_block_size`` items (several chunks): batches mix chunks; the
            chunks of a block are held in the cache together (default)
==========  ==========================================================================
"""

from __future__ import annotations

from ..selection import Selection
from .base import EpochOrder
from .block import BlockShuffle
from .chunk import ChunkShuffle
from .stored import StoredOrder

ALGORITHMS = ("block", "chunk")


def check_algorithm(name: str) -> str:
    """Return ``name`` if it is a known ``shuffle_algo``, else raise ``ValueError`` listing the choices."""
    if name not in ALGORITHMS:
        raise ValueError(f"unknown shuffle_algo {name!r}: choose one of {', '.join(map(repr, ALGORITHMS))}")
    return name


def epoch_order(selection: Selection, *, shuffle: bool, algorithm: str, seed: int, epoch: int,
                block_size: int) -> EpochOrder:
    """This epoch's order of ``selection`` under the chosen algorithm."""
    if not shuffle:
        return StoredOrder(selection)
    if check_algorithm(algorithm) == "chunk":
        return ChunkShuffle(selection, seed=seed, epoch=epoch)
    return BlockShuffle(selection, seed=seed, epoch=epoch, block_size=block_size)


__all__ = ["ALGORITHMS", "BlockShuffle", "ChunkShuffle", "EpochOrder", "StoredOrder", "check_algorithm",
           "epoch_order"]
