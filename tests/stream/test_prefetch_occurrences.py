"""A chunk that comes back later in a worker's plan is prefetched again, not only on its first use."""

from __future__ import annotations

import itertools
import os
import time

import pytest

from litdata_format import write_dataset
from litdata_stream import ParallelStreamingDataset, StreamingDataLoader, StreamingDataset
from litdata_stream.chunk_runs import chunk_runs
from litdata_stream.chunks import Prefetcher

CHUNK = 20
pytestmark = pytest.mark.filterwarnings("ignore:.*a shuffle block of:UserWarning")


def network_drive(tmp_path, n=120):
    """Six chunks of about 20 KB on a 'network drive' (local:): every read goes through the cache."""
    index = write_dataset(tmp_path / "nas", [(i, bytes(1000)) for i in range(n)], chunk_size=CHUNK)
    return f"local:{tmp_path / 'nas'}", index.chunks[0].chunk_bytes


def wait_for(condition, seconds=10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_chunk_runs_lists_a_chunk_again_once_it_has_left_the_window():
    assert list(chunk_runs([0, 0, 1, 1, 0, 2, 2, 0])) == [0, 1, 0, 2, 0]
    assert list(chunk_runs([0, 1, 0, 1, 2, 0, 3, 1], window=2)) == [0, 1, 2, 0, 3, 1]
    # An endless plan that never leaves its window (one chunk, cycling) still yields now and then.
    assert list(itertools.islice(chunk_runs(itertools.repeat(3), patience=10), 3)) == [3, 3, 3]


def test_a_returning_chunk_is_fetched_again_after_the_cache_let_it_go(tmp_path, isolated_cache):
    url, chunk_bytes = network_drive(tmp_path)
    source = StreamingDataset(url, max_cache_size=chunk_bytes * 2 + 100).source  # room for two chunks
    path = [source.local_path(n) for n in range(3)]
    prefetcher = Prefetcher(source, chunk_runs([0, 1, 2, 0, 1, 2]), ahead=1)
    try:
        prefetcher.reading(0)
        assert wait_for(lambda: os.path.exists(path[0]) and os.path.exists(path[1]))
        first_copy = os.stat(path[0]).st_ino
        prefetcher.reading(1)  # chunk 2 comes next: the cache lets chunk 0 go for it
        assert wait_for(lambda: os.path.exists(path[2]))
        prefetcher.reading(2)  # chunk 0 comes back next: fetched again, ahead of the reader
        assert wait_for(lambda: os.path.exists(path[0]) and os.stat(path[0]).st_ino != first_copy)
        assert prefetcher.error is None
    finally:
        prefetcher.stop()


class Arrivals(StreamingDataset):
    """Reads in order and, halfway through each chunk, notes whether the next chunk of the
    reading order arrives in the cache while the reader is still on this one.

    It waits up to a few seconds for it (the prefetcher is a thread, and a busy machine can
    delay it); a prefetcher that does not look ahead never brings it while the reader waits."""

    def __init__(self, *args, passes: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ahead: list[tuple[int, bool]] = []  # (reading position of the next chunk's start, arrived)
        self.read = 0
        self.reads = passes * 120

    def __getitem__(self, index):
        n, self.read = self.read, self.read + 1
        if n % CHUNK == CHUNK // 2 and n + CHUNK < self.reads:
            following = (n // CHUNK + 1) % (120 // CHUNK)
            path = self.source.local_path(following)
            self.ahead.append(((n // CHUNK + 1) * CHUNK, wait_for(lambda: os.path.exists(path), seconds=5.0)))
        return super().__getitem__(index)


def test_the_second_copy_of_an_upsampled_remote_dataset_is_prefetched(tmp_path, isolated_cache):
    url, chunk_bytes = network_drive(tmp_path)
    ds = Arrivals(url, passes=2, subsample=2.0, max_cache_size=chunk_bytes * 4 + 100, max_pre_download=2)
    items = [int(x) for batch in StreamingDataLoader(ds, batch_size=10, num_workers=0) for x in batch[0]]
    assert items == list(range(120)) * 2  # two whole copies, in order
    second_pass = [arrived for start, arrived in ds.ahead if start >= 120]
    # The cache holds four of the six chunks, so the first ones were let go by the end of the
    # first copy: every chunk of the second was fetched again before the reader came to it.
    assert len(second_pass) == 6 and all(second_pass)


def test_a_cycling_parallel_dataset_keeps_prefetching_on_later_passes(tmp_path, isolated_cache):
    url, chunk_bytes = network_drive(tmp_path)
    small = tmp_path / "small"
    write_dataset(small, [(i, 0) for i in range(400)], chunk_size=50)
    slow = Arrivals(url, passes=3, max_cache_size=chunk_bytes * 4 + 100, max_pre_download=2)
    mixture = ParallelStreamingDataset([slow, StreamingDataset(str(small))], length=360)
    loader = StreamingDataLoader(mixture, batch_size=10, num_workers=0)
    firsts = [int(x) for batch in loader for x in batch[0][0]]
    assert firsts == (list(range(120)) * 3)
    arrived = [ok for _, ok in slow.ahead]  # the chunks after the first, on every pass
    assert len(arrived) == 17 and all(arrived), [start for start, ok in slow.ahead if not ok]
