"""Resume on another topology, persistent workers, and the state each layer saves."""

from __future__ import annotations

import io
from collections import Counter

import numpy as np
import pytest
import torch

from litdata_format import write_dataset
from litdata_stream import CombinedStreamingDataset, StreamingDataLoader, StreamingDataset


def ids(batches):
    return [x for b in batches for x in b[0].tolist()]


def roundtrip(state):
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return torch.load(io.BytesIO(buffer.getvalue()))


@pytest.fixture
def classes(tmp_path):
    """40 classes of 30 items stored in class order, one class per chunk."""
    path = tmp_path / "classes"
    write_dataset(path, [(c * 30 + i, c) for c in range(40) for i in range(30)], chunk_size=30)
    return str(path)


def served_by_world(monkeypatch, make, world_size, state, batches=None):
    """Every rank of a new world resumes from ``state`` (rank 0's) and serves ``batches``."""
    seen, next_state = {}, None
    for rank in range(world_size):
        monkeypatch.setenv("WORLD_SIZE", str(world_size))
        monkeypatch.setenv("RANK", str(rank))
        loader = make()
        if state is not None:
            loader.load_state_dict(state)
        got, count = [], 0
        for batch in loader:
            got += batch[0].tolist()
            count += 1
            if batches is not None and count == batches:
                break
        seen[rank] = (got, count)
        if rank == 0:
            next_state = roundtrip(loader.state_dict())
    counts = {c for _, c in seen.values()}
    assert len(counts) == 1, f"ranks served different numbers of batches: {seen}"
    return [x for got, _ in seen.values() for x in got], next_state


TOPOLOGIES = [(2, 3), (3, 1), (4, 2), (1, 4)]


@pytest.mark.parametrize("old, new", TOPOLOGIES)
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("num_workers", [0, 2])
def test_resume_on_another_world_size_loses_nothing_and_repeats_only_padding(
        squares, monkeypatch, old, new, shuffle, num_workers):
    def make():
        return StreamingDataLoader(StreamingDataset(squares, shuffle=shuffle, drop_last=False, seed=3),
                                   batch_size=5, num_workers=num_workers)

    first, state = served_by_world(monkeypatch, make, old, None, batches=4)
    rest, _ = served_by_world(monkeypatch, make, new, state)
    counts = Counter(first + rest)
    assert set(counts) == set(range(200))  # nothing of the epoch lost
    repeats = sum(c - 1 for c in counts.values())
    assert repeats < old + new  # fewer than one padded sample per rank and segment


def test_resume_on_another_world_with_drop_last_serves_nothing_twice(squares, monkeypatch):
    def make():
        return StreamingDataLoader(StreamingDataset(squares, shuffle=True, seed=3), batch_size=4, num_workers=1)

    first, state = served_by_world(monkeypatch, make, 3, None, batches=5)
    rest, _ = served_by_world(monkeypatch, make, 2, state)
    assert len(first + rest) == len(set(first + rest))
    assert 200 - len(set(first + rest)) < 3 * 4 + 2 * 4


def test_a_chain_of_topology_changes_within_one_epoch(squares, monkeypatch):
    def make(batch_size):
        return lambda: StreamingDataLoader(StreamingDataset(squares, shuffle=True, drop_last=False, seed=9),
                                           batch_size=batch_size, num_workers=2)

    a, state = served_by_world(monkeypatch, make(4), 2, None, batches=3)
    b, state = served_by_world(monkeypatch, make(6), 3, state, batches=2)
    c, state = served_by_world(monkeypatch, make(3), 1, state, batches=7)
    d, _ = served_by_world(monkeypatch, make(5), 4, state)
    counts = Counter(a + b + c + d)
    assert set(counts) == set(range(200))
    assert sum(v - 1 for v in counts.values()) < 2 + 3 + 1 + 4


@pytest.mark.parametrize("workers_before, workers_after", [(0, 3), (2, 1), (3, 0)])
def test_resume_with_another_batch_size_or_worker_count_is_exact(squares, workers_before, workers_after):
    def make(batch_size, workers):
        return StreamingDataLoader(StreamingDataset(squares, shuffle=True, seed=4), batch_size=batch_size,
                                   num_workers=workers)

    loader, seen = make(8, workers_before), []
    for number, batch in enumerate(loader):
        seen += batch[0].tolist()
        if number == 6:
            break
    resumed = make(5, workers_after)
    resumed.load_state_dict(roundtrip(loader.state_dict()))
    rest = ids(list(resumed))
    assert sorted(seen + rest) == list(range(200))
    assert len(list(resumed)) == len(resumed) == 40  # the next epoch is whole again


def test_same_topology_resume_yields_the_uninterrupted_sequence(squares):
    def make():
        return StreamingDataLoader(StreamingDataset(squares, shuffle=True, seed=2), batch_size=7, num_workers=2)

    reference = ids(list(make()))
    loader, seen = make(), []
    for number, batch in enumerate(loader):
        seen += batch[0].tolist()
        if number == 10:
            break
    resumed = make()
    resumed.load_state_dict(roundtrip(loader.state_dict()))
    assert seen + ids(list(resumed)) == reference


def test_a_state_saved_at_the_last_batch_resumes_into_the_next_epoch(squares):
    """The seed README's loop saves the state inside the loop: after the epoch's last batch,
    before the loop has ended (``finished`` is still False)."""

    def make():
        return StreamingDataLoader(StreamingDataset(squares, shuffle=True), batch_size=50, num_workers=2)

    uninterrupted = make()
    epochs = [ids(list(uninterrupted)) for _ in range(2)]
    loader, state = make(), None
    for _batch in loader:
        state = roundtrip(loader.state_dict())
    assert state["finished"] is False and state["batches_consumed"] == 4
    for _ in range(2):  # the seed loop reloads the same file on every later run
        resumed = make()
        resumed.load_state_dict(state)
        assert ids(list(resumed)) == epochs[1]


def test_a_state_of_the_first_release_still_loads(squares):
    loader = StreamingDataLoader(StreamingDataset(squares, shuffle=True, seed=5), batch_size=10, num_workers=1)
    reference = ids(list(loader))
    old = {"version": 1, "epoch": 0, "batches_consumed": 3, "finished": False, "batch_size": 10,
           "num_workers": 1, "world_size": 1, "rank": 0, "seed": 5, "shuffle": True}
    resumed = StreamingDataLoader(StreamingDataset(squares, shuffle=True, seed=5), batch_size=10, num_workers=2)
    resumed.load_state_dict(old)
    assert ids(list(resumed)) == reference[30:]
    with pytest.raises(ValueError, match="batch_size=10, this loader has batch_size=4"):
        StreamingDataLoader(StreamingDataset(squares, shuffle=True, seed=5), batch_size=4).load_state_dict(old)
    with pytest.raises(ValueError, match="unknown StreamingDataLoader state version 99"):
        resumed.load_state_dict({**old, "version": 99})


def test_each_layer_has_its_own_state(squares, tmp_path):
    small = tmp_path / "small"
    write_dataset(small, [(1000 + i, 0) for i in range(30)], chunk_size=8)
    mixture = CombinedStreamingDataset([StreamingDataset(squares, shuffle=True), StreamingDataset(small)],
                                       weights=[0.5, 0.5], iterate_over_all=True, seed=1)
    loader = StreamingDataLoader(mixture, batch_size=4)
    iterator = iter(loader)
    taken = [next(iterator) for _ in range(3)]
    state = loader.state_dict()
    assert state["dataset"]["type"] == "CombinedStreamingDataset"
    children = state["dataset"]["datasets"]
    assert [c["type"] for c in children] == ["StreamingDataset", "StreamingDataset"]
    drawn = Counter(0 if x < 1000 else 1 for b in taken for x in b[0].tolist())
    assert [c["batches_consumed"] for c in children] == [drawn[0], drawn[1]]  # each child counts its draws
    assert children[0]["num_items"] == 200 and children[1]["num_items"] == 30
    assert torch.load(io.BytesIO(_saved(state))) == state  # plain Python: torch.save and load it unchanged
    with pytest.raises(ValueError, match="num_items"):
        CombinedStreamingDataset([StreamingDataset(small), StreamingDataset(squares, shuffle=True)],
                                 weights=[0.5, 0.5], iterate_over_all=True, seed=1).load_state_dict(state["dataset"])


def _saved(state):
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("old, new", [(2, 3), (3, 1)])
def test_a_mixture_resumes_on_another_world_size(squares, tmp_path, monkeypatch, old, new):
    small = tmp_path / "small"
    write_dataset(small, [(1000 + i, 0) for i in range(45)], chunk_size=8)

    def make():
        mixture = CombinedStreamingDataset(
            [StreamingDataset(squares, shuffle=True, drop_last=False), StreamingDataset(small, drop_last=False)],
            weights=[0.6, 0.4], iterate_over_all=True, seed=2)
        return StreamingDataLoader(mixture, batch_size=3, num_workers=2)

    first, state = served_by_world(monkeypatch, make, old, None, batches=6)
    rest, _ = served_by_world(monkeypatch, make, new, state)
    counts = Counter(first + rest)
    assert set(counts) == set(range(200)) | set(range(1000, 1045))
    assert sum(c - 1 for c in counts.values()) < 2 * (old + new)  # padding of each dataset only


def test_persistent_workers_give_every_epoch_exactly_once_in_its_own_order(squares):
    plain = StreamingDataLoader(StreamingDataset(squares, shuffle=True, seed=8), batch_size=6, num_workers=2)
    reference = [ids(list(plain)) for _ in range(3)]
    persistent = StreamingDataLoader(StreamingDataset(squares, shuffle=True, seed=8), batch_size=6, num_workers=2,
                                     persistent_workers=True)
    epochs = [ids(list(persistent)) for _ in range(3)]
    assert epochs == reference
    assert all(sorted(e) == list(range(200)) for e in epochs) and epochs[0] != epochs[1]


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_persistent_workers_resume_mid_epoch(squares, context):
    def make():
        return StreamingDataLoader(StreamingDataset(squares, shuffle=True, seed=8), batch_size=6, num_workers=2,
                                   persistent_workers=True, multiprocessing_context=context)

    reference = make()
    flat = ids(list(reference)) + ids(list(reference))
    loader, seen = make(), []
    for number, batch in enumerate(loader):
        seen += batch[0].tolist()
        if number == 20:
            break
    state = roundtrip(loader.state_dict())
    resumed = make()
    resumed.load_state_dict(state)
    rest = ids(list(resumed)) + ids(list(resumed))
    assert (seen + rest)[: len(flat)] == flat


def test_in_order_false_is_refused(squares):
    with pytest.raises(ValueError, match="in_order=False is not supported"):
        StreamingDataLoader(StreamingDataset(squares), batch_size=4, num_workers=2, in_order=False)


def test_the_default_shuffle_mixes_chunks_of_a_class_sorted_dataset(classes):
    loader = StreamingDataLoader(StreamingDataset(classes, shuffle=True), batch_size=64, num_workers=2)
    per_batch = [len(set(b[1].tolist())) for b in loader]
    assert np.mean(per_batch) >= 6
    chunk_order = StreamingDataLoader(StreamingDataset(classes, shuffle=True, shuffle_algo="chunk"), batch_size=64)
    assert np.mean([len(set(b[1].tolist())) for b in chunk_order]) < 3.5
    full = StreamingDataLoader(StreamingDataset(classes, shuffle=True, shuffle_block_size=1200), batch_size=64)
    batches = list(full)
    assert sorted(ids(batches)) == list(range(1200))
    assert np.mean([len(set(b[1].tolist())) for b in batches]) > 20


def test_a_block_too_big_for_the_cache_is_shrunk_with_one_warning(tmp_path):
    path = tmp_path / "nas"
    write_dataset(path, [(i, bytes(1000)) for i in range(400)], chunk_size=20)  # about 20 KB per chunk
    ds = StreamingDataset(f"local:{path}", shuffle=True, max_cache_size="200KB", max_pre_download=1)
    with pytest.warns(UserWarning, match="using blocks of") as caught:
        assert ds.block_size() < 8 * 20
        ds.block_size()
    assert len(caught) == 1
    loader = StreamingDataLoader(ds, batch_size=16, num_workers=2)
    assert sorted(ids(list(loader))) == list(range(400))


def test_shuffle_algo_and_block_size_are_checked(squares):
    with pytest.raises(ValueError, match="unknown shuffle_algo 'py1s'"):
        StreamingDataset(squares, shuffle=True, shuffle_algo="py1s")
    with pytest.raises(ValueError, match="shuffle_block_size must be a positive number of items, got 0"):
        StreamingDataset(squares, shuffle=True, shuffle_block_size=0)


def test_subsample_and_split_stay_exact_without_an_array_per_item(tmp_path):
    from litdata_stream import train_test_split

    path = tmp_path / "ds"
    write_dataset(path, [(i, 0) for i in range(1000)], chunk_size=64)
    ds = StreamingDataset(path, subsample=0.37, seed=5)
    assert len(ds) == 370
    values = [ds[i][0] for i in range(len(ds))]
    assert values == sorted(set(values)) and values == [x[0] for x in StreamingDataset(path, subsample=0.37, seed=5)]
    train, val = train_test_split(ds, [0.7, 0.3], seed=1)
    assert (len(train), len(val)) == (259, 111)
    a = {train[i][0] for i in range(len(train))}
    b = {val[i][0] for i in range(len(val))}
    assert not a & b and a | b <= set(values)
    for split in (train, val):
        epoch = ids(list(StreamingDataLoader(split, batch_size=16, num_workers=2)))
        assert sorted(epoch) == sorted(split[i][0] for i in range(len(split)))
