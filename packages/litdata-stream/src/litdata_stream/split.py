"""``train_test_split``: disjoint, deterministic splits with exact lengths.

Split ``k`` holds ``int(n * splits[k])`` of the dataset's ``n`` items (LitData's count);
no item is in two splits, and with fractions adding up to 1 (and exact products) every
item is in one.

* ``shuffle=False``: the items in stored order, cut at those sizes: contiguous ranges,
  each split holding whole chunks but at its two boundaries, so streaming one split
  downloads only its own chunks.
* ``shuffle=True`` (LitData's default): the splits are drawn from the shuffled items
  (seeded by ``seed``): every split samples every chunk. How many items of each chunk
  go to each split is a seeded hypergeometric draw; which ones, disjoint rank ranges of
  one seeded permutation per chunk, computed when the chunk is read. Either way a
  split costs a few numbers per chunk, whatever the number of items (a split of a
  ``subset`` lists the subset's irregular runs, as the subset itself does).

A split of an upsampled dataset (``subsample > 1``) cuts its positions: the repeats of
one item may land in different splits, as in LitData.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence

import numpy as np

from .dataset import StreamingDataset


def _check_splits(splits: Sequence[float]) -> list[float]:
    if isinstance(splits, (str, bytes)) or not isinstance(splits, Sequence) or not splits:
        raise ValueError(f"train_test_split: splits must be a non-empty list of fractions, got splits={splits!r}")
    for value in splits:
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
            raise ValueError(f"train_test_split: each split must be a fraction in [0, 1], got {value!r} in "
                             f"splits={list(splits)!r}")
    fractions = [float(value) for value in splits]
    if sum(fractions) > 1 + 1e-9:
        raise ValueError(f"train_test_split: the splits add up to {sum(fractions)}, more than 1 "
                         f"(splits={list(splits)!r})")
    return fractions


def train_test_split(streaming_dataset: StreamingDataset, splits: Sequence[float], seed: int = 42,
                     shuffle: bool = True) -> list[StreamingDataset]:
    """Split ``streaming_dataset`` into ``len(splits)`` disjoint datasets of
    ``int(n * fraction)`` items each (see the module docstring for ``shuffle``).

    Each split keeps the dataset's settings (``shuffle``, ``seed``, transforms, ...) and
    may itself be subset, split, mixed or resumed. A fraction of 0 gives an empty split
    (with a warning, as in LitData).

    Args:
        streaming_dataset: the dataset to split (its current selection: after any
            ``subsample``, subset or earlier split).
        splits: fractions in ``[0, 1]`` adding up to at most 1, one per split.
        seed: seeds which items go to which split (with ``shuffle``).
        shuffle: draw every split from the seeded shuffled items (True), or cut the stored
            order into contiguous ranges (False).

    Returns:
        One dataset per fraction, in the order of ``splits``; no item is in two of them.

    Raises:
        TypeError: if ``streaming_dataset`` is not a ``StreamingDataset``.
        ValueError: for fractions outside ``[0, 1]`` or adding up to more than 1.
    """
    if not isinstance(streaming_dataset, StreamingDataset):
        raise TypeError(f"train_test_split needs a StreamingDataset, got {type(streaming_dataset).__name__}")
    if not isinstance(shuffle, (bool, np.bool_)):
        raise ValueError(f"train_test_split: shuffle must be True or False, got shuffle={shuffle!r}")
    fractions = _check_splits(splits)
    selection = streaming_dataset._selection
    total = len(selection)
    sizes = [int(total * fraction + 1e-9) for fraction in fractions]
    if any(size == 0 for size in sizes):
        warnings.warn(f"train_test_split: splits={list(splits)!r} of {total} items gives empty splits "
                      f"(sizes {sizes})", UserWarning, stacklevel=2)
    if shuffle:
        parts = selection.shuffled_splits(sizes, int(seed))
    else:
        order = np.arange(selection.num_parts, dtype=np.int64)
        bounds = np.concatenate([[0], np.cumsum(sizes)]).tolist()
        parts = [selection.take(order, a, b) for a, b in zip(bounds[:-1], bounds[1:])]
    return [streaming_dataset._with_selection(part) for part in parts]
