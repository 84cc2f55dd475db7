"""Large batches travel through reusable shared memory: exact, and never overwritten while held."""

import gc
import os

import pytest
import torch

from litdata_format import write_dataset
from litdata_stream import StreamingDataLoader, StreamingDataset
from litdata_stream.arena import BatchArena

pytestmark = pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="needs memfd (Linux)")

ROWS = 64 * 1024  # float32 items of 256 KB: a batch of 8 is 2 MB, past the pipe's small-tensor limit


class Rows(StreamingDataset):
    """Item i becomes a float32 vector filled with i."""

    def __getitem__(self, index):
        item = super().__getitem__(index)
        return torch.full((ROWS,), float(item["i"]), dtype=torch.float32)


@pytest.fixture
def rows(tmp_path):
    write_dataset(tmp_path / "rows", [{"i": i} for i in range(160)], chunk_size=20)
    return str(tmp_path / "rows")


def check(batch):
    firsts = batch[:, 0]
    assert torch.equal(batch, firsts[:, None].expand_as(batch)), "a batch changed under its holder"
    return firsts.int().tolist()


@pytest.mark.parametrize("num_workers", [1, 2])
def test_large_batches_arrive_exact_and_held_ones_are_never_reused(rows, num_workers):
    loader = StreamingDataLoader(Rows(rows, shuffle=True), batch_size=8, num_workers=num_workers)
    for epoch in range(2):
        held, views, seen = [], [], []
        for k, batch in enumerate(loader):
            assert batch.shape == (8, ROWS) and batch.dtype == torch.float32
            seen += check(batch)
            if k % 4 == 0:
                held.append(batch)  # the user keeps whole batches ...
            elif k % 4 == 1:
                views.append(batch[2:4])  # ... or just a view of one
            del batch
            gc.collect()
        assert sorted(seen) == list(range(160)), f"epoch {epoch}"
        for batch in held:
            check(batch)
        for view in views:
            check(view)


def test_a_worker_reuses_its_slots_once_batches_are_dropped(rows):
    loader = StreamingDataLoader(Rows(rows), batch_size=8, num_workers=1)
    seen = []
    iterator = iter(loader)
    for batch in iterator:
        seen += check(batch)
        # through a slot, not a fresh torch segment: 20 batches through 4 slots means reuse
        assert not batch.is_shared()
    assert seen == list(range(160))


def test_without_free_slots_the_worker_falls_back_to_torch_shared_memory():
    arena = BatchArena(num_workers=1, slots=1)
    arena.attach_worker(0)
    first = arena.stack([torch.ones(4), torch.ones(4)])
    assert first is not None and arena.handle(first) is not None
    assert arena.stack([torch.ones(4), torch.ones(4)]) is None  # the only slot is taken
    arena._release(0, 0)
    again = arena.stack([torch.full((4,), 2.0), torch.full((4,), 3.0)])
    assert again is not None and again.tolist() == [[2.0] * 4, [3.0] * 4]


def test_two_loaders_iterating_at_once_each_get_their_own_batches(rows):
    """A validation loader runs while the training iterator is suspended mid-epoch."""
    train = StreamingDataLoader(Rows(rows, shuffle=True), batch_size=8, num_workers=2)
    val = StreamingDataLoader(Rows(rows), batch_size=8, num_workers=1)
    seen, held = [], []
    for k, batch in enumerate(train):
        seen += check(batch)
        held.append(batch)
        if k in (3, 11):
            assert [x for b in val for x in check(b)] == list(range(160))
    assert sorted(seen) == list(range(160))
    for batch in held:
        check(batch)


def test_a_handle_is_restored_from_the_arena_its_loader_passes_even_when_a_newer_one_started():
    import pickle

    from litdata_stream.arena import new_arena
    from litdata_stream.collate import restore_tensors

    first = new_arena(1, "fork")
    newer = new_arena(1, "fork")  # what a second loader's iteration does
    first.attach_worker(0)  # acting as first's worker, in this process
    stacked = first.stack([torch.full((4,), 7.0), torch.full((4,), 8.0)])
    batch = pickle.loads(pickle.dumps({"x": first.handle(stacked)}))
    with pytest.raises(RuntimeError, match=f"restored with arena {newer.id}"):
        restore_tensors(batch, newer)
    restored = restore_tensors(batch, first)["x"]
    assert restored.tolist() == [[7.0] * 4, [8.0] * 4]
    assert first._flags[0] == 1 and newer._flags[0] == 0  # the slot is first's, still in use
    del restored
    gc.collect()
    assert first._flags[0] == 0  # freed in the arena it came from


def test_without_an_arena_a_handle_finds_its_own_among_the_live_ones():
    """torch's pin-memory thread calls ``pin_memory()`` on handles with no way to pass the arena."""
    import pickle

    from litdata_stream.arena import new_arena

    first, newer = new_arena(1, "fork"), new_arena(1, "fork")
    first.attach_worker(0)
    handle = pickle.loads(pickle.dumps(first.handle(first.stack([torch.ones(2), torch.zeros(2)]))))
    assert handle.restore().tolist() == [[1.0, 1.0], [0.0, 0.0]] and newer._flags[0] == 0
    gc.collect()
    orphan = BatchArena(num_workers=1)  # not from new_arena: not among the live arenas
    orphan.attach_worker(0)
    lost = pickle.loads(pickle.dumps(orphan.handle(orphan.stack([torch.ones(2), torch.ones(2)]))))
    with pytest.raises(RuntimeError, match="after its loader's iterator was gone"):
        lost.restore()


def test_the_fast_path_holds_an_epoch_arena_only_while_its_workers_start_and_never_pickles_it():
    import pickle

    from litdata_stream.collate import BatchFastPath, WorkerCollate, default_collate
    from litdata_stream.worker_setup import WorkerSetup

    fast_path = BatchFastPath()
    with fast_path.epoch(2, "spawn") as arena:
        assert arena is None and fast_path.arena is None  # spawned workers cannot inherit one
    with fast_path.epoch(0, "fork") as arena:
        assert arena is None  # no workers
    with fast_path.epoch(2, "fork") as arena:
        assert isinstance(arena, BatchArena) and fast_path.arena is arena
        collate = pickle.loads(pickle.dumps(WorkerCollate(default_collate, fast_path)))
        setup = pickle.loads(pickle.dumps(WorkerSetup(fast_path)))
        assert collate.fast_path.arena is None and setup.fast_path.arena is None
    assert fast_path.arena is None  # the loader's iterator keeps it, not the loader


def test_each_loader_hands_its_workers_its_own_fast_path(rows):
    train = StreamingDataLoader(Rows(rows), batch_size=8, num_workers=1)
    val = StreamingDataLoader(Rows(rows), batch_size=8, num_workers=1)
    assert train.collate_fn.fast_path is train.worker_init_fn.fast_path
    assert train.collate_fn.fast_path is not val.collate_fn.fast_path


def _take_lock_and_die(lock):
    lock.acquire()
    os._exit(0)  # killed while holding it


def test_a_lock_left_held_by_a_dead_worker_neither_hangs_the_trainer_nor_the_worker(monkeypatch):
    import multiprocessing
    import time

    from litdata_stream import arena as arena_module

    monkeypatch.setattr(arena_module, "LOCK_TIMEOUT", 0.2)
    arena = BatchArena(num_workers=1, slots=1)
    arena._flags[0] = 1
    child = multiprocessing.get_context("fork").Process(target=_take_lock_and_die, args=(arena._locks[0],))
    child.start()
    child.join(10)
    began = time.monotonic()
    arena._release(0, 0)  # the trainer frees the slot anyway
    assert arena._flags[0] == 0 and time.monotonic() - began < 5
    arena.attach_worker(0)
    assert arena.stack([torch.ones(2), torch.ones(2)]) is None  # falls back instead of waiting
