"""The epoch plan on its own: exactly-once, equal batch counts, determinism."""

import itertools
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from litdata_stream.plan import chunk_offsets, full_selection, num_batches, rank_samples, worker_plan


def plan_everything(sizes, *, world_size, num_workers, batch_size, drop_last, shuffle, seed=7, epoch=0):
    """{rank: [batches in the order the DataLoader yields them]}."""
    selection, offsets = full_selection(sizes), chunk_offsets(sizes)
    result = {}
    for rank in range(world_size):
        samples = rank_samples(selection, offsets, seed=seed, epoch=epoch, shuffle=shuffle, world_size=world_size,
                               rank=rank, drop_last=drop_last, batch_size=batch_size)
        per_worker = [
            worker_plan(samples, batch_size=batch_size, num_workers=num_workers, worker_id=w)
            for w in range(max(num_workers, 1))
        ]
        numbered = {}
        for plan in per_worker:
            for number, batch in zip(plan.batch_numbers.tolist(), plan.batches()):
                numbered[number] = batch.tolist()
        assert sorted(numbered) == list(range(len(numbered)))
        result[rank] = [numbered[n] for n in range(len(numbered))]
    return result


GRID = list(itertools.product([1, 2, 3, 4], [0, 1, 2, 3], [1, 3, 8], [False, True], [False, True]))


@pytest.mark.parametrize("world_size, num_workers, batch_size, drop_last, shuffle", GRID)
def test_exactly_once_and_equal_batches(world_size, num_workers, batch_size, drop_last, shuffle):
    sizes = [10, 7, 0, 13, 1, 9]
    total = sum(sizes)
    plans = plan_everything(sizes, world_size=world_size, num_workers=num_workers, batch_size=batch_size,
                            drop_last=drop_last, shuffle=shuffle)
    batch_counts = {rank: len(batches) for rank, batches in plans.items()}
    assert len(set(batch_counts.values())) == 1, batch_counts
    seen = Counter(i for batches in plans.values() for batch in batches for i in batch)
    if drop_last:
        per_rank = total // world_size
        per_rank -= per_rank % batch_size
        assert sum(seen.values()) == per_rank * world_size
        assert max(seen.values()) == 1
        assert all(len(b) == batch_size for batches in plans.values() for b in batches)
    else:
        assert set(seen) == set(range(total))
        per_rank = -(-total // world_size)
        assert sum(seen.values()) == per_rank * world_size
        assert sum(c - 1 for c in seen.values()) == per_rank * world_size - total  # only the padding repeats


@pytest.mark.parametrize("shuffle", [False, True])
def test_rank_sequence_does_not_depend_on_num_workers(shuffle):
    sizes = [20, 5, 17]
    reference = plan_everything(sizes, world_size=2, num_workers=0, batch_size=4, drop_last=False, shuffle=shuffle)
    for workers in (1, 2, 3, 5):
        assert plan_everything(sizes, world_size=2, num_workers=workers, batch_size=4, drop_last=False,
                               shuffle=shuffle) == reference


def test_resume_starts_at_the_next_batch_with_worker_zero():
    sizes = [20, 5, 17]
    selection, offsets = full_selection(sizes), chunk_offsets(sizes)
    samples = rank_samples(selection, offsets, seed=1, epoch=3, shuffle=True, world_size=1, rank=0, drop_last=False)
    full = [samples[i : i + 4].tolist() for i in range(0, len(samples), 4)]
    for first in range(num_batches(len(samples), 4) + 1):
        plans = [worker_plan(samples, batch_size=4, num_workers=3, worker_id=w, first_batch=first) for w in range(3)]
        assert plans[0].batch_numbers[:1].tolist() == ([first] if first < len(full) else [])
        batches = sorted((n, b.tolist()) for p in plans for n, b in zip(p.batch_numbers.tolist(), p.batches()))
        assert [b for _, b in batches] == full[first:]


def test_shuffle_is_seeded_new_each_epoch_and_keeps_chunks_together():
    sizes = [50, 50, 50, 50]
    selection, offsets = full_selection(sizes), chunk_offsets(sizes)

    def order(seed, epoch):
        return rank_samples(selection, offsets, seed=seed, epoch=epoch, shuffle=True, world_size=1, rank=0,
                            drop_last=False).tolist()

    assert order(1, 0) == order(1, 0)
    assert order(1, 0) != order(1, 1)
    assert order(1, 0) != order(2, 0)
    assert sorted(order(1, 0)) == list(range(200))
    chunks = [i // 50 for i in order(1, 0)]
    assert sum(a != b for a, b in zip(chunks, chunks[1:])) == 3  # one chunk after another


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 40), min_size=1, max_size=8),
    world_size=st.integers(1, 5),
    num_workers=st.integers(0, 4),
    batch_size=st.integers(1, 9),
    drop_last=st.booleans(),
    shuffle=st.booleans(),
    seed=st.integers(0, 2**31),
    epoch=st.integers(0, 100),
)
def test_property_every_sample_once_per_epoch(sizes, world_size, num_workers, batch_size, drop_last, shuffle, seed, epoch):
    plans = plan_everything(sizes, world_size=world_size, num_workers=num_workers, batch_size=batch_size,
                            drop_last=drop_last, shuffle=shuffle, seed=seed, epoch=epoch)
    assert len({len(b) for b in plans.values()}) == 1
    seen = Counter(i for batches in plans.values() for batch in batches for i in batch)
    total = sum(sizes)
    if drop_last:
        assert all(c == 1 for c in seen.values())
        assert total - sum(seen.values()) < world_size * batch_size
    else:
        assert set(seen) == set(range(total))
        assert sum(seen.values()) - total < world_size


def test_a_million_samples_over_eight_ranks():
    sizes = [1000] * 1000
    samples = rank_samples(full_selection(sizes), chunk_offsets(sizes), seed=0, epoch=0, shuffle=True, world_size=8,
                           rank=3, drop_last=True, batch_size=32)
    assert len(samples) == 125_000 - 125_000 % 32
    assert np.unique(samples).size == len(samples)
