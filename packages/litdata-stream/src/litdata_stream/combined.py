"""``CombinedStreamingDataset``: mix several streaming datasets by weight, resumably.

Mixing is planned like a single dataset: each rank's mixed sequence is a pure function
of the seed and the epoch (position p draws dataset d with the given weights; the k-th
draw of d is the k-th sample of d's own plan for this rank). The same draws are made on
every rank, so all ranks yield the same number of samples. The sequence is then cut
into batches and dealt to DataLoader workers exactly as for one dataset, which makes
``StreamingDataLoader`` state (epoch, batches consumed) enough to resume.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from torch.utils.data import IterableDataset

from .dataset import StreamingDataset
from .env import DistributedEnv, WorkerEnv
from .plan import rank_share, worker_plan
from .steering import LoaderSteered


def mix(lengths: Sequence[int], weights: Sequence[float], *, seed: int, epoch: int, iterate_over_all: bool) -> np.ndarray:
    """Which dataset each position of the mixed sequence draws from.

    Draws follow ``weights`` among the datasets that still have samples. Without
    ``iterate_over_all`` the sequence ends just before the first draw from an exhausted
    dataset; with it, an exhausted dataset leaves the draw and the others continue until
    all are exhausted.
    """
    rng = np.random.default_rng([seed & 0xFFFFFFFF, epoch & 0xFFFFFFFF, 23])
    remaining = np.asarray(lengths, dtype=np.int64).copy()
    weights_array = np.asarray(weights, dtype=np.float64)
    alive = (remaining > 0) & (weights_array > 0)
    if not iterate_over_all and ((remaining == 0) & (weights_array > 0)).any():
        return np.zeros(0, dtype=np.int64)  # a drawn dataset is exhausted from the start (weight 0: never drawn)
    parts: list[np.ndarray] = []
    while alive.any():
        candidates = np.flatnonzero(alive)
        probabilities = weights_array[candidates] / weights_array[candidates].sum()
        draws = candidates[rng.choice(len(candidates), size=int(remaining[candidates].sum()), p=probabilities)]
        # The first position at which some dataset would be drawn once more than it has.
        stop = len(draws)
        for d in candidates:
            hits = np.flatnonzero(draws == d)
            if len(hits) > remaining[d]:
                stop = min(stop, int(hits[remaining[d]]))
        taken = draws[:stop]
        parts.append(taken)
        remaining -= np.bincount(taken, minlength=len(remaining))
        if stop == len(draws) or not iterate_over_all:
            break
        alive = (remaining > 0) & (weights_array > 0)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


class CombinedStreamingDataset(LoaderSteered, IterableDataset):
    """Iterate several ``StreamingDataset``s as one, mixed by ``weights``.

    Args:
        datasets: the datasets to mix.
        seed: seeds the draws (new draws each epoch).
        weights: the sampling weights; by default proportional to the datasets' sizes.
        iterate_over_all: continue until every dataset is exhausted (default when no
            weights are given) or stop at the first exhausted one (default with weights).
    """

    def __init__(
        self,
        datasets: Sequence[StreamingDataset],
        seed: int = 42,
        weights: Sequence[float] | None = None,
        iterate_over_all: bool | None = None,
    ) -> None:
        super().__init__()
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("CombinedStreamingDataset needs at least one dataset")
        for dataset in self.datasets:
            if not isinstance(dataset, StreamingDataset):
                raise TypeError(f"CombinedStreamingDataset mixes StreamingDatasets, got {type(dataset).__name__}")
        if weights is not None:
            if (
                len(weights) != len(self.datasets)
                or not all(isinstance(w, numbers.Real) and math.isfinite(w) and w >= 0 for w in weights)
                or sum(weights) <= 0
            ):
                raise ValueError(f"weights must be {len(self.datasets)} non-negative numbers with a positive sum, got {weights}")
            self.weights = [float(w) for w in weights]
        else:
            self.weights = [float(d.num_items) for d in self.datasets]
        self.iterate_over_all = (weights is None) if iterate_over_all is None else bool(iterate_over_all)
        self.seed = int(seed)
        self._init_steering()

    def set_distributed_env(self, env: DistributedEnv | None) -> None:
        super().set_distributed_env(env)
        for dataset in self.datasets:
            dataset.set_distributed_env(env)

    def _plan(self, env: DistributedEnv) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """(dataset of each position, draw number within it, each dataset's rank samples)."""
        per_dataset = []
        for dataset in self.datasets:
            dataset.set_epoch(self.epoch)
            dataset.set_batch_size(1)
            per_dataset.append(dataset.rank_samples(env))
        choices = mix([len(s) for s in per_dataset], self.weights, seed=self.seed, epoch=self.epoch,
                      iterate_over_all=self.iterate_over_all)
        draw = np.zeros(len(choices), dtype=np.int64)
        for d in range(len(self.datasets)):
            hits = choices == d
            draw[hits] = np.arange(int(hits.sum()))
        return choices, draw, per_dataset

    def __len__(self) -> int:
        choices, _, _ = self._plan(self._env())
        return len(choices)

    def __iter__(self) -> Iterator[Any]:
        env, worker = self._env(), WorkerEnv.detect()
        choices, draw, per_dataset = self._plan(env)
        positions = rank_share(np.arange(len(choices)), world_size=1, rank=0, drop_last=False)
        plan = worker_plan(positions, batch_size=self.batch_size, num_workers=worker.num_workers,
                           worker_id=worker.worker_id, first_batch=self._start_iteration())
        mine = plan.samples
        streams = []
        for d, dataset in enumerate(self.datasets):
            wanted = per_dataset[d][draw[mine[choices[mine] == d]]]
            streams.append(dataset._iterate(wanted))
        return self._interleave(choices[mine].tolist(), streams)

    @staticmethod
    def _interleave(order: list[int], streams: list[Iterator[Any]]) -> Iterator[Any]:
        try:
            for d in order:
                yield next(streams[d])
        finally:
            for stream in streams:
                stream.close()  # type: ignore[attr-defined]
