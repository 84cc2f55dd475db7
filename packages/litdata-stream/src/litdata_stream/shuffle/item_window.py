"""LitData's in-chunk windowed shuffle (``StreamingDataset(item_shuffle_window=W)``).

Chunks come in a seeded random order, as in the chunk shuffle; inside each chunk the
items are cut into aligned windows of ``W`` items (``[0, W)``, ``[W, 2W)``, ...), the
windows are put in a random order and the items of each window are shuffled. Items
that are stored close together are therefore read close together, which is what
LitData pairs with decoding a window of items at once. ``W`` of 0 or 1, or at least the
chunk's size, is a full permutation of the chunk: the chunk shuffle.

Only the concept is LitData's: the random streams are ours, so the exact order differs
from LitData's for the same seed.
"""

from __future__ import annotations

import os

import numpy as np

from ..selection import Selection, seeded_rng
from .chunk import ChunkShuffle

#: LitData's window for ``item_shuffle_window="auto"``.
DEFAULT_ITEM_SHUFFLE_WINDOW = 256
#: Sets the ``"auto"`` window, as in LitData.
ITEM_SHUFFLE_WINDOW_ENV = "LITDATA_ITEM_SHUFFLE_WINDOW"

_FULL = ("0", "off", "full", "all")


def resolve_item_shuffle_window(value: int | str | bool | None) -> int | None:
    """The window ``value`` names (0: a full in-chunk permutation); None: not asked for.

    ``"auto"`` is ``$LITDATA_ITEM_SHUFFLE_WINDOW`` or 256; ``"full"``/``0`` a full
    permutation of each chunk; ``True``/``False`` the auto window / a full permutation.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return DEFAULT_ITEM_SHUFFLE_WINDOW if value else 0
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"item_shuffle_window must be a number of items (0 or more), got {value}")
        return value
    if isinstance(value, str):
        key = value.strip().lower()
        if key in ("auto", ""):
            env = os.environ.get(ITEM_SHUFFLE_WINDOW_ENV, "").strip().lower()
            return DEFAULT_ITEM_SHUFFLE_WINDOW if env in ("", "auto") else resolve_item_shuffle_window(env)
        if key in _FULL:
            return 0
        if key.isdigit():
            return int(key)
    raise ValueError(
        f"item_shuffle_window must be a number of items, 'auto' or 'full', got {value!r}"
    )


def windowed_permutation(count: int, window: int, rng: np.random.Generator) -> np.ndarray:
    """A permutation of ``range(count)``: aligned windows in random order, each shuffled."""
    if window <= 1 or window >= count:
        return rng.permutation(count)
    starts = np.arange(0, count, window, dtype=np.int64)
    pieces = [start + rng.permutation(min(window, count - start)) for start in starts.tolist()]
    return np.concatenate([pieces[k] for k in rng.permutation(len(pieces)).tolist()])


class ItemWindowShuffle(ChunkShuffle):
    """The chunk shuffle, with each chunk's items permuted window by window."""

    name = "item_window"

    def __init__(self, selection: Selection, *, seed: int, epoch: int, window: int) -> None:
        super().__init__(selection, seed=seed, epoch=epoch)
        self.window = int(window)

    def _permutation(self, slot: int) -> np.ndarray:
        cached = self._permutations.get(slot)
        if cached is None:
            part = int(self.layout.order[slot])
            chunk = int(self.selection.chunk[part])
            rng = seeded_rng(self.seed, self.epoch, 2, chunk)
            cached = windowed_permutation(int(self.selection.counts[part]), self.window, rng)
            self._permutations[slot] = cached
            while len(self._permutations) > 8:
                self._permutations.popitem(last=False)
        return cached
