"""StreamingRawDataset as LitData's map-style dataset: ``ds[i]``, ``__getitems__``, ``setup()``.

Real files of distinct sizes and contents on local disk and on the moto S3 server. GETs
are counted by a recording wrapper around the dataset's real store, so "fetched once",
"largest first" and "served from the look-ahead" are observed, not assumed.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from litdata_stream import FileMetadata, StreamingDataLoader
from litdata_stream.raw_dataset import StreamingRawDataset

N = 40


def content(i: int) -> bytes:
    return hashlib.sha256(str(i).encode()).digest() * (1 + i % 5) + str(i).encode()


def names() -> list[str]:
    return [f"part{i % 2}/f-{i:03d}.bin" for i in range(N)]


def expected() -> list[bytes]:
    by_name = {name: content(i) for i, name in enumerate(names())}
    return [by_name[k] for k in sorted(by_name)]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "raw"
    for i, name in enumerate(names()):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content(i))
    return root


class RecordingStore:
    """The dataset's real store, with every ``get`` and ``download`` key recorded in order."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes:
        with self._lock:
            self.calls.append(key)
        return self._store.get(key)

    def download(self, key: str, path: str) -> int:
        with self._lock:
            self.calls.append(key)
        return self._store.download(key, path)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._store, name)

    def __getstate__(self) -> dict[str, Any]:
        return {"_store": self._store}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["_store"])


@pytest.fixture
def remote(moto_server, tmp_path):
    from litdata_storage import open_store

    url = f"{moto_server.new_location()}/raw"
    store = open_store(url, **moto_server.storage_options())
    for i, name in enumerate(names()):
        store.put(name, content(i))

    def make(**kw: Any) -> StreamingRawDataset:
        ds = StreamingRawDataset(url, cache_dir=tmp_path / "cache", storage_options=moto_server.storage_options(),
                                 **kw)
        ds.cache_manager.store = RecordingStore(ds.cache_manager.store)
        return ds

    return make


# ------------------------------------------------------------------------- dataset[i]
def test_getitem_gives_exact_items_and_names_bad_indices(folder, tmp_path):
    ds = StreamingRawDataset(str(folder), cache_dir=tmp_path / "c")
    want = expected()
    assert [ds[i] for i in range(N)] == want
    assert ds[-1] == want[-1] and ds[np.int64(3)] == want[3]
    assert ds[2:6] == want[2:6]
    with pytest.raises(IndexError, match=f"Index {N} out of range for dataset with length {N}"):
        ds[N]
    with pytest.raises(IndexError, match=f"Index {-N - 1} out of range"):
        ds[-N - 1]
    with pytest.raises(TypeError, match="dataset indices must be ints, not str"):
        ds["a"]
    with pytest.raises(TypeError, match="__getitems__ takes a list of indices, got int"):
        ds.__getitems__(3)


def test_getitems_keeps_order_fetches_a_repeat_once_largest_first(remote):
    ds = remote(max_concurrent_downloads=1, max_prefetch=0)
    want = expected()
    keys = sorted(names())
    batch = [5, 3, 5, 9, 0]
    assert ds.__getitems__(batch) == [want[i] for i in batch]
    calls = ds.cache_manager.store.calls
    assert sorted(calls) == sorted(keys[i] for i in {5, 3, 9, 0})  # 5 fetched once
    # one download at a time: they start largest first
    assert calls == sorted(calls, key=lambda k: (-len(want[keys.index(k)]), keys.index(k)))


def test_look_ahead_serves_the_next_batch_without_a_get(remote):
    ds = remote(max_prefetch=4)
    want = expected()
    assert ds.__getitems__([0, 1, 2, 3]) == want[0:4]
    state = ds._prefetch_state()
    deadline = time.monotonic() + 10
    while not all(p in state.done for p in range(4, 8)) and time.monotonic() < deadline:
        time.sleep(0.02)
    calls = ds.cache_manager.store.calls
    assert len(calls) == 8  # the batch, then its look-ahead
    assert ds.__getitems__([4, 5, 6, 7]) == want[4:8]
    assert set(calls[:8]) == {sorted(names())[i] for i in range(8)}
    assert len(calls) <= 12  # no GET for 4..7; at most the next look-ahead started


def test_prefetch_cache_keeps_at_most_its_size(remote):
    ds = remote(max_prefetch=4, prefetch_cache_size=3)
    for start in range(0, 16, 4):
        assert ds.__getitems__(list(range(start, start + 4))) == expected()[start:start + 4]
    assert len(ds._prefetch_state().done) <= 3


def test_cache_files_keeps_copies_and_paths(remote, tmp_path):
    ds = remote(cache_files=True, max_prefetch=0)
    want = expected()
    assert ds[7] == want[7] and ds[7] == want[7]
    assert ds.cache_manager.store.calls == [sorted(names())[7]]  # the second read used the copy
    paths = remote(cache_files=True, item_type="path", max_prefetch=0)
    local = paths[7]
    assert os.path.isfile(local) and Path(local).read_bytes() == want[7]
    assert paths.cache_manager.store.calls == []  # the copy the first dataset kept


def test_threads_share_one_dataset(remote):
    ds = remote(max_prefetch=8)
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda i: ds[i], range(N)))
    assert got == expected()


def _read_in_child(ds: StreamingRawDataset, indices: list[int], queue: Any) -> None:
    queue.put(ds.__getitems__(indices))


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_a_child_process_reads_after_the_parent_did(remote, context):
    ds = remote(max_prefetch=4)
    assert ds.__getitems__([0, 1]) == expected()[0:2]  # the parent's loop and look-ahead are running
    ctx = multiprocessing.get_context(context)
    queue = ctx.Queue()
    child = ctx.Process(target=_read_in_child, args=(ds, [10, 2, 30], queue))
    child.start()
    got = queue.get(timeout=60)
    child.join(30)
    assert child.exitcode == 0
    assert got == [expected()[i] for i in (10, 2, 30)]


# ------------------------------------------------------------------------------ setup()
class PairsPerPart(StreamingRawDataset):
    """Items are pairs of consecutive files of one folder; the last odd one is dropped."""

    def setup(self, files: list[FileMetadata]) -> list[list[FileMetadata]]:
        by_part: dict[str, list[FileMetadata]] = {}
        for meta in files:
            by_part.setdefault(os.path.basename(os.path.dirname(meta.path)), []).append(meta)
        pairs = []
        for part in sorted(by_part):
            metas = by_part[part]
            pairs += [metas[k:k + 2] for k in range(0, len(metas) - 1, 2)]
        return pairs


def _pairs() -> list[list[bytes]]:
    by_name = {name: content(i) for i, name in enumerate(names())}
    out = []
    for part in ("part0", "part1"):
        keys = sorted(k for k in by_name if k.startswith(part))
        out += [[by_name[keys[k]], by_name[keys[k + 1]]] for k in range(0, len(keys) - 1, 2)]
    return out


@pytest.mark.parametrize("num_workers", [0, 2])
def test_setup_groups_files_for_indexing_and_streaming(folder, tmp_path, num_workers):
    ds = PairsPerPart(str(folder), cache_dir=tmp_path / "c", shuffle=True, files_per_chunk=3)
    want = _pairs()
    assert len(ds) == len(want) == N // 2
    assert [ds[i] for i in range(len(ds))] == want
    assert all(isinstance(item, list) and all(isinstance(m, FileMetadata) for m in item) for item in ds.items)
    loader = StreamingDataLoader(ds, batch_size=None, num_workers=num_workers,
                                 multiprocessing_context="fork" if num_workers else None)
    streamed = [[bytes(x) for x in item] for item in loader]
    assert sorted(streamed) == sorted(want) and streamed != want  # every pair once, shuffled


def test_setup_groups_remote_files(remote, tmp_path, moto_server):
    url = remote().input_dir
    ds = PairsPerPart(url, cache_dir=tmp_path / "c2", storage_options=moto_server.storage_options(),
                      files_per_chunk=4)
    assert [ds[i] for i in range(len(ds))] == _pairs()
    assert sorted([bytes(x) for x in item] for item in ds) == sorted(_pairs())


class Filtered(StreamingRawDataset):
    def setup(self, files: list[FileMetadata]) -> list[FileMetadata]:
        return [m for m in files if "part1/" in m.path]


def test_setup_filters_files(folder, tmp_path):
    ds = Filtered(str(folder), cache_dir=tmp_path / "c")
    want = [data for name, data in zip(sorted(names()), expected()) if name.startswith("part1/")]
    assert len(ds) == N // 2 and [ds[i] for i in range(len(ds))] == want
    assert list(ds) == want


class WithABadItem(StreamingRawDataset):
    def setup(self, files: list[FileMetadata]) -> list[Any]:
        return [files[0], "not a file", [files[1], 7]]


class NotAList(StreamingRawDataset):
    def setup(self, files: list[FileMetadata]) -> Any:
        return tuple(files)


def test_setup_bad_items_fail_when_read_and_a_non_list_at_once(folder, tmp_path):
    ds = WithABadItem(str(folder), cache_dir=tmp_path / "c")
    assert len(ds) == 3 and ds[0] == expected()[0]
    bad = r"Dataset items must be of type FileMetadata or List\[FileMetadata\], but found <class '{}'>"
    with pytest.raises(TypeError, match=bad.format("str")):
        ds[1]
    with pytest.raises(TypeError, match=bad.format("int")):
        ds[2]
    with pytest.raises(TypeError, match=bad.format("str")):
        list(ds)
    with pytest.raises(TypeError, match="The setup method must return a list, but returned <class 'tuple'>"):
        NotAList(str(folder), cache_dir=tmp_path / "c")


def test_items_setter_replans_length_indexing_and_streaming(folder, tmp_path):
    ds = StreamingRawDataset(str(folder), cache_dir=tmp_path / "c", files_per_chunk=4)
    want = expected()
    ds.items = ds.items[10:20]
    assert len(ds) == 10 and ds[0] == want[10] and ds[9] == want[19]
    assert list(ds) == want[10:20]
    with pytest.raises(IndexError, match="Index 10 out of range for dataset with length 10"):
        ds[10]
    ds.items = [[ds.items[0], ds.items[1]]]
    assert len(ds) == 1 and ds[0] == [want[10], want[11]]
    with pytest.raises(TypeError, match="The setup method must return a list"):
        ds.items = "abc"


def test_file_metadata_round_trips():
    meta = FileMetadata("s3://bucket/a/b.jpg", 12)
    assert meta.to_dict() == {"path": "s3://bucket/a/b.jpg", "size": 12}
    assert FileMetadata.from_dict(meta.to_dict()) == meta
