"""``train_test_split``: disjoint, deterministic splits with exact lengths.

Chunks are shuffled with the seed and their items laid out in that order; the sequence is
cut at the requested sizes. Each split therefore holds whole chunks (but at its two
boundaries), so streaming one split downloads only its own chunks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .dataset import StreamingDataset, group_by_chunk
from .plan import selection_indices


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
    order = np.random.default_rng([seed & 0xFFFFFFFF, 11]).permutation(len(selection))
    shuffled = [selection[i] for i in order]
    sequence = selection_indices(shuffled, dataset._offsets)
    total = len(sequence)
    results = []
    start = 0
    for fraction in fractions:
        count = int(total * fraction + 1e-9)
        part = np.sort(sequence[start : start + count])
        start += count
        results.append(dataset._with_selection(group_by_chunk(part, dataset._offsets)))
    return results
