import io
import itertools
import json
import os
import pickle
import random

import pytest
import torch

from litdata_format import write_dataset
from litdata_stream import StreamingDataLoader, StreamingDataset


def ids(batches):
    return [x for b in batches for x in b[0].tolist()]


@pytest.mark.parametrize(
    "num_workers, batch_size, shuffle, drop_last",
    list(itertools.product([0, 1, 2, 3], [1, 7, 64], [False, True], [False, True])),
)
def test_every_sample_exactly_once_with_real_workers(squares, num_workers, batch_size, shuffle, drop_last):
    loader = StreamingDataLoader(StreamingDataset(squares, shuffle=shuffle, drop_last=drop_last),
                                 batch_size=batch_size, num_workers=num_workers)
    batches = list(loader)
    seen = ids(batches)
    if drop_last:
        assert len(seen) == 200 - 200 % batch_size and len(set(seen)) == len(seen)
        assert all(len(b[0]) == batch_size for b in batches)
    else:
        assert sorted(seen) == list(range(200))
    assert len(batches) == len(loader)


def test_order_is_the_same_for_any_number_of_workers(squares):
    orders = []
    for workers in (0, 1, 2, 3):
        loader = StreamingDataLoader(StreamingDataset(squares, shuffle=True, seed=5), batch_size=8, num_workers=workers)
        orders.append([ids(list(loader)) for _ in range(2)])
    assert all(o == orders[0] for o in orders)
    assert orders[0][0] != orders[0][1]  # a new order in the second epoch


@pytest.mark.parametrize("num_workers", [0, 2, 3])
@pytest.mark.parametrize("shuffle", [False, True])
def test_resume_at_random_points_matches_an_uninterrupted_run(squares, num_workers, shuffle, tmp_path):
    def make():
        return StreamingDataLoader(StreamingDataset(squares, shuffle=shuffle, seed=11), batch_size=6,
                                   num_workers=num_workers)

    one_run = make()
    reference = [ids(list(one_run)) for _ in range(3)]  # three epochs of one uninterrupted run
    flat = [x for epoch in reference for x in epoch]
    rng = random.Random(num_workers * 10 + shuffle)
    for _ in range(3):
        stop_after = rng.randrange(1, len(flat) // 6)
        loader, seen = make(), []
        state = None
        for _epoch in range(3):
            for batch in loader:
                seen += batch[0].tolist()
                if len(seen) // 6 == stop_after and state is None:
                    buffer = io.BytesIO()
                    torch.save(loader.state_dict(), buffer)
                    state = buffer.getvalue()
                    break
            if state is not None:
                break
        resumed = make()
        resumed.load_state_dict(torch.load(io.BytesIO(state)))
        rest = []
        while len(seen) + len(rest) < len(flat):
            rest += ids(list(resumed))
        assert seen + rest == flat


def test_state_after_a_finished_epoch_starts_the_next(squares):
    loader = StreamingDataLoader(StreamingDataset(squares, shuffle=True), batch_size=50)
    first = ids(list(loader))
    state = loader.state_dict()
    assert state["finished"] and state["batches_consumed"] == 4 and state["epoch"] == 0
    second = ids(list(loader))
    resumed = StreamingDataLoader(StreamingDataset(squares, shuffle=True), batch_size=50)
    resumed.load_state_dict(state)
    assert ids(list(resumed)) == second != first


def test_resume_refuses_another_seed_shuffle_or_dataset(squares, tmp_path):
    loader = StreamingDataLoader(StreamingDataset(squares, shuffle=True), batch_size=4)
    next(iter(loader))
    state = loader.state_dict()
    with pytest.raises(ValueError, match="seed"):
        StreamingDataLoader(StreamingDataset(squares, seed=1, shuffle=True), batch_size=4).load_state_dict(state)
    with pytest.raises(ValueError, match="shuffle"):
        StreamingDataLoader(StreamingDataset(squares), batch_size=4).load_state_dict(state)
    write_dataset(tmp_path / "other", [(i, i) for i in range(150)], chunk_size=16)
    with pytest.raises(ValueError, match="num_items=200, the dataset has num_items=150"):
        StreamingDataLoader(StreamingDataset(tmp_path / "other", shuffle=True), batch_size=4).load_state_dict(state)


def test_default_collate_handles_images_strings_and_bytes(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    items = [{"image": Image.new("RGB", (5, 4), (i, 2, 3)), "name": f"n{i}", "raw": bytes([i]), "label": i}
             for i in range(6)]
    write_dataset(tmp_path / "img", items, chunk_size=4)
    batch = next(iter(StreamingDataLoader(StreamingDataset(tmp_path / "img"), batch_size=3)))
    assert batch["image"].dtype == torch.uint8 and batch["image"].shape == (3, 3, 4, 5)
    assert batch["image"][1, 0, 0, 0].item() == 1
    assert batch["name"] == ["n0", "n1", "n2"] and batch["raw"] == [b"\x00", b"\x01", b"\x02"]
    assert batch["label"].tolist() == [0, 1, 2]


def test_profile_batches_writes_a_chrome_trace(squares, tmp_path):
    loader = StreamingDataLoader(StreamingDataset(squares), batch_size=10, num_workers=2, profile_batches=5,
                                 profile_dir=str(tmp_path))
    assert len(list(loader)) == 20
    trace = json.loads((tmp_path / "result.json").read_text())
    names = {e["name"] for e in trace["traceEvents"]}
    assert {"read", "decode", "collate"} <= names
    assert len({e["pid"] for e in trace["traceEvents"]}) >= 2
    assert all(e["ph"] == "X" and e["dur"] >= 0 for e in trace["traceEvents"])


def test_loader_refuses_plain_datasets():
    with pytest.raises(TypeError, match="needs a StreamingDataset"):
        StreamingDataLoader([1, 2, 3])


def test_env_world_size_splits_ranks(squares, monkeypatch):
    seen = []
    for rank in range(3):
        monkeypatch.setenv("WORLD_SIZE", "3")
        monkeypatch.setenv("RANK", str(rank))
        loader = StreamingDataLoader(StreamingDataset(squares, shuffle=True), batch_size=5, num_workers=2)
        batches = list(loader)
        assert len(batches) == len(loader) == 13  # drop_last defaults on under distributed: 66 -> 65
        seen += ids(batches)
    assert len(seen) == len(set(seen)) == 195
    monkeypatch.delenv("WORLD_SIZE")
    monkeypatch.delenv("RANK")
    assert os.environ.get("RANK") is None


def test_the_worker_result_pipe_is_widened(squares):
    fcntl = pytest.importorskip("fcntl")
    from torch.utils.data import DataLoader

    from litdata_stream.ipc import _max_pipe_size, widen_result_pipe

    if _max_pipe_size() <= 65536:
        pytest.skip("this system does not allow pipes wider than 64 KB")
    iterator = iter(DataLoader(StreamingDataset(squares), batch_size=10, num_workers=1))
    widen_result_pipe(iterator)
    assert fcntl.fcntl(iterator._worker_result_queue._reader.fileno(), 1032) == _max_pipe_size()  # F_GETPIPE_SZ
    assert sum(len(b[0]) for b in iterator) == 200


def test_small_tensors_cross_the_pipe_and_come_back_identical():
    from collections import OrderedDict

    from litdata_stream.collate import PipedTensor, pipe_small_tensors, restore_tensors

    big = torch.zeros(2**19, dtype=torch.float32)  # 2 MB: left to shared memory
    batch = OrderedDict(a=torch.arange(6, dtype=torch.bfloat16).reshape(2, 3), b=[torch.tensor([1, 2]), "s"], c=big)
    piped = pipe_small_tensors(batch)
    assert isinstance(piped["a"], PipedTensor) and isinstance(piped["b"][0], PipedTensor) and piped["c"] is big
    back = restore_tensors(pickle.loads(pickle.dumps(piped)))
    assert type(back) is OrderedDict and list(back) == ["a", "b", "c"]
    assert back["a"].dtype == torch.bfloat16 and torch.equal(back["a"], batch["a"])
    assert torch.equal(back["b"][0], batch["b"][0]) and back["b"][1] == "s" and torch.equal(back["c"], big)


class _Collated(torch.utils.data.IterableDataset):
    """Collates inside the worker and reports where each result lives."""

    def __iter__(self):
        from litdata_stream.collate import default_collate

        small = default_collate([torch.full((4,), i, dtype=torch.int64) for i in range(8)])
        big = default_collate([torch.full((2**18,), i, dtype=torch.float32) for i in range(2)])  # 2 MB
        yield {"small": small.tolist(), "small_shared": small.is_shared(), "big_sum": float(big.sum()),
               "big_shared": big.is_shared()}


def test_small_batches_are_stacked_in_ordinary_memory_in_workers():
    from torch.utils.data import DataLoader

    (result,) = list(DataLoader(_Collated(), batch_size=None, num_workers=1))
    assert result["small"] == [[i] * 4 for i in range(8)]
    assert result["small_shared"] is False  # no shared-memory segment for a 256-byte batch
    assert result["big_shared"] is True and result["big_sum"] == float(2**18)


class _ReportsWorkerSetup(StreamingDataset):
    def __getitem__(self, index):
        from torch.utils.data import get_worker_info

        from litdata_stream import worker_setup

        return {"tuned": worker_setup.TUNED, "worker": get_worker_info().id, "seen": os.environ.get("_SEEN_INIT", "")}


def _mark_init(worker_id):
    os.environ["_SEEN_INIT"] = f"init-{worker_id}"


@pytest.mark.parametrize("tuning", ["1", "0"])
def test_workers_keep_freed_memory_and_still_run_the_users_worker_init(squares, tmp_path, monkeypatch, tuning):
    import platform

    monkeypatch.setenv("LITDATA_WORKER_MALLOC_TUNING", tuning)
    loader = StreamingDataLoader(
        _ReportsWorkerSetup(squares), batch_size=50, num_workers=2, worker_init_fn=_mark_init,
        profile_batches=2, profile_dir=str(tmp_path),
    )
    batches = list(loader)
    assert len(batches) == 4
    expected = tuning == "1" and platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    for batch in batches:
        assert batch["tuned"].tolist() == [expected] * 50
        assert batch["seen"] == [f"init-{w}" for w in batch["worker"].tolist()]
    assert (tmp_path / "result.json").exists()


def _feeders():
    import threading

    return {t for t in threading.enumerate() if t.name == "QueueFeederThread" and t.is_alive()}


def test_an_epoch_ends_with_no_thread_of_its_workers_left_running(squares):
    """The next epoch forks its workers right away: a thread still ending at that moment
    can leave a forked worker stuck (CPython 3.11), so none may be left behind."""
    before = _feeders()
    loader = StreamingDataLoader(StreamingDataset(squares), batch_size=10, num_workers=2)
    assert sum(len(b[0]) for b in loader) == 200
    assert _feeders() - before == set()
    iterator = iter(loader)
    assert len(next(iterator)[0]) == 10
    iterator.close()  # an epoch abandoned mid-way
    assert _feeders() - before == set()


@pytest.mark.parametrize("num_workers", [0, 2])
def test_batch_size_none_yields_every_item_unbatched_and_resumes(squares, num_workers):
    def make():
        return StreamingDataLoader(StreamingDataset(squares, shuffle=True, seed=3), batch_size=None,
                                   num_workers=num_workers)

    items = list(make())
    # not collated (ints stay ints); converted as torch's default_convert does (a tuple becomes a list)
    assert sorted(items) == [[i, i**2] for i in range(200)]
    assert all(type(x) is list and type(x[0]) is int for x in items)
    loader = make()
    head = list(itertools.islice(loader, 37))
    state = loader.state_dict()
    resumed = make()
    resumed.load_state_dict(state)
    assert head + list(resumed) == items
