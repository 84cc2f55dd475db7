"""No shuffle: an epoch visits the items in stored order (``shuffle=False``)."""

from __future__ import annotations

import numpy as np

from .base import EpochOrder, first_use


class StoredOrder(EpochOrder):
    name = "none"

    def stored(self, positions: np.ndarray) -> np.ndarray:
        return positions

    def chunks_for(self, positions: np.ndarray) -> list[int]:
        return self.selection.chunk[first_use(self.selection.part_of(positions))].tolist()
