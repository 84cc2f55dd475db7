"""The lazy mixed sequence: exact exhaustion rules, range queries, and O(blocks) cost at 700 M draws."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest

from litdata_format import ChunkInfo, Index, write_dataset
from litdata_stream import CombinedStreamingDataset, StreamingDataset
from litdata_stream.mixing import LazyMix


def full(mix: LazyMix) -> tuple[np.ndarray, np.ndarray]:
    return mix.draws(0, len(mix))


@pytest.mark.parametrize("block", [1, 7, 64, 4096])
@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0), (0.7, 0.2, 0.1), (0.05, 5.0, 1.0)])
def test_iterate_over_all_draws_every_sample_of_every_dataset_once(block, weights):
    lengths = (300, 41, 1000)
    mix = LazyMix(lengths, weights, seed=3, epoch=1, iterate_over_all=True, block=block)
    datasets, draws = full(mix)
    assert len(mix) == sum(lengths)
    for d, n in enumerate(lengths):
        assert draws[datasets == d].tolist() == list(range(n))  # the k-th draw of d, in order
    assert mix.counts_before(len(mix)).tolist() == list(lengths)


@pytest.mark.parametrize("block", [1, 5, 64, 4096])
def test_without_iterate_over_all_the_sequence_ends_at_the_first_exhausted_dataset(block):
    lengths = (300, 41, 1000)
    for seed in range(5):
        mix = LazyMix(lengths, (1.0, 1.0, 1.0), seed=seed, epoch=0, iterate_over_all=False, block=block)
        datasets, draws = full(mix)
        counts = np.bincount(datasets, minlength=3)
        assert (counts <= lengths).all()
        exhausted = np.flatnonzero(counts == lengths)
        assert exhausted.tolist() == [1]  # the small one runs out first (300 and 1000 cannot by then)
        assert 41 <= len(mix) < 41 + 300 + 1000
        for d in range(3):
            assert draws[datasets == d].tolist() == list(range(counts[d]))


def test_an_empty_dataset_ends_the_sequence_at_once_unless_its_weight_is_zero():
    assert len(LazyMix((10, 0), (1.0, 1.0), seed=0, epoch=0, iterate_over_all=False)) == 0
    mix = LazyMix((10, 0, 5), (1.0, 0.0, 0.0), seed=0, epoch=0, iterate_over_all=False)
    assert full(mix)[0].tolist() == [0] * 10
    both = LazyMix((10, 0, 5), (1.0, 1.0, 2.0), seed=0, epoch=0, iterate_over_all=True)
    assert np.bincount(full(both)[0], minlength=3).tolist() == [10, 0, 5]


def test_any_range_and_any_prefix_agree_with_the_whole_sequence():
    mix = LazyMix((5000, 2000, 333), (0.5, 0.3, 0.2), seed=9, epoch=2, iterate_over_all=True, block=97)
    datasets, draws = full(mix)
    rng = np.random.default_rng(0)
    for start, stop in rng.integers(0, len(mix) + 50, size=(50, 2)):
        start, stop = sorted((int(start), int(stop)))
        d, k = mix.draws(start, stop)
        assert d.tolist() == datasets[start:stop].tolist() and k.tolist() == draws[start:stop].tolist()
        assert mix.counts_before(stop).tolist() == np.bincount(datasets[:stop], minlength=3).tolist()


def test_the_sequence_is_fixed_by_seed_epoch_and_replans_and_follows_the_weights():
    def seq(**kw):
        args = {"seed": 1, "epoch": 0, "replans": 0, **kw}
        return full(LazyMix((60_000, 60_000), (0.8, 0.2), iterate_over_all=False, **args))[0]

    base = seq()
    assert np.array_equal(base, seq())
    for other in (seq(seed=2), seq(epoch=1), seq(replans=1)):
        assert not np.array_equal(base[:1000], other[:1000])
    share = float(np.mean(base == 0))
    assert abs(share - 0.8) < 0.01
    assert len(base) >= 60_000  # dataset 0 runs out after ~75,000 draws


def test_a_mixture_of_700m_samples_is_planned_in_o_blocks(tmp_path):
    """len(), the state and a late range of a 500 M + 200 M mixture, without ever listing it."""
    write_dataset(tmp_path / "one", [i for i in range(10_000)], chunk_size=10_000)
    one = Index.load(tmp_path / "one")
    first = one.chunks[0]
    folders = []
    for name, chunks in (("big", 50_000), ("small", 20_000)):
        entries = [ChunkInfo(f"chunk-0-{i}.bin", first.chunk_size, first.chunk_bytes, first.dim, first.checksum)
                   for i in range(chunks)]
        (tmp_path / name).mkdir()
        Index(chunks=entries, config=one.config).dump(tmp_path / name)  # no chunk data: never read here
        folders.append(str(tmp_path / name))
    mixture = CombinedStreamingDataset([StreamingDataset(f, shuffle=True) for f in folders], seed=42)
    tracemalloc.start()
    began = time.perf_counter()
    assert len(mixture) == 700_000_000
    state = mixture.state_dict()
    seconds = time.perf_counter() - began
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 100e6, f"planning took {peak / 1e6:.0f} MB"  # a listed sequence: > 5,600 MB
    assert seconds < 30
    assert state["samples_consumed"] == 0
    mix, _ = mixture._plan(mixture._current_steering())
    assert mix.counts_before(len(mix)).tolist() == [500_000_000, 200_000_000]
    datasets, draws = mix.draws(len(mix) - 5000, len(mix))
    for d, n in enumerate((500_000_000, 200_000_000)):  # the last draws of each end its plan
        mine = draws[datasets == d]
        if len(mine):
            assert mine[-1] == n - 1
    assert abs(mix.counts_before(350_000_000)[0] / 350_000_000 - 5 / 7) < 1e-3
