"""The node cache: a tight max_cache_size is never exceeded, chunks in use are never evicted."""

import threading
import time

import pytest

from litdata_format import write_dataset
from litdata_stream import StreamingDataLoader, StreamingDataset
from litdata_stream.cache import CacheFullError, ChunkCache

from .conftest import cache_size


@pytest.fixture
def network_drive(tmp_path):
    """A dataset on a 'network drive' (local:), so every chunk goes through the cache."""
    items = [{"i": i, "payload": bytes([i % 256]) * 1000} for i in range(300)]
    index = write_dataset(tmp_path / "nas", items, chunk_size=20)
    return f"local:{tmp_path / 'nas'}", index.chunks[0].chunk_bytes


@pytest.mark.parametrize("num_workers", [0, 2])
def test_tight_max_cache_size_is_never_exceeded(network_drive, isolated_cache, num_workers):
    url, chunk_bytes = network_drive
    limit = chunk_bytes * (num_workers + 1) * 2 + 100  # room for what the readers hold, little more
    peak = 0
    stop = threading.Event()

    def watch():
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, cache_size(isolated_cache))
            time.sleep(0.001)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        ds = StreamingDataset(url, max_cache_size=limit, shuffle=True, max_pre_download=4)
        loader = StreamingDataLoader(ds, batch_size=7, num_workers=num_workers)
        seen = [x for b in loader for x in b["i"].tolist()]
    finally:
        stop.set()
        watcher.join()
    assert sorted(seen) == list(range(300))
    assert 0 < peak <= limit


def test_a_chunk_larger_than_the_cache_is_a_clear_error(network_drive):
    url, chunk_bytes = network_drive
    ds = StreamingDataset(url, max_cache_size=chunk_bytes // 2)
    with pytest.raises(CacheFullError, match="raise max_cache_size"):
        ds[0]


def test_held_chunks_are_not_evicted(tmp_path):
    cache = ChunkCache(str(tmp_path / "c"), max_bytes=250)

    def writer(text):
        return lambda path: open(path, "wb").write(text * 100)

    cache.hold("a")
    cache.ensure("a", 100, writer(b"a"))
    cache.ensure("b", 100, writer(b"b"))
    cache.ensure("c", 100, writer(b"c"))  # evicts b (least recent, not held), never a
    assert (tmp_path / "c" / "a").exists() and not (tmp_path / "c" / "b").exists()
    assert (tmp_path / "c" / "c").exists()
    cache.hold("c")
    assert cache.ensure("d", 100, writer(b"d"), wait=False) is False  # a and c are held: no room
    cache.release("a")
    assert cache.ensure("d", 100, writer(b"d"), wait=False) is True
    assert not (tmp_path / "c" / "a").exists() and cache.usage() == 200


def test_several_processes_share_one_cache(network_drive, isolated_cache):
    url, _ = network_drive
    loaders = [StreamingDataLoader(StreamingDataset(url), batch_size=10, num_workers=2) for _ in range(2)]
    results = [sorted(x for b in loader for x in b["i"].tolist()) for loader in loaders]
    assert results[0] == results[1] == list(range(300))
    assert cache_size(isolated_cache) == sum(
        p.stat().st_size for p in (isolated_cache).rglob("chunk-*.bin")
    )


def test_a_rewritten_dataset_is_not_read_from_a_stale_cache(tmp_path):
    write_dataset(tmp_path / "nas", [1, 2, 3], chunk_size=2)
    assert StreamingDataset(f"local:{tmp_path / 'nas'}")[:] == [1, 2, 3]
    for path in (tmp_path / "nas").iterdir():
        path.unlink()
    write_dataset(tmp_path / "nas", [7, 8, 9], chunk_size=2)
    assert StreamingDataset(f"local:{tmp_path / 'nas'}")[:] == [7, 8, 9]
