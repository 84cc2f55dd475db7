"""No shuffle: an epoch visits the items in stored order (``shuffle=False``)."""

from __future__ import annotations

import numpy as np

from .base import EpochOrder, first_use


class StoredOrder(EpochOrder):
    """The unshuffled order: epoch position ``i`` is stored position ``i``."""

    name = "none"

    def stored(self, positions: np.ndarray) -> np.ndarray:
        """Return ``positions`` unchanged: without a shuffle the epoch is the stored order."""
        return positions

    def chunks_for(self, positions: np.ndarray) -> list[int]:
        """The chunks of ``positions`` in the order they are first reached."""
        chunks: list[int] = self.selection.chunk[first_use(self.selection.part_of(positions))].tolist()
        return chunks
