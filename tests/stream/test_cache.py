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


def test_a_prefetch_does_not_wait_for_a_download_in_progress_elsewhere(tmp_path):
    cache = ChunkCache(str(tmp_path / "cache"), max_bytes=10_000)
    started, finish = threading.Event(), threading.Event()

    def slow_fetch(path):
        started.set()
        finish.wait(10)
        with open(path, "wb") as f:
            f.write(b"x" * 100)

    downloader = threading.Thread(target=cache.ensure, args=("a.bin", 100, slow_fetch))
    downloader.start()
    assert started.wait(10)
    began = time.monotonic()
    fetched = []
    assert cache.ensure("a.bin", 100, fetched.append, wait=False) is False  # busy: not now
    assert time.monotonic() - began < 1 and fetched == []
    assert cache.ensure("b.bin", 100, lambda p: open(p, "wb").write(b"y" * 100), wait=False) is True
    finish.set()
    downloader.join(10)
    assert cache.ensure("a.bin", 100, fetched.append, wait=False) is True and fetched == []
    assert open(cache.path("a.bin"), "rb").read() == b"x" * 100


def test_prefetchers_move_on_while_another_process_downloads_the_next_chunk(network_drive, isolated_cache):
    import fcntl
    import os

    from litdata_stream.chunks import Prefetcher
    from litdata_stream.source import DatasetSource

    url, _ = network_drive
    source = DatasetSource(url)
    cache = source.cache
    os.makedirs(os.path.dirname(cache._lock_path(source.local_name(1), ".download")), exist_ok=True)
    fd = os.open(cache._lock_path(source.local_name(1), ".download"), os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # "another worker" is downloading chunk 1 and never finishes
    try:
        prefetcher = Prefetcher(source, [0, 1, 2, 3], ahead=3)
        deadline = time.monotonic() + 10
        wanted = [source.local_path(n) for n in (0, 2, 3)]
        while not all(os.path.exists(p) for p in wanted) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert all(os.path.exists(p) for p in wanted)  # 0, 2 and 3 fetched past the busy chunk 1
        assert not os.path.exists(source.local_path(1))
        prefetcher.stop()
    finally:
        os.close(fd)


@pytest.mark.parametrize("shuffle, algorithm, warns", [(False, "block", False), (True, "chunk", False),
                                                       (True, "block", True)])
def test_only_a_block_shuffle_warns_that_its_block_does_not_fit_the_cache(network_drive, isolated_cache,
                                                                           shuffle, algorithm, warns):
    import warnings

    url, chunk_bytes = network_drive
    ds = StreamingDataset(url, shuffle=shuffle, shuffle_algo=algorithm, max_cache_size=chunk_bytes * 4 + 100)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = sorted(int(x) for batch in StreamingDataLoader(ds, batch_size=10) for x in batch["i"])
    assert items == list(range(300))
    assert any("a shuffle block of" in str(w.message) for w in caught) is warns
