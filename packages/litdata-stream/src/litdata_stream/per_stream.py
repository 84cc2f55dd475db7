"""The plan of a ``per_stream`` mixture: every batch holds samples of one dataset.

A rank's epoch is a sequence of batches, each a run of consecutive samples of one
dataset's own rank plan: batch ``k`` of dataset ``d`` is its samples
``k*b_d .. (k+1)*b_d - 1`` (``b_d``: its batch size; its last batch may be shorter,
unless that dataset has ``drop_last=True``). Which dataset each batch of the mixed
sequence takes is drawn by weight with :mod:`litdata_stream.mixing`, counting
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

import numpy as np

from .mixing import LazyMix, lazy_mix


class StreamBatches:
    """One rank's mixed batches, computed on demand from the lazy mix of batch draws.

    Mixed batch ``j`` is the ``k``-th batch of dataset ``d`` (``d, k`` from the mix): its
    samples ``k*b_d .. min((k+1)*b_d, n_d) - 1`` of that dataset's rank plan. Nothing
    here grows with the number of batches but the mix's per-block tables.
    """

    def __init__(self, mix: LazyMix, samples: Sequence[int], batch_sizes: Sequence[int]) -> None:
        self.mix = mix
        self._samples = np.asarray(samples, dtype=np.int64)
        self._sizes = np.asarray(batch_sizes, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.mix)

    def batches(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(dataset, first sample of its rank plan, size) of mixed batches ``start .. stop-1``."""
        datasets, draws = self.mix.draws(start, stop)
        starts = draws * self._sizes[datasets]
        ends = np.minimum(starts + self._sizes[datasets], self._samples[datasets])
        return datasets, starts, ends - starts

    def samples_per_dataset(self, batches: int) -> list[int]:
        """Samples of each dataset that the first ``batches`` batches hold (only a
        dataset's last batch can be short, so k batches of it hold min(k*b, n))."""
        counts = self.mix.counts_before(max(min(batches, len(self)), 0))
        return [int(c) for c in np.minimum(counts * self._sizes, self._samples)]

    def total_samples(self, first: int = 0) -> int:
        """Samples of the batches from ``first`` on."""
        every = self.samples_per_dataset(len(self))
        before = self.samples_per_dataset(first)
        return int(sum(every) - sum(before))


def dataset_batches(samples: int, batch_size: int, drop_partial: bool) -> int:
    """Batches a dataset with ``samples`` on this rank contributes."""
    return samples // batch_size if drop_partial else -(-samples // batch_size)


def plan_stream_batches(samples: Sequence[int], batch_sizes: Sequence[int], drop_partial: Sequence[bool],
                        weights: Sequence[float], *, seed: int, epoch: int, iterate_over_all: bool,
                        replans: int = 0) -> StreamBatches:
    """The mixed batches of a rank whose datasets have ``samples`` each in this epoch."""
    counts = [dataset_batches(n, b, drop) for n, b, drop in zip(samples, batch_sizes, drop_partial)]
    mix = lazy_mix(counts, weights, seed=seed, epoch=epoch, iterate_over_all=iterate_over_all, replans=replans)
    return StreamBatches(mix, samples, batch_sizes)


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
