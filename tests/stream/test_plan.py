"""The epoch plan on its own: exactly-once, equal batch counts, determinism, elastic resume, cost."""

import itertools
import tracemalloc
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from litdata_stream.epoch_plan import RankPlan, Segment
from litdata_stream.selection import Selection
from litdata_stream.shuffle import BlockShuffle, ChunkShuffle, epoch_order

ORDERS = [(False, "block"), (True, "chunk"), (True, "block")]


def order_of(sizes, *, shuffle, algorithm="block", seed=7, epoch=0, block_size=12):
    return epoch_order(Selection.full(sizes), shuffle=shuffle, algorithm=algorithm, seed=seed, epoch=epoch,
                       block_size=block_size)


def plan_everything(order, *, world_size, num_workers, batch_size, drop_last, intervals=None, first_batch=0):
    """{rank: [batches in the order the DataLoader yields them]}."""
    result = {}
    for rank in range(world_size):
        plan = RankPlan(order, Segment(world_size, batch_size, drop_last, intervals), rank)
        numbered = {}
        for w in range(max(num_workers, 1)):
            for number in plan.worker_batches(num_workers, w, first_batch):
                numbered[number] = plan.batch(number).tolist()
        assert sorted(numbered) == list(range(first_batch, plan.num_batches))
        result[rank] = [numbered[n] for n in sorted(numbered)]
    return result


GRID = list(itertools.product([1, 2, 3, 4], [0, 1, 2, 3], [1, 3, 8], [False, True], ORDERS))


@pytest.mark.parametrize("world_size, num_workers, batch_size, drop_last, kind", GRID)
def test_exactly_once_and_equal_batches(world_size, num_workers, batch_size, drop_last, kind):
    sizes = [10, 7, 0, 13, 1, 9]
    total = sum(sizes)
    shuffle, algorithm = kind
    plans = plan_everything(order_of(sizes, shuffle=shuffle, algorithm=algorithm), world_size=world_size,
                            num_workers=num_workers, batch_size=batch_size, drop_last=drop_last)
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


@pytest.mark.parametrize("shuffle, algorithm", ORDERS)
def test_rank_sequence_does_not_depend_on_num_workers(shuffle, algorithm):
    order = order_of([20, 5, 17], shuffle=shuffle, algorithm=algorithm)
    reference = plan_everything(order, world_size=2, num_workers=0, batch_size=4, drop_last=False)
    for workers in (1, 2, 3, 5):
        assert plan_everything(order, world_size=2, num_workers=workers, batch_size=4, drop_last=False) == reference


def test_resume_starts_at_the_next_batch_with_worker_zero():
    order = order_of([20, 5, 17], shuffle=True, epoch=3)
    plan = RankPlan(order, Segment(1, 4, False), 0)
    full = [plan.batch(j).tolist() for j in range(plan.num_batches)]
    for first in range(plan.num_batches + 1):
        by_worker = [list(plan.worker_batches(3, w, first)) for w in range(3)]
        assert by_worker[0][:1] == ([first] if first < len(full) else [])
        assert [full[j] for j in sorted(j for b in by_worker for j in b)] == full[first:]


def test_chunk_shuffle_is_seeded_new_each_epoch_and_keeps_chunks_together():
    sizes = [50, 50, 50, 50]

    def order(seed, epoch):
        return RankPlan(order_of(sizes, shuffle=True, algorithm="chunk", seed=seed, epoch=epoch),
                        Segment(1, 1, False), 0).samples().tolist()

    assert order(1, 0) == order(1, 0)
    assert order(1, 0) != order(1, 1)
    assert order(1, 0) != order(2, 0)
    assert sorted(order(1, 0)) == list(range(200))
    chunks = [i // 50 for i in order(1, 0)]
    assert sum(a != b for a, b in zip(chunks, chunks[1:])) == 3  # one chunk after another


def class_sorted_batches(algorithm, block_size, batch_size=64):
    """Distinct classes per batch on 40 classes x 300 items, one class per chunk."""
    order = epoch_order(Selection.full([300] * 40), shuffle=True, algorithm=algorithm, seed=3, epoch=0,
                        block_size=block_size)
    samples = RankPlan(order, Segment(1, batch_size, True), 0).samples()
    classes = samples // 300
    return [len(set(classes[i : i + batch_size].tolist())) for i in range(0, len(classes), batch_size)]


def test_block_shuffle_mixes_chunks_in_every_batch():
    chunk = class_sorted_batches("chunk", 1)
    block = class_sorted_batches("block", 8 * 300)
    assert np.mean(chunk) < 2.1
    assert np.mean(block) >= 7 and min(block) >= 5
    full = class_sorted_batches("block", 10**9)  # a block of the whole dataset: a full permutation
    assert np.mean(full) > 25


def test_block_shuffle_reads_only_the_chunks_of_its_block():
    order = epoch_order(Selection.full([100] * 30), shuffle=True, algorithm="block", seed=1, epoch=2,
                        block_size=400)
    assert isinstance(order, BlockShuffle) and order.window_chunks == 5
    plan = RankPlan(order, Segment(1, 50, False), 0)
    for number in range(plan.num_batches):
        chunks = {int(s) // 100 for s in plan.batch(number)}
        listed = order.chunks_for(plan.batch_positions(number))
        assert chunks <= set(listed) and len(set(listed)) <= 5
    assert sorted(plan.samples().tolist()) == list(range(3000))


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 40), min_size=1, max_size=8),
    world_size=st.integers(1, 5),
    num_workers=st.integers(0, 4),
    batch_size=st.integers(1, 9),
    drop_last=st.booleans(),
    kind=st.sampled_from(ORDERS),
    block_size=st.integers(1, 50),
    seed=st.integers(0, 2**31),
    epoch=st.integers(0, 100),
)
def test_property_every_sample_once_per_epoch(sizes, world_size, num_workers, batch_size, drop_last, kind,
                                              block_size, seed, epoch):
    order = order_of(sizes, shuffle=kind[0], algorithm=kind[1], seed=seed, epoch=epoch, block_size=block_size)
    plans = plan_everything(order, world_size=world_size, num_workers=num_workers, batch_size=batch_size,
                            drop_last=drop_last)
    assert len({len(b) for b in plans.values()}) == 1
    seen = Counter(i for batches in plans.values() for batch in batches for i in batch)
    total = sum(sizes)
    if drop_last:
        assert all(c == 1 for c in seen.values())
        assert total - sum(seen.values()) < world_size * batch_size
    else:
        assert set(seen) == set(range(total))
        assert sum(seen.values()) - total < world_size


def served(order, segment, batches_consumed):
    """What every rank of ``segment`` served in its first ``batches_consumed`` batches."""
    result = []
    for rank in range(segment.world_size):
        plan = RankPlan(order, segment, rank)
        for number in range(min(batches_consumed, plan.num_batches)):
            result += plan.batch(number).tolist()
    return result


@settings(max_examples=300, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 30), min_size=1, max_size=6),
    topologies=st.lists(st.tuples(st.integers(1, 5), st.integers(1, 6), st.integers(0, 12)), min_size=1,
                        max_size=4),
    drop_last=st.booleans(),
    kind=st.sampled_from(ORDERS),
)
def test_property_elastic_resume_loses_nothing_and_repeats_only_padding(sizes, topologies, drop_last, kind):
    """Resume after some batches on one topology, then another, ... then finish on the last one."""
    order = order_of(sizes, shuffle=kind[0], algorithm=kind[1])
    intervals, everything = None, []
    padding_allowance = 0
    for i, (world_size, batch_size, consumed) in enumerate(topologies):
        segment = Segment(world_size, batch_size, drop_last, intervals)
        plan = RankPlan(order, segment, 0)
        last = i == len(topologies) - 1
        take = plan.num_batches if last else consumed
        everything += served(order, segment, take)
        padding_allowance += world_size  # fewer than world_size padded samples per segment
        intervals = plan.remaining_after(take * batch_size)
    counts = Counter(everything)
    total = sum(sizes)
    assert set(counts) <= set(range(total))
    repeats = sum(c - 1 for c in counts.values())
    assert repeats < padding_allowance
    if not drop_last:
        assert set(counts) == set(range(total))  # nothing lost
    else:  # each segment may drop what does not fill every rank's batches
        assert total - len(counts) < sum(w * b for w, b, _ in topologies)
    if drop_last:
        assert repeats == 0


def test_same_topology_resume_continues_the_same_batches():
    order = order_of([40, 33, 27], shuffle=True)
    segment = Segment(3, 4, False)
    plan = RankPlan(order, segment, 1)
    full = [plan.batch(j).tolist() for j in range(plan.num_batches)]
    assert [plan.batch(j).tolist() for j in plan.worker_batches(1, 0, 5)] == full[5:]


def test_a_billion_samples_over_1024_ranks_costs_only_the_chunks():
    """1 B samples in 100,000 chunks: planning and a worker's first batch stay small."""
    tracemalloc.start()
    order = epoch_order(Selection.full([10_000] * 100_000), shuffle=True, algorithm="block", seed=0, epoch=3,
                        block_size=80_000)
    plan = RankPlan(order, Segment(1024, 64, True), 517)
    batches = plan.worker_batches(8, 5)
    first = plan.batch(batches[0])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert plan.per_rank == 1_000_000_000 // 1024 // 64 * 64
    assert len(first) == 64 and len(set(first.tolist())) == 64
    assert peak < 50_000_000  # O(chunks) arrays and one block, not 8 GB of sample indices
    assert batches == range(5, plan.per_rank // 64, 8)  # every 8th batch of the rank, from worker 5's first


def test_chunk_shuffle_and_order_factory():
    assert isinstance(order_of([3, 3], shuffle=True, algorithm="chunk"), ChunkShuffle)
    with pytest.raises(ValueError, match="unknown shuffle_algo 'py1e'"):
        order_of([3, 3], shuffle=True, algorithm="py1e")


def test_splits_of_subsamples_keep_exactly_the_items_laid_out():
    """Cut parts of a subsample list their items; cutting those again renumbers and cuts them."""
    selection = Selection.full([10, 7, 0, 13, 1, 9]).subsample(20, 3)

    def flat(s):
        return [(int(s.chunk[p]), i) for p in range(s.num_parts) for i in s.items(p).tolist()]

    laid = [(int(selection.chunk[p]), i) for p in reversed(range(selection.num_parts))
            for i in selection.items(p).tolist()]
    first = selection.take(np.arange(selection.num_parts)[::-1], 2, 15)
    assert flat(first) == sorted(laid[2:15])
    second = first.take(np.arange(first.num_parts), 1, 12)
    assert flat(second) == flat(first)[1:12]
    assert [second.locate(i) for i in range(len(second))] == flat(second)
    assert second.within(np.arange(len(second))).tolist() == [i for _, i in flat(second)]
