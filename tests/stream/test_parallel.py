"""``ParallelStreamingDataset``: tuples of one sample per dataset, planned, resumable, elastic.

Ranks are simulated in one process through ``WORLD_SIZE`` / ``RANK`` (what the loader
reads when no process group exists); the gloo test at the end runs real ranks.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from litdata import ParallelStreamingDataset, StreamingDataLoader, StreamingDataset
from litdata_format import write_dataset
from tests.stream.ranks import rank_env, run_ranks

A_SIZE, B_SIZE = 23, 10


@pytest.fixture
def dirs(tmp_path):
    """Two datasets: a = 0..22 (chunks of 4), b = 1000..1009 (chunks of 3)."""
    write_dataset(tmp_path / "a", list(range(A_SIZE)), chunk_size=4)
    write_dataset(tmp_path / "b", [1000 + i for i in range(B_SIZE)], chunk_size=3)
    return str(tmp_path / "a"), str(tmp_path / "b")


def _parallel(dirs, shuffle=True, **kwargs):
    a, b = dirs
    return ParallelStreamingDataset(
        [StreamingDataset(a, shuffle=shuffle, seed=1), StreamingDataset(b, shuffle=shuffle, seed=2)], **kwargs
    )


def _flat(batches):
    """Loader batches of (a, b) tuples -> a list of (a, b) pairs."""
    pairs = []
    for first, second in batches:
        pairs.extend(zip(first.tolist(), second.tolist()))
    return pairs


def _epochs(loader, count):
    return [_flat(list(loader)) for _ in range(count)]


def test_zip_stops_with_the_shortest_dataset(dirs):
    ds = _parallel(dirs, shuffle=False)
    assert len(ds) == B_SIZE
    assert list(ds) == [(i, 1000 + i) for i in range(B_SIZE)]


def test_zip_shuffled_takes_each_item_of_the_shortest_once_per_epoch(dirs):
    ds = _parallel(dirs)
    epochs = [list(ds) for _ in range(3)]
    for pairs in epochs:
        firsts, seconds = zip(*pairs)
        assert sorted(seconds) == [1000 + i for i in range(B_SIZE)]
        assert len(set(firsts)) == B_SIZE and set(firsts) <= set(range(A_SIZE))
    assert epochs[0] != epochs[1]  # each epoch re-shuffles


def test_cycling_serves_every_item_once_per_pass(dirs):
    ds = _parallel(dirs, length=7)
    served = [pair for _ in range(10) for pair in ds]  # 70 tuples: 3 passes of a, 7 passes of b
    assert len(served) == 70
    a_items = [x for x, _ in served]
    b_items = [y for _, y in served]
    for p in range(70 // A_SIZE):
        assert sorted(a_items[p * A_SIZE : (p + 1) * A_SIZE]) == list(range(A_SIZE))
    for p in range(7):
        assert sorted(b_items[p * B_SIZE : (p + 1) * B_SIZE]) == [1000 + i for i in range(B_SIZE)]
    assert b_items[:B_SIZE] != b_items[B_SIZE : 2 * B_SIZE]  # a new pass is re-shuffled


def test_cycling_without_resume_yields_the_same_samples_every_epoch(dirs):
    ds = _parallel(dirs, length=15, resume=False)
    first = list(ds)
    assert len(first) == 15
    assert list(ds) == first
    assert sorted(y for _, y in first[:B_SIZE]) == [1000 + i for i in range(B_SIZE)]


def test_endless(dirs):
    ds = _parallel(dirs, length=float("inf"))
    stream = iter(ds)
    pairs = [next(stream) for _ in range(5 * B_SIZE)]
    for p in range(5):
        assert sorted(y for _, y in pairs[p * B_SIZE : (p + 1) * B_SIZE]) == [1000 + i for i in range(B_SIZE)]
    with pytest.raises(TypeError, match="endless"):
        len(ds)


@pytest.mark.parametrize("length", [None, 17])
def test_the_sequence_does_not_depend_on_num_workers(dirs, length):
    runs = [_epochs(StreamingDataLoader(_parallel(dirs, length=length), batch_size=3, num_workers=w), 2)
            for w in (0, 1, 2)]
    assert runs[0] == runs[1] == runs[2]
    assert [len(e) for e in runs[0]] == [B_SIZE if length is None else length] * 2


def _augment(samples, rngs):
    a, b = samples
    return a, b, rngs["random"].randint(0, 10**6), int(rngs["numpy"].integers(10**6)), \
        int(torch.randint(10**6, (1,), generator=rngs["torch"]))


def test_transform_gets_seeded_generators_independent_of_workers(dirs):
    def run(workers, **kwargs):
        ds = _parallel(dirs, length=12, transform=_augment, **kwargs)
        loader = StreamingDataLoader(ds, batch_size=4, num_workers=workers, collate_fn=lambda x: x)
        return [[row for batch in loader for row in batch] for _ in range(2)]

    plain = run(0)
    assert run(2) == plain
    assert plain[0][0][2:] != plain[0][4][2:]  # batches get different numbers
    assert plain[0][0][2:] != plain[1][0][2:]  # so do epochs
    reset = run(0, reset_rngs=True, resume=False)
    assert reset[0] == reset[1]  # the same tuples and numbers every epoch
    assert run(0, seed=7)[0][0][2:] != plain[0][0][2:]


def test_transform_of_one_argument(dirs):
    ds = _parallel(dirs, shuffle=False, transform=lambda samples: samples[0] + samples[1])
    assert list(ds) == [1000 + 2 * i for i in range(B_SIZE)]


def _take(loader, batches, state=None):
    """(the first ``batches`` batches of ``loader`` as pairs, its state after them)."""
    if state is not None:
        loader.load_state_dict(state)
    stream = iter(loader)
    pairs = _flat([next(stream) for _ in range(batches)])
    saved = loader.state_dict()
    del stream
    return pairs, saved


@pytest.mark.parametrize("length", [None, 31, float("inf")])
@pytest.mark.parametrize("workers", [0, 2])
def test_resume_mid_epoch_gives_what_an_uninterrupted_run_gives(dirs, length, workers):
    def loader():
        return StreamingDataLoader(_parallel(dirs, length=length), batch_size=2, num_workers=workers)

    before, state = _take(loader(), 3)
    if length == float("inf"):  # one endless epoch: compare the next batches
        whole, _ = _take(loader(), 12)
        after, _ = _take(loader(), 9, state)
        assert before + after == whole
        return
    whole = _epochs(loader(), 3)
    resumed = loader()
    resumed.load_state_dict(state)
    rest = _epochs(resumed, 3)
    assert before + rest[0] == whole[0]
    assert rest[1:] == whole[1:]


def _rank_run(dirs, monkeypatch, world, rank, length, batches=None, state=None, batch_size=2):
    monkeypatch.setenv("WORLD_SIZE", str(world))
    monkeypatch.setenv("RANK", str(rank))
    loader = StreamingDataLoader(_parallel(dirs, length=length), batch_size=batch_size)
    if state is not None:
        loader.load_state_dict(state)
    stream = iter(loader)
    taken = []
    for batch in stream:
        taken.append(batch)
        if batches is not None and len(taken) == batches:
            break
    return _flat(taken), loader.state_dict()


def test_every_rank_gets_the_same_number_of_batches_and_distinct_samples(dirs, monkeypatch):
    for length in (None, 20):
        runs = [_rank_run(dirs, monkeypatch, 3, r, length)[0] for r in range(3)]
        assert len({len(run) for run in runs}) == 1
        if length is None:
            assert len(runs[0]) == B_SIZE // 3
            seconds = [y for run in runs for _, y in run]
            assert len(seconds) == len(set(seconds))  # each rank its own share
        else:
            assert len(runs[0]) == 7  # ceil(20 / 3)


@pytest.mark.parametrize(("old", "new"), [(2, 3), (3, 1)])
def test_zip_resumes_on_another_world_size_without_repeating(dirs, monkeypatch, old, new):
    before = [_rank_run(dirs, monkeypatch, old, r, None, batches=1) for r in range(old)]
    state = before[0][1]
    after = [_rank_run(dirs, monkeypatch, new, r, None, state=state)[0] for r in range(new)]
    served = [pair for run, _ in before for pair in run] + [pair for run in after for pair in run]
    for d in (0, 1):
        values = [pair[d] for pair in served]
        assert len(values) == len(set(values)), f"dataset {d} repeated a sample: {Counter(values).most_common(2)}"
    assert len({len(run) for run in after}) == 1


def test_cycling_resumes_on_another_world_size_without_repeating_within_a_pass(dirs, monkeypatch):
    # World 2: 5 items of b per rank and pass; after one batch of 2, 3 are left on each rank.
    before = [_rank_run(dirs, monkeypatch, 2, r, 40, batches=1) for r in range(2)]
    state = before[0][1]
    # World 3: those 6 are the first 2 of each new rank, then the next pass begins.
    after = [_rank_run(dirs, monkeypatch, 3, r, 40, state=state)[0] for r in range(3)]
    assert [len(run) for run in after] == [14 - 1] * 3  # ceil(40 / 3) = 14 per epoch, 4 of 40 served
    first_pass = [y for run, _ in before for _, y in run] + [y for run in after for _, y in run[:2]]
    assert sorted(first_pass) == [1000 + i for i in range(B_SIZE)]
    a_served = [x for run, _ in before for x, _ in run] + [x for run in after for x, _ in run[:6]]
    assert len(a_served) == len(set(a_served))  # a's first pass: 4 + 18 of its 23 items, none twice


def test_errors(dirs):
    for length in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match=f"length must be None, a positive int or float\\('inf'\\), got {length}"):
            _parallel(dirs, length=length)
    with pytest.raises(ValueError, match="transform must take 1 argument .* it takes 3"):
        _parallel(dirs, transform=lambda a, b, c: a)
    with pytest.raises(TypeError, match=r"reads StreamingDatasets, got list at datasets\[1\]"):
        ParallelStreamingDataset([StreamingDataset(dirs[0]), [1, 2]])
    with pytest.raises(ValueError, match="at least one dataset"):
        ParallelStreamingDataset([])
    empty = StreamingDataset(dirs[1], subsample=0.01)  # 10 items: none kept
    assert len(empty) == 0
    with pytest.raises(ValueError, match=r"datasets\[1\] .*empty"):
        ParallelStreamingDataset([StreamingDataset(dirs[0]), empty])


def test_a_state_of_other_settings_is_refused_unless_forced(dirs):
    loader = StreamingDataLoader(_parallel(dirs, length=9), batch_size=2)
    stream = iter(loader)
    next(stream)
    state = loader.state_dict()
    del stream
    other = StreamingDataLoader(_parallel(dirs, length=11), batch_size=2)
    with pytest.raises(ValueError, match="saved with length=9, the dataset has length=11"):
        other.load_state_dict(state)
    forced = StreamingDataLoader(_parallel(dirs, length=11, force_override_state_dict=True), batch_size=2)
    forced.load_state_dict(state)
    assert len(_flat(list(forced))) == 11 - 2


RANK_SCRIPT = Path(__file__).with_name("parallel_rank.py")


@pytest.mark.slow
def test_real_ranks_get_equal_batches(dirs, tmp_path):
    """Two gloo ranks with 2 workers each: equal batch counts, each dataset's items once per pass."""
    out = tmp_path / "out"
    out.mkdir()
    run_ranks(RANK_SCRIPT, 2, [dirs[0], dirs[1], str(out)], rank_env(tmp_path / "rank-cache"), tmp_path)
    runs = [np.load(out / f"rank{r}.npy") for r in range(2)]
    assert runs[0].shape == runs[1].shape == (12, 2)  # length 24 over 2 ranks
    b_items = np.concatenate([runs[0][:5, 1], runs[1][:5, 1]])  # the first pass: 5 per rank
    assert sorted(b_items.tolist()) == [1000 + i for i in range(B_SIZE)]



