"""Upsampling (``subsample > 1``), ``ds.subset(indices)`` and shuffled ``train_test_split``:
exact items and counts on every topology, resume, mixing, and the errors of bad input."""

from __future__ import annotations

import io
import random
import time
from collections import Counter

import numpy as np
import pytest
import torch

from litdata_format import ItemIndexError, write_dataset
from litdata_stream import CombinedStreamingDataset, StreamingDataLoader, StreamingDataset, train_test_split
from litdata_stream.selection import Selection

N = 48  # items 0..47 in chunks of 7: the last chunk is short
UP = 2.5  # 120 items: every item twice, 24 of them three times


@pytest.fixture
def items(tmp_path):
    path = tmp_path / "items"
    write_dataset(path, list(range(N)), chunk_size=7)
    return str(path)


@pytest.fixture
def pairs_dir(tmp_path):
    """A second dataset of (source, id) pairs, and a small one to mix in."""
    paths = []
    for source, n in ((0, 60), (1, 10)):
        path = tmp_path / f"d{source}"
        write_dataset(path, [(source, i) for i in range(n)], chunk_size=4)
        paths.append(str(path))
    return paths


def flat(batches) -> list[int]:
    return [x for b in batches for x in b.tolist()]


def expect_upsampled(counts: Counter, n: int, fraction: float) -> None:
    copies = int(fraction)
    extra = int(n * (fraction - copies))
    assert sorted(counts) == list(range(n))
    assert Counter(counts.values()) == Counter({copies + 1: extra, copies: n - extra})


# ------------------------------------------------------------------------- upsampling
def test_upsample_holds_each_item_two_or_three_times_fixed_by_the_seed(items):
    ds = StreamingDataset(items, subsample=UP, seed=3)
    assert len(ds) == ds.num_items == 120
    stored = ds[:]
    expect_upsampled(Counter(stored), N, UP)
    assert stored[:N] == stored[N : 2 * N] == list(range(N))  # two whole copies, then the extras
    assert StreamingDataset(items, subsample=UP, seed=3)[:] == stored
    other = StreamingDataset(items, subsample=UP, seed=4)[:]
    assert other != stored and sorted(other[2 * N :]) != sorted(stored[2 * N :])
    # LitData's count: whole copies while the fraction is at least 1, then int(n * rest).
    for fraction, length in ((3.0, 144), (1.25, 60), (2.3, 110), (0.5, 24), (1.0, 48)):
        assert len(StreamingDataset(items, subsample=fraction)) == length, fraction


def test_upsample_is_shuffled_with_repeats_apart(items):
    ds = StreamingDataset(items, subsample=UP, seed=3, shuffle=True)
    epochs = [list(ds) for _ in range(2)]
    for order in epochs:
        assert Counter(order) == Counter(ds[:])
    assert epochs[0] != epochs[1]
    # The copies of an item are separate positions: they are not next to each other.
    order = epochs[0]
    adjacent = sum(a == b for a, b in zip(order, order[1:]))
    assert adjacent <= 2, adjacent
    for algo in ("chunk", "block"):
        chunked = list(StreamingDataset(items, subsample=UP, seed=3, shuffle=True, shuffle_algo=algo))
        assert Counter(chunked) == Counter(ds[:]) and chunked != ds[:]


def _rank_run(path, monkeypatch, world, rank, *, workers=0, batches=None, state=None, batch_size=4, **kwargs):
    monkeypatch.setenv("WORLD_SIZE", str(world))
    monkeypatch.setenv("RANK", str(rank))
    ds = StreamingDataset(path, **kwargs)
    loader = StreamingDataLoader(ds, batch_size=batch_size, num_workers=workers)
    if state is not None:
        loader.load_state_dict(state)
    taken = []
    for batch in loader:
        taken.append(batch)
        if batches is not None and len(taken) == batches:
            break
    return flat(taken), loader.state_dict()


@pytest.mark.parametrize("world", [1, 2, 3])
@pytest.mark.parametrize("workers", [0, 1, 2])
def test_every_topology_serves_the_same_exact_multiset(items, monkeypatch, world, workers):
    # 120 items, batches of 4: every rank's share is whole batches, nothing dropped or padded.
    runs = [_rank_run(items, monkeypatch, world, r, workers=workers, subsample=UP, seed=7, shuffle=True)[0]
            for r in range(world)]
    assert {len(run) for run in runs} == {120 // world}
    served = Counter(x for run in runs for x in run)
    monkeypatch.delenv("WORLD_SIZE")
    monkeypatch.delenv("RANK")
    reference = StreamingDataset(items, subsample=UP, seed=7)
    assert served == Counter(reference[:])
    expect_upsampled(served, N, UP)


WORKERS_0_2 = [0, pytest.param(2, marks=pytest.mark.slow)]


@pytest.mark.parametrize("workers", WORKERS_0_2)
def test_resume_at_random_points_matches_the_uninterrupted_run(items, monkeypatch, workers):
    kwargs = dict(subsample=UP, seed=11, shuffle=True, workers=workers)
    for world in (1, 2):
        whole = [_rank_run(items, monkeypatch, world, r, **kwargs)[0] for r in range(world)]
        batches = len(whole[0]) // 4
        for stop_after in random.Random(world * 10 + workers).sample(range(1, batches), 2):
            for rank in range(world):
                before, state = _rank_run(items, monkeypatch, world, rank, batches=stop_after, **kwargs)
                buffer = io.BytesIO()
                torch.save(state, buffer)
                after, _ = _rank_run(items, monkeypatch, world, rank,
                                     state=torch.load(io.BytesIO(buffer.getvalue())), **kwargs)
                assert before + after == whole[rank], (world, rank, stop_after)


def test_a_state_of_another_upsample_or_subset_is_refused(items):
    loader = StreamingDataLoader(StreamingDataset(items, subsample=UP, seed=1), batch_size=4)
    stream = iter(loader)
    next(stream)
    state = loader.state_dict()
    del stream
    other = StreamingDataLoader(StreamingDataset(items, subsample=2.4, seed=1), batch_size=4)
    with pytest.raises(ValueError, match="cannot resume .* num_items=120, the dataset has num_items=115"):
        other.load_state_dict(state)
    # Same length, other items: the selection digest tells them apart.
    a = StreamingDataset(items).subset([1, 2, 3, 4])
    loader = StreamingDataLoader(a, batch_size=2)
    stream = iter(loader)
    next(stream)
    state = loader.state_dict()
    del stream
    same = StreamingDataLoader(StreamingDataset(items).subset([1, 2, 3, 4]), batch_size=2)
    same.load_state_dict(state)
    assert flat(same) == [3, 4]
    with pytest.raises(ValueError, match="cannot resume .* selection="):
        StreamingDataLoader(StreamingDataset(items).subset([1, 2, 3, 5]), batch_size=2).load_state_dict(state)


def test_an_upsampled_small_dataset_mixed_in_gives_exact_counts(pairs_dir):
    big = StreamingDataset(pairs_dir[0], shuffle=True, seed=2)
    small = StreamingDataset(pairs_dir[1], shuffle=True, seed=2, subsample=UP)  # 25 items
    mixture = CombinedStreamingDataset([big, small], seed=4, iterate_over_all=True)
    for workers in (0, 2):
        seen = [(s, i) for b in StreamingDataLoader(mixture, batch_size=5, num_workers=workers)
                for s, i in zip(b[0].tolist(), b[1].tolist())]
        assert len(seen) == len(mixture) == 60 + 25
        assert Counter(i for s, i in seen if s == 0) == Counter(range(60))
        small_counts = Counter(i for s, i in seen if s == 1)
        assert small_counts == Counter(i for _, i in small[:])
        expect_upsampled(small_counts, 10, UP)


# ------------------------------------------------------------------------------ subset
def test_subset_keeps_the_order_and_duplicates(items):
    ds = StreamingDataset(items)
    chosen = [5, 3, 3, 40, 41, 42, 47, 0, 8, 6]
    sub = ds.subset(chosen)
    assert len(sub) == len(chosen) and sub[:] == chosen and list(sub) == chosen
    assert sub[1] == 3 and sub[-1] == 6
    assert ds.subset(slice(10, 30, 3))[:] == list(range(10, 30, 3))
    assert ds.subset(np.arange(7, 21))[:] == list(range(7, 21))
    assert ds.subset([])[:] == [] and len(ds.subset([])) == 0
    assert ds[:] == list(range(N))  # the original is untouched
    # A subset of a subsample or an upsample picks among its positions.
    up = StreamingDataset(items, subsample=UP, seed=5)
    assert up.subset([0, 50, 119, 119])[:] == [up[0], up[50], up[119], up[119]]
    half = StreamingDataset(items, subsample=0.5, seed=5)
    assert half.subset(range(0, 24, 2))[:] == half[:][0:24:2]


def test_a_subset_of_a_range_costs_one_part_per_chunk(items):
    sub = StreamingDataset(items).subset(range(3, 45))
    assert sub._selection.num_parts == 7 and not sub._selection.explicit
    scattered = StreamingDataset(items).subset([6, 4, 2, 9])  # one chunk, not consecutive: listed
    assert scattered._selection.num_parts == 2 and scattered[:] == [6, 4, 2, 9]


def test_subset_composes_with_shuffle_split_and_mixing(items, pairs_dir):
    chosen = list(range(40, 0, -3))  # 14 items
    sub = StreamingDataset(items, shuffle=True, seed=9).subset(chosen)
    epoch = list(sub)
    assert sorted(epoch) == sorted(chosen) and epoch != chosen
    for shuffle in (False, True):
        parts = train_test_split(sub, [0.5, 0.5], shuffle=shuffle)
        assert [len(p) for p in parts] == [7, 7]
        assert sorted(parts[0][:] + parts[1][:]) == sorted(chosen)
        if not shuffle:
            assert parts[0][:] == chosen[:7] and parts[1][:] == chosen[7:]
    small = StreamingDataset(pairs_dir[1]).subset([1, 1, 9])
    mixture = CombinedStreamingDataset([StreamingDataset(pairs_dir[0]), small], iterate_over_all=True)
    seen = [(s, i) for b in StreamingDataLoader(mixture, batch_size=4) for s, i in zip(b[0].tolist(), b[1].tolist())]
    assert Counter(i for s, i in seen if s == 1) == Counter([1, 1, 9])


@pytest.mark.parametrize("workers", WORKERS_0_2)
def test_subset_resumes_at_random_points(items, workers):
    chosen = [int(x) for x in np.random.default_rng(0).choice(N, 30)]

    def loader():
        return StreamingDataLoader(StreamingDataset(items, shuffle=True, seed=2).subset(chosen), batch_size=3,
                                   num_workers=workers)

    whole = flat(loader())
    assert sorted(whole) == sorted(chosen)
    for stop_after in random.Random(workers).sample(range(1, 10), 3):
        first, taken = loader(), []
        for batch in first:
            taken.append(batch)
            if len(taken) == stop_after:
                break
        resumed = loader()
        resumed.load_state_dict(first.state_dict())
        assert flat(taken) + flat(resumed) == whole, stop_after


def test_subset_indices_outside_are_refused(items):
    ds = StreamingDataset(items)
    with pytest.raises(ItemIndexError, match=r"subset index 48 \(indices\[1\]\) is out of range for a dataset of "
                                             r"48 items \(0 \.\. 47\)"):
        ds.subset([3, 48])
    with pytest.raises(ValueError, match="subset index -1"):  # ItemIndexError is a ValueError too (LitData's)
        ds.subset([-1])
    with pytest.raises(IndexError, match="subset index 9 "):
        StreamingDataset(items, subsample=0.1).subset([9])  # 4 items
    with pytest.raises(TypeError, match="subset needs a sequence of ints or a slice"):
        ds.subset([1.5])
    with pytest.raises(TypeError, match="subset needs a sequence of ints or a slice"):
        ds.subset(3)


# ------------------------------------------------------------------ train_test_split
def test_shuffled_splits_are_disjoint_exact_and_seeded(items):
    ds = StreamingDataset(items)
    splits = train_test_split(ds, [0.5, 0.25, 0.25], seed=1)  # shuffle=True: LitData's default
    assert [len(s) for s in splits] == [24, 12, 12]
    contents = [s[:] for s in splits]
    assert sorted(x for c in contents for x in c) == list(range(N))
    assert contents != [list(range(24)), list(range(24, 36)), list(range(36, 48))]
    assert all(c == sorted(c) for c in contents)  # each split keeps stored order
    assert [s[:] for s in train_test_split(ds, [0.5, 0.25, 0.25], seed=1)] == contents
    assert [s[:] for s in train_test_split(ds, [0.5, 0.25, 0.25], seed=2)] != contents
    # Every split samples the chunks, not whole chunks.
    assert len({x // 7 for x in contents[1]}) > 3
    stored = train_test_split(ds, [0.5, 0.25, 0.25], shuffle=False)
    assert [s[:] for s in stored] == [list(range(24)), list(range(24, 36)), list(range(36, 48))]
    partial = train_test_split(ds, [0.3, 0.2], seed=3)  # 14 + 9 of 48: the rest in no split
    assert [len(s) for s in partial] == [14, 9] and not set(partial[0][:]) & set(partial[1][:])


def test_shuffled_splits_of_subsamples_and_upsamples(items):
    half = StreamingDataset(items, subsample=0.5, seed=4)
    a, b = train_test_split(half, [0.75, 0.25], seed=8)
    assert (len(a), len(b)) == (18, 6) and sorted(a[:] + b[:]) == sorted(half[:])
    up = StreamingDataset(items, subsample=UP, seed=4)
    a, b = train_test_split(up, [0.5, 0.5], seed=8)
    assert len(a) == len(b) == 60 and Counter(a[:] + b[:]) == Counter(up[:])
    # A split of a split is still exact, and so is a split of a shuffled split's subset.
    c, d = train_test_split(a, [0.5, 0.5], seed=9)
    assert len(c) == len(d) == 30 and Counter(c[:] + d[:]) == Counter(a[:])
    e, f = train_test_split(c.subset(range(0, 30, 2)), [0.6, 0.4], seed=1)
    assert (len(e), len(f)) == (9, 6) and Counter(e[:] + f[:]) == Counter(c[:][0:30:2])


@pytest.mark.parametrize("workers", [0, 2])
def test_a_shuffled_split_streams_its_items_on_every_topology(items, monkeypatch, workers):
    train, _ = train_test_split(StreamingDataset(items, shuffle=True, seed=3), [0.75, 0.25], seed=5)  # 36
    expected = Counter(train[:])
    for world in (1, 2, 3):
        monkeypatch.setenv("WORLD_SIZE", str(world))
        served = Counter()
        for rank in range(world):
            monkeypatch.setenv("RANK", str(rank))
            served.update(flat(StreamingDataLoader(train, batch_size=3, num_workers=workers)))
        assert served == expected, world  # 36 = 3 ranks x 4 batches of 3: nothing dropped


def test_bad_splits_and_subsamples_are_refused(items):
    ds = StreamingDataset(items)
    with pytest.raises(ValueError, match=r"the splits add up to 1.2, more than 1 \(splits=\[0.7, 0.5\]\)"):
        train_test_split(ds, [0.7, 0.5])
    with pytest.raises(ValueError, match=r"each split must be a fraction in \[0, 1\], got -0.1"):
        train_test_split(ds, [0.5, -0.1])
    with pytest.raises(ValueError, match=r"each split must be a fraction in \[0, 1\], got '0.5'"):
        train_test_split(ds, ["0.5"])
    with pytest.raises(ValueError, match="splits must be a non-empty list"):
        train_test_split(ds, [])
    with pytest.raises(ValueError, match="shuffle must be True or False"):
        train_test_split(ds, [0.5], shuffle="yes")
    with pytest.warns(UserWarning, match="gives empty splits"):
        empty, rest = train_test_split(ds, [0.0, 1.0])
    assert len(empty) == 0 and list(empty) == [] and sorted(rest[:]) == list(range(N))
    for bad in (0, -1.5, "2", True, float("nan"), None):
        with pytest.raises(ValueError, match=f"subsample must be a number greater than 0 .*got subsample={bad!r}"):
            StreamingDataset(items, subsample=bad)


# -------------------------------------------------------------------------- cost
def test_upsample_and_splits_cost_a_few_numbers_per_chunk():
    """A billion items in 100,000 chunks: no array of items anywhere."""
    full = Selection.full([10_000] * 100_000)
    began = time.perf_counter()
    up = full.resample(2.5, seed=1)
    splits = up.shuffled_splits([1_000_000_000, 500_000_000, 1_000_000_000], seed=2)
    elapsed = time.perf_counter() - began
    # Two copies of the 100,000 chunks and, per chunk, one part drawing its extra items.
    assert len(up) == 2_500_000_000 and up.num_parts == 300_000 and not up.explicit
    assert int(up.picks[200_000:].sum()) == 500_000_000 and int(up.picks[200_000:].max()) < 10_000
    assert [len(s) for s in splits] == [1_000_000_000, 500_000_000, 1_000_000_000]
    assert all(s.num_parts <= 300_000 and not s.explicit for s in splits)
    assert elapsed < 5, elapsed
    # Items are drawn per part when read, disjoint across splits.
    for part in (0, 123_456):
        chunk = int(up.chunk[part])
        taken = [s.items(int(np.flatnonzero(s.chunk == chunk)[0])) for s in splits]
        assert sum(len(t) for t in taken) == 10_000  # the first copy of the chunk, split three ways
        assert len(np.unique(np.concatenate(taken))) == sum(len(t) for t in taken)
