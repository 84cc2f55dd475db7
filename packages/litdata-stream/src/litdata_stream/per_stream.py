"""The plan of a ``per_stream`` mixture: every batch holds samples of one dataset.

A rank's epoch is a sequence of batches, each a run of consecutive samples of one
dataset's own rank plan: batch ``k`` of dataset ``d`` is its samples
``k*b_d .. (k+1)*b_d - 1`` (``b_d``: its batch size; its last batch may be shorter,
unless that dataset has ``drop_last=True``). Which dataset each batch of the mixed
sequence takes is drawn by weight with :func:`litdata_stream.combined.mix`, counting
batches instead of samples. The whole sequence is thus a pure function of the seed, the
epoch and the datasets' plans:

- every rank draws the same datasets in the same order (each dataset's rank plans are
  equally long on every rank), so all ranks get equal batches;
- mixed batch ``j`` goes to DataLoader worker ``j mod num_workers`` as for one dataset,
  so the batches do not depend on ``num_workers``, and a resume on the same topology
  skips the batches consumed;
- a resume on another topology (or other batch sizes) re-plans every dataset over what
  no rank has served, which is known from the samples of each dataset consumed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StreamBatches:
    """One rank's mixed batches: dataset, first sample (of that dataset's rank plan) and size."""

    datasets: np.ndarray
    starts: np.ndarray
    sizes: np.ndarray

    def __len__(self) -> int:
        return len(self.datasets)

    def samples_per_dataset(self, batches: int, num_datasets: int) -> list[int]:
        """Samples of each dataset that the first ``batches`` batches hold."""
        taken = slice(0, max(min(batches, len(self)), 0))
        counts = np.bincount(self.datasets[taken], weights=self.sizes[taken], minlength=num_datasets)
        return [int(c) for c in counts]


def dataset_batches(samples: int, batch_size: int, drop_partial: bool) -> int:
    """Batches a dataset with ``samples`` on this rank contributes."""
    return samples // batch_size if drop_partial else -(-samples // batch_size)


def plan_stream_batches(samples: Sequence[int], batch_sizes: Sequence[int], drop_partial: Sequence[bool],
                        weights: Sequence[float], *, seed: int, epoch: int, iterate_over_all: bool,
                        replans: int = 0) -> StreamBatches:
    """The mixed batches of a rank whose datasets have ``samples`` each in this epoch."""
    from .combined import mix  # the draws are the stratified mixture's, counted in batches

    counts = [dataset_batches(n, b, drop) for n, b, drop in zip(samples, batch_sizes, drop_partial)]
    chosen = mix(counts, weights, seed=seed, epoch=epoch, iterate_over_all=iterate_over_all, replans=replans)
    draw = np.zeros(len(chosen), dtype=np.int64)  # the k-th batch of its dataset
    for d in range(len(counts)):
        hits = chosen == d
        draw[hits] = np.arange(int(hits.sum()))
    sizes_of = np.asarray(batch_sizes, dtype=np.int64)
    starts = draw * sizes_of[chosen] if len(chosen) else np.zeros(0, dtype=np.int64)
    ends = np.minimum(starts + sizes_of[chosen], np.asarray(samples, dtype=np.int64)[chosen]) if len(chosen) \
        else np.zeros(0, dtype=np.int64)
    return StreamBatches(chosen.astype(np.int64), starts, ends - starts)


def check_batch_sizes(batch_size: object, num_datasets: int) -> tuple[int, ...] | None:
    """A list of per-dataset batch sizes as a tuple (None for one int); a clear error otherwise."""
    if isinstance(batch_size, (int, np.integer)) and not isinstance(batch_size, bool):
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive int or a list of them, got {batch_size!r}")
        return None
    if not isinstance(batch_size, Sequence) or isinstance(batch_size, (str, bytes)):
        raise ValueError(f"batch_size must be a positive int or a list of them, got {batch_size!r}")
    if len(batch_size) != num_datasets:
        raise ValueError(f"batch_size={list(batch_size)!r} gives {len(batch_size)} batch sizes for "
                         f"{num_datasets} datasets: give one per dataset")
    if not all(isinstance(b, (int, np.integer)) and not isinstance(b, bool) and b >= 1 for b in batch_size):
        raise ValueError(f"batch_size={list(batch_size)!r}: every batch size must be a positive int")
    return tuple(int(b) for b in batch_size)
