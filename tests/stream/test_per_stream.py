"""``CombinedStreamingDataset(batching_method="per_stream")``: one dataset per batch, planned.

Every batch holds samples of one dataset (of that dataset's batch size), each dataset's
samples come exactly once per epoch, ranks get equal batches, and resuming yields exactly
what an uninterrupted run would have (same topology) or loses and repeats nothing
(another world size), for any number of workers.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from litdata_format import write_dataset
from litdata_stream import CombinedStreamingDataset, StreamingDataLoader, StreamingDataset, TokensLoader

from .ranks import rank_env, run_ranks

SIZES = (23, 17)


@pytest.fixture
def two(tmp_path):
    """Two datasets of (source, id) pairs: 23 and 17 items, 5 items a chunk."""
    paths = []
    for source, n in enumerate(SIZES):
        path = tmp_path / f"d{source}"
        write_dataset(path, [(source, i) for i in range(n)], chunk_size=5)
        paths.append(str(path))
    return paths


def mixture(paths, **kwargs) -> CombinedStreamingDataset:
    drop_last = kwargs.pop("drop_last", None)
    datasets = [StreamingDataset(p, shuffle=True, seed=3, drop_last=drop_last) for p in paths]
    return CombinedStreamingDataset(datasets, batching_method="per_stream", seed=7, **kwargs)


def batches_of(loader, stop: int | None = None) -> list[list[tuple[int, int]]]:
    """Each batch as its (source, id) pairs; checks that a batch holds one dataset."""
    out = []
    for batch in loader:
        pairs = list(zip(batch[0].tolist(), batch[1].tolist()))
        assert len({s for s, _ in pairs}) == 1, f"a per_stream batch mixes datasets: {pairs}"
        out.append(pairs)
        if stop is not None and len(out) == stop:
            break
    return out


def rank_run(paths, monkeypatch, world, rank, *, batch_size=(3, 4), workers=0, state=None, stop=None, **kwargs):
    monkeypatch.setenv("WORLD_SIZE", str(world))
    monkeypatch.setenv("RANK", str(rank))
    loader = StreamingDataLoader(mixture(paths, **kwargs), batch_size=list(batch_size), num_workers=workers)
    if state is not None:
        loader.load_state_dict(state)
    taken = batches_of(loader, stop)
    return taken, loader.state_dict()


def test_each_batch_is_one_dataset_of_its_size_and_every_item_comes_once(two, monkeypatch):
    taken, _ = rank_run(two, monkeypatch, 1, 0)
    flat = [pair for batch in taken for pair in batch]
    assert sorted(flat) == [(s, i) for s, n in enumerate(SIZES) for i in range(n)]
    for source, size in ((0, 3), (1, 4)):
        sizes = [len(b) for b in taken if b[0][0] == source]
        # every batch full but the dataset's last one
        assert sizes == [size] * (SIZES[source] // size) + [SIZES[source] % size]
    assert len({b[0][0] for b in taken[:6]}) == 2, "the datasets are interleaved batch by batch"


def test_batches_do_not_depend_on_num_workers(two, monkeypatch):
    runs = [rank_run(two, monkeypatch, 1, 0, workers=w)[0] for w in (0, 1, 2)]
    assert runs[0] == runs[1] == runs[2]
    loader = StreamingDataLoader(mixture(two), batch_size=[3, 4], num_workers=2)
    assert len(loader) == len(runs[0]) == 8 + 5  # ceil(23 / 3) + ceil(17 / 4)


def test_the_draws_follow_the_weights_and_the_seed(two, monkeypatch):
    def sources(seed, epoch=0):
        ds = CombinedStreamingDataset([StreamingDataset(p) for p in two], batching_method="per_stream", seed=seed,
                                      weights=[0.5, 0.5], iterate_over_all=True)
        loader = StreamingDataLoader(ds, batch_size=2)
        runs = [[b[0][0] for b in batches_of(loader)] for _ in range(epoch + 1)]
        return runs[-1]
    assert sources(1) == sources(1)
    assert sources(1) != sources(2)
    assert sources(1) != sources(1, epoch=1)  # new draws each epoch
    counts = Counter(sources(1))
    assert counts == {0: 12, 1: 9}  # iterate_over_all: every batch of both (ceil(23/2), ceil(17/2))


def test_without_iterate_over_all_the_epoch_stops_before_an_exhausted_dataset(two, monkeypatch):
    ds = CombinedStreamingDataset([StreamingDataset(p) for p in two], batching_method="per_stream", seed=5,
                                  weights=[0.2, 0.8], iterate_over_all=False)
    taken = batches_of(StreamingDataLoader(ds, batch_size=4))
    per = Counter(b[0][0] for b in taken)
    assert per[1] == 5 and per[0] < 6  # dataset 1 (5 batches) ran out first; dataset 0 left unfinished
    flat = [pair for b in taken for pair in b]
    assert len(flat) == len(set(flat)) == len(ds)


@pytest.mark.parametrize("world", [1, 2, 3])
@pytest.mark.parametrize("workers", [0, 2])
def test_ranks_get_equal_batches_of_the_same_datasets_and_distinct_items(two, monkeypatch, world, workers):
    runs = [rank_run(two, monkeypatch, world, r, workers=workers, drop_last=False)[0] for r in range(world)]
    shapes = {tuple((b[0][0], len(b)) for b in run) for run in runs}
    assert len(shapes) == 1, "every rank draws the same dataset and size for the same batch"
    for source, n in enumerate(SIZES):
        served = [i for run in runs for b in run for s, i in b if s == source]
        per_rank = -(-n // world)
        assert len(served) == per_rank * world
        assert set(served) == set(range(n))  # all of it; only the padding that evens ranks out repeats
        assert len(served) - len(set(served)) == per_rank * world - n


def test_drop_last_gives_full_batches_only(two, monkeypatch):
    taken, _ = rank_run(two, monkeypatch, 2, 0, drop_last=True)
    assert {len(b) for b in taken if b[0][0] == 0} == {3} and {len(b) for b in taken if b[0][0] == 1} == {4}
    assert Counter(b[0][0] for b in taken) == {0: 11 // 3, 1: 8 // 4}


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_resume_on_the_same_topology_yields_the_uninterrupted_run(two, monkeypatch, workers):
    rng = random.Random(workers)
    for world in (1, 2):
        for _ in range(2):
            whole = [rank_run(two, monkeypatch, world, r, drop_last=False)[0] for r in range(world)]
            stop = rng.randrange(1, len(whole[0]))
            first = [rank_run(two, monkeypatch, world, r, workers=workers, stop=stop, drop_last=False)
                     for r in range(world)]
            state = first[0][1]
            rest = [rank_run(two, monkeypatch, world, r, workers=workers, state=state, drop_last=False)[0]
                    for r in range(world)]
            for r in range(world):
                assert first[r][0] + rest[r] == whole[r], (world, stop)


@pytest.mark.parametrize(("old", "new"), [(1, 2), (2, 3), (3, 1)])
def test_resume_on_another_world_size_loses_and_repeats_nothing(two, monkeypatch, old, new):
    rng = random.Random(old * 10 + new)
    whole = rank_run(two, monkeypatch, old, 0, drop_last=False)[0]
    stop = rng.randrange(1, len(whole))
    before = [rank_run(two, monkeypatch, old, r, stop=stop, drop_last=False) for r in range(old)]
    state = before[0][1]
    after = [rank_run(two, monkeypatch, new, r, workers=2, state=state, drop_last=False)[0] for r in range(new)]
    assert len({len(run) for run in after}) == 1
    served = [p for run, _ in before for b in run for p in b] + [p for run in after for b in run for p in b]
    assert set(served) == {(s, i) for s, n in enumerate(SIZES) for i in range(n)}, "nothing lost"
    repeats = Counter(served) - Counter(set(served))
    assert sum(repeats.values()) <= 2 * (old - 1) + 2 * (new - 1), f"only padding repeats: {repeats}"


def test_resume_with_other_batch_sizes_replans_the_rest(two, monkeypatch):
    before, state = rank_run(two, monkeypatch, 1, 0, stop=4)
    after, _ = rank_run(two, monkeypatch, 1, 0, batch_size=(2, 2), state=state)
    served = [p for b in before + after for p in b]
    assert sorted(served) == [(s, i) for s, n in enumerate(SIZES) for i in range(n)]
    assert {len(b) for b in after} <= {1, 2}


def test_litdata_style_set_batch_size_after_the_loader(two):
    loader = StreamingDataLoader(mixture(two), batch_size=2, num_workers=1)
    loader.dataset.set_batch_size([5, 1])
    assert loader.dataset.batch_size == [5, 1]
    taken = batches_of(loader)
    assert Counter(len(b) for b in taken if b[0][0] == 0) == {5: 4, 3: 1}
    assert Counter(len(b) for b in taken if b[0][0] == 1) == {1: 17}


def test_token_and_item_datasets(tmp_path):
    write_dataset(tmp_path / "tok", [np.arange(k * 40, k * 40 + 40, dtype=np.int32) for k in range(3)],
                  chunk_size=60, item_loader="TokensLoader")
    write_dataset(tmp_path / "items", [{"x": i} for i in range(10)], chunk_size=4)

    def datasets():
        return [StreamingDataset(str(tmp_path / "tok"), item_loader=TokensLoader(block_size=10)),
                StreamingDataset(str(tmp_path / "items"))]

    mixed = CombinedStreamingDataset(datasets(), batching_method="per_stream")
    blocks, xs = [], []
    for batch in StreamingDataLoader(mixed, batch_size=[4, 3], num_workers=2):
        if isinstance(batch, dict):
            xs += batch["x"].tolist()
        else:
            assert batch.shape[1] == 10
            blocks += batch[:, 0].tolist()
    assert sorted(blocks) == list(range(0, 120, 10)) and sorted(xs) == list(range(10))
    with pytest.raises(ValueError, match=r"batching_method='stratified' .* datasets\[0\] \(token blocks of 10\) "
                                         r"with datasets\[1\] \(items\)"):
        StreamingDataLoader(CombinedStreamingDataset(datasets()), batch_size=4)
    StreamingDataLoader(CombinedStreamingDataset(datasets()), batch_size=4, collate_fn=list)  # its own collate


def test_errors(two):
    datasets = [StreamingDataset(p) for p in two]
    with pytest.raises(ValueError, match="batching_method must be 'stratified' or 'per_stream', got 'per_batch'"):
        CombinedStreamingDataset(datasets, batching_method="per_batch")
    with pytest.raises(ValueError, match=r"weights must be 2 non-negative numbers .* got weights=\[0.5\]"):
        CombinedStreamingDataset(datasets, weights=[0.5], batching_method="per_stream")
    per_stream = CombinedStreamingDataset(datasets, batching_method="per_stream")
    with pytest.raises(ValueError, match=r"batch_size=\[1, 2, 3\] gives 3 batch sizes for 2 datasets"):
        StreamingDataLoader(per_stream, batch_size=[1, 2, 3])
    with pytest.raises(ValueError, match=r"batch_size=\[2, 0\]: every batch size must be a positive int"):
        per_stream.set_batch_size([2, 0])
    with pytest.raises(ValueError, match=r"batch_size=\[2, 3\]: per-dataset batch sizes need batching_method="):
        CombinedStreamingDataset(datasets).set_batch_size([2, 3])
    for target in (datasets[0], CombinedStreamingDataset(datasets)):
        with pytest.raises(ValueError, match=r"batch_size=\[2, 3\]: a list of per-dataset batch sizes needs"):
            StreamingDataLoader(target, batch_size=[2, 3])


def test_a_stratified_state_is_refused_by_a_per_stream_mixture(two):
    loader = StreamingDataLoader(CombinedStreamingDataset([StreamingDataset(p) for p in two]), batch_size=2)
    next(iter(loader))
    state = loader.state_dict()
    per_stream = CombinedStreamingDataset([StreamingDataset(p) for p in two], batching_method="per_stream")
    other = StreamingDataLoader(per_stream, batch_size=2)
    with pytest.raises(ValueError, match="saved with batching_method='stratified', the mixture has "
                                         "batching_method='per_stream'"):
        other.load_state_dict(state)


RANK_SCRIPT = Path(__file__).with_name("per_stream_rank.py")


@pytest.mark.slow
def test_real_ranks_get_equal_per_stream_batches(two, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    run_ranks(RANK_SCRIPT, 2, [*two, str(out)], rank_env(tmp_path / "cache"), tmp_path)
    runs = [np.load(out / f"rank{r}.npy") for r in range(2)]
    assert runs[0].shape == runs[1].shape
    assert (runs[0][:, 0] == runs[1][:, 0]).all()  # same dataset for the same batch on both ranks
    for source, n in enumerate(SIZES):
        served = [int(i) for run in runs for s, i, _ in run.tolist() if s == source]
        assert len(served) == len(set(served)) == (n // 2) * 2  # drop_last by default on 2 ranks
    assert torch.tensor(runs[0][:, 2]).max() <= 4


def test_persistent_workers_follow_each_epoch_and_batch_sizes_set_between_epochs(two):
    def epochs(persistent):
        loader = StreamingDataLoader(mixture(two), batch_size=[3, 4], num_workers=2, persistent_workers=persistent)
        first = batches_of(loader)
        loader.dataset.set_batch_size([2, 5])
        return first, batches_of(loader)

    plain, persistent = epochs(False), epochs(True)
    assert plain == persistent
    assert plain[0] != plain[1]
    assert {len(b) for b in plain[1] if b[0][0] == 0} == {2, 1} and {len(b) for b in plain[1] if b[0][0] == 1} == {5, 2}
