"""``train_test_split``: disjoint, deterministic splits with exact lengths.

Chunks are shuffled with the seed and their items laid out in that order; the sequence is
cut at the requested sizes. Each split therefore holds whole chunks (but at its two
boundaries), so streaming one split downloads only its own chunks, and a split costs a
few numbers per chunk, whatever the number of items.
"""

from __future__ import annotations

from collections.abc import Sequence

from .dataset import StreamingDataset
from .selection import seeded_rng


def train_test_split(dataset: StreamingDataset, splits: Sequence[float], seed: int = 42) -> list[StreamingDataset]:
    """Split ``dataset`` into ``len(splits)`` datasets of ``floor(n * fraction)`` items each."""
    if not isinstance(dataset, StreamingDataset):
        raise TypeError(f"train_test_split needs a StreamingDataset, got {type(dataset).__name__}")
    fractions = [float(f) for f in splits]
    if not fractions or any(f <= 0 or f > 1 for f in fractions):
        raise ValueError(f"each split must be a fraction in (0, 1], got {list(splits)}")
    if sum(fractions) > 1 + 1e-9:
        raise ValueError(f"the splits add up to {sum(fractions)}, more than 1")
    selection = dataset._selection
    order = seeded_rng(seed, 11).permutation(selection.num_parts)
    total = len(selection)
    results = []
    start = 0
    for fraction in fractions:
        count = int(total * fraction + 1e-9)
        results.append(dataset._with_selection(selection.take(order, start, start + count)))
        start += count
    return results
