"""Streaming from real storage servers on loopback: moto and rclone (S3), fake-gcs-server, Azurite.

Datasets are written locally with ``write_dataset`` and uploaded object by object with the
store (or written remotely by ``optimize``), then read with ``StreamingDataset`` and a
``StreamingDataLoader`` with real worker processes.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import traceback
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from litdata_format import INDEX_FILENAME, ChecksumMismatchError, FormatError, Index, write_dataset
from litdata_stream import StreamingDataLoader, StreamingDataset, TokensLoader

N = 96


def upload(local: Path, store) -> list[str]:
    """Put every file of ``local`` at the same key; index.json last (as a writer does)."""
    names = sorted(p.name for p in local.iterdir() if p.is_file())
    names.sort(key=lambda n: n == INDEX_FILENAME)
    for name in names:
        store.put_file(name, local / name)
    return names


def squares_on(target, tmp_path: Path, *, n: int = N, chunk_size: int = 8, compression: str | None = None,
               checksum: bool = True, suffix: str = "data") -> tuple[str, Index]:
    local = tmp_path / f"local-{suffix}"
    index = write_dataset(local, [(i, i * i) for i in range(n)], chunk_size=chunk_size, compression=compression,
                          checksum=checksum)
    upload(local, target.open(suffix))
    return f"{target.url}/{suffix}", index


def ids(batches) -> list[int]:
    return [x for b in batches for x in b[0].tolist()]


def chunk_files(index: Index) -> list[str]:
    return [c.filename for c in index.chunks]


# ------------------------------------------------------------------------- every backend
def test_stream_every_item_once_with_workers_and_random_access(cloud_target, tmp_path):
    url, index = squares_on(cloud_target, tmp_path)
    ds = StreamingDataset(url, shuffle=True, seed=3, storage_options=cloud_target.storage_options)
    assert len(ds) == N
    loader = StreamingDataLoader(ds, batch_size=5, num_workers=2)
    batches = list(loader)
    seen = ids(batches)
    assert sorted(seen) == list(range(N))
    assert seen != list(range(N))  # shuffled
    assert all(b[1].tolist() == [x * x for x in b[0].tolist()] for b in batches)
    assert len(batches) == len(loader) == -(-N // 5)
    # a second epoch: a new order, still every item once
    second = ids(list(loader))
    assert sorted(second) == list(range(N)) and second != seen
    # random access, in a fresh dataset (nothing cached in this process yet)
    fresh = StreamingDataset(url, storage_options=cloud_target.storage_options)
    for i in (0, 7, 8, N - 1, 50, -1):
        assert fresh[i] == (i % N, (i % N) ** 2)
    assert fresh[10:14] == [(i, i * i) for i in range(10, 14)]
    assert fresh[:] == [(i, i * i) for i in range(N)]
    # the chunks landed in the cache, decompressed under their own names
    cache = Path(os.environ["LITDATA_CACHE_DIR"])
    cached = {p.name for p in cache.rglob("chunk-*.bin")}
    assert cached == set(chunk_files(index))


def test_storage_options_are_passed_through_to_every_process(s3_target, tmp_path, monkeypatch):
    url, _ = squares_on(s3_target, tmp_path, n=20)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    if s3_target.backend == "rclone":  # rclone checks the keys (moto accepts any)
        with pytest.raises(Exception) as info:  # noqa: B017
            StreamingDataset(url, storage_options={**s3_target.storage_options, "aws_secret_access_key": "wrong"})
        assert "wrong" not in str(info.value)  # secrets never appear in errors
    ds = StreamingDataset(url, storage_options=s3_target.storage_options)
    assert ds[:] == [(i, i * i) for i in range(20)]
    # the forked workers use the same options (there is nothing in the environment)
    assert sorted(ids(StreamingDataLoader(ds, batch_size=3, num_workers=2, shuffle=True))) == list(range(20))


def test_s3_endpoint_and_keys_from_the_environment(s3_target, tmp_path, monkeypatch):
    """As the seed README: AWS_ENDPOINT_URL + keys in the environment, no storage_options."""
    url, _ = squares_on(s3_target, tmp_path, n=40)
    server = s3_target.server
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    ds = StreamingDataset(url, shuffle=True)
    seen = ids(StreamingDataLoader(ds, batch_size=4, num_workers=2))
    assert sorted(seen) == list(range(40))
    assert ds[39] == (39, 39 * 39)


# ------------------------------------------------------------------------------ integrity
def _count_downloads(monkeypatch, store_cls, corrupt: dict[str, int] | None = None, log: Path | None = None
                     ) -> list[str]:
    """Record every chunk download of this process (and in ``log``, of its forked workers too);
    corrupt the first ``corrupt[name]`` downloads of ``name`` in each process."""
    calls: list[str] = []
    original = store_cls.download_with_crc32
    left = dict(corrupt or {})

    def download_with_crc32(self, key, local_path):
        size, crc = original(self, key, local_path)
        calls.append(key)
        if log is not None:
            with open(log, "a") as f:
                f.write(f"{os.getpid()} {key} {'corrupted' if left.get(key, 0) > 0 else 'intact'}\n")
        if left.get(key, 0) > 0:  # as if a byte flipped in transit: the file and its CRC agree
            left[key] -= 1
            with open(local_path, "r+b") as f:
                data = bytearray(f.read())
                data[len(data) // 2] ^= 0xFF
                f.seek(0)
                f.write(data)
            crc = zlib.crc32(data)
        return size, crc

    monkeypatch.setattr(store_cls, "download_with_crc32", download_with_crc32)
    return calls


def test_chunk_corrupted_on_the_server_is_fetched_twice_then_reported(cloud_target, tmp_path, monkeypatch):
    url, index = squares_on(cloud_target, tmp_path, n=32)
    bad = index.chunks[1].filename
    store = cloud_target.open("data")
    data = bytearray(store.get(bad))
    data[-3] ^= 0x55
    store.put(bad, bytes(data))
    ds = StreamingDataset(url, storage_options=cloud_target.storage_options)
    calls = _count_downloads(monkeypatch, type(ds.source.store))
    assert ds[0] == (0, 0)  # chunk 0 is fine
    with pytest.raises(ChecksumMismatchError, match=rf"chunk {bad}\b.*{url}") as info:
        ds[8]
    assert "two downloads" in str(info.value)
    assert calls == [index.chunks[0].filename, bad, bad]  # one re-fetch, then the error
    # nothing corrupt was left in the cache: a later read fetches again, and fails again
    with pytest.raises(ChecksumMismatchError):
        ds[9]
    assert calls.count(bad) == 4
    assert not [p for p in Path(os.environ["LITDATA_CACHE_DIR"]).rglob(bad)]
    # a loader with workers reports the same error
    loader = StreamingDataLoader(StreamingDataset(url, storage_options=cloud_target.storage_options), num_workers=2)
    with pytest.raises(ChecksumMismatchError, match=bad) as info:
        list(loader)
    release_workers(info)


def release_workers(info) -> None:
    """Let the failed DataLoader iterator go now, not at a later garbage collection.

    The re-raised worker error sits in a reference cycle with torch's iterator; collected
    later, the iterator's queues may be finalized first and its shutdown then waits 5 s
    per worker for workers that never get the stop signal (torch behaviour).
    """
    traceback.clear_frames(info.tb)


def test_chunk_corrupted_in_transit_once_is_refetched_transparently(s3_target, tmp_path, monkeypatch):
    url, index = squares_on(s3_target, tmp_path, n=40)
    names = chunk_files(index)
    ds = StreamingDataset(url, storage_options=s3_target.storage_options)
    # every chunk arrives corrupted the first time, in this process and in each forked worker
    calls = _count_downloads(monkeypatch, type(ds.source.store), corrupt={n: 1 for n in names})
    assert ds[:] == [(i, i * i) for i in range(40)]
    assert sorted(calls) == sorted(names * 2)
    # with real workers (a fresh cache): every chunk arrives corrupted once in each forked
    # worker that downloads it; each worker re-fetches what it got corrupted
    log = tmp_path / "downloads.log"
    _count_downloads(monkeypatch, type(ds.source.store), corrupt={n: 1 for n in names}, log=log)
    monkeypatch.setenv("LITDATA_CACHE_DIR", str(tmp_path / "cache2"))
    loader = StreamingDataLoader(StreamingDataset(url, shuffle=True, storage_options=s3_target.storage_options),
                                 batch_size=3, num_workers=2)
    assert sorted(ids(loader)) == list(range(40))
    downloads = [line.split() for line in log.read_text().splitlines()]
    assert {pid for pid, _, _ in downloads} != {str(os.getpid())}  # the workers downloaded
    for name in names:  # one corrupted copy, then an intact one, in the same worker (the cache is shared)
        per_chunk = [(pid, state) for pid, key, state in downloads if key == name]
        assert [state for _, state in per_chunk] == ["corrupted", "intact"], (name, downloads)
        assert per_chunk[0][0] == per_chunk[1][0]


def test_truncated_chunk_on_the_server_is_reported_by_name(cloud_target, tmp_path):
    for checksum in (True, False):
        url, index = squares_on(cloud_target, tmp_path, n=24, checksum=checksum, suffix=f"c{checksum}")
        bad = index.chunks[2].filename
        store = cloud_target.open(f"c{checksum}")
        store.put(bad, store.get(bad)[:-10])
        ds = StreamingDataset(url, storage_options=cloud_target.storage_options)
        assert ds[15] == (15, 225)
        with pytest.raises((FormatError, OSError)) as info:
            ds[16]
        assert bad in str(info.value), (checksum, str(info.value))
        if checksum:
            assert isinstance(info.value, ChecksumMismatchError)


def test_bad_chunk_copy_is_not_kept_in_the_cache(s3_target, tmp_path):
    """Without checksums a truncated chunk is caught when opened, and dropped from the cache:
    once the object is fixed on the server, the next read fetches it again."""
    url, index = squares_on(s3_target, tmp_path, n=24, checksum=False)
    bad = index.chunks[1].filename
    store = s3_target.open("data")
    good = store.get(bad)
    store.put(bad, good[:-10])
    with pytest.raises(FormatError, match=rf"chunk {bad} is truncated"):
        StreamingDataset(url, storage_options=s3_target.storage_options)[8]
    assert not list(Path(os.environ["LITDATA_CACHE_DIR"]).rglob(bad))
    store.put(bad, good)
    ds = StreamingDataset(url, storage_options=s3_target.storage_options)
    assert ds[:] == [(i, i * i) for i in range(24)]


def test_chunk_missing_on_the_server_is_named(s3_target, tmp_path):
    url, index = squares_on(s3_target, tmp_path, n=24)
    bad = index.chunks[2].filename
    s3_target.open("data").delete(bad)
    ds = StreamingDataset(url, storage_options=s3_target.storage_options)
    assert ds[15] == (15, 225)
    with pytest.raises(FileNotFoundError, match=rf"{url}/{bad}"):
        ds[16]


def test_spawned_workers_open_their_own_clients(s3_server, tmp_path):
    """With the spawn start method the dataset (and its store) is pickled into each worker
    (one S3 server is enough: spawned workers take seconds to start)."""
    from litdata_storage import open_store

    location, options = s3_server.new_location(), s3_server.storage_options()
    url = f"{location}/data"
    write_dataset(tmp_path / "local", [(i, i * i) for i in range(40)], chunk_size=8)
    upload(tmp_path / "local", open_store(url, **options))
    ds = StreamingDataset(url, storage_options=options, shuffle=True, max_cache_size="1MB")
    loader = StreamingDataLoader(ds, batch_size=3, num_workers=2, multiprocessing_context="spawn")
    assert sorted(ids(loader)) == list(range(40))


def _download_then_hang(ds, index, started) -> None:
    """A child process that starts downloading a chunk and never finishes (it gets killed)."""

    def hang(self, key, local_path):
        started.set()
        time.sleep(120)

    type(ds.source.store).download_with_crc32 = hang
    ds[index]


def test_downloads_of_killed_processes_do_not_shrink_the_cache(s3_target, tmp_path):
    """A worker killed mid-download (OOM killer, preemption) leaves its cache reservation
    behind; it must not count against ``max_cache_size`` for ever."""
    url, index = squares_on(s3_target, tmp_path, n=32)
    room = 2 * max(c.chunk_bytes for c in index.chunks)
    ds = StreamingDataset(url, storage_options=s3_target.storage_options, max_cache_size=room)
    context = multiprocessing.get_context("fork")
    for item in (0, 8):  # two downloads, as much as the cache holds
        started = context.Event()
        child = context.Process(target=_download_then_hang, args=(ds, item, started))
        child.start()
        assert started.wait(30)
        os.kill(child.pid, signal.SIGKILL)
        child.join()
    ds.source.cache.wait_timeout = 5  # a failure shows as CacheFullError, not a 10-minute wait
    assert ds[16] == (16, 256)
    assert ds[:] == [(i, i * i) for i in range(32)]
    assert ds.source.cache.usage() <= room


def test_missing_index_names_the_url(cloud_target):
    url = f"{cloud_target.url}/no-dataset-here"
    with pytest.raises(FileNotFoundError, match=rf"{url}/index\.json"):
        StreamingDataset(url, storage_options=cloud_target.storage_options)


def test_rewritten_dataset_is_never_read_stale(s3_target, tmp_path):
    litdata_writer = pytest.importorskip("litdata_writer")
    url = f"{s3_target.url}/rewritten"
    options = s3_target.storage_options
    litdata_writer.optimize(_pair, list(range(30)), url, chunk_size=8, num_workers=1, storage_options=options,
                            verbose=False)
    first = StreamingDataset(url, storage_options=options)
    assert first[:] == [(i, "v0") for i in range(30)]
    litdata_writer.optimize(_pair_v1, list(range(30, 50)), url, chunk_size=8, num_workers=1, mode="overwrite",
                            storage_options=options, verbose=False)
    second = StreamingDataset(url, storage_options=options, shuffle=True)
    assert second.source.index.updated_at != first.source.index.updated_at
    assert second.source.cache.folder != first.source.cache.folder
    assert second[:] == [(i, "v1") for i in range(30, 50)]
    loader = StreamingDataLoader(second, batch_size=4, num_workers=2)
    assert sorted(x for b in loader for x in b[0].tolist()) == list(range(30, 50))


def _pair(i):
    return (i, "v0")


def _pair_v1(i):
    return (i, "v1")


# ---------------------------------------------------------------------- compressed, tokens
def test_zstd_dataset_over_s3(s3_target, tmp_path):
    pytest.importorskip("zstandard")
    items = [{"id": i, "text": f"record {i} " * 20, "arr": np.arange(i % 7, dtype=np.int32)} for i in range(50)]
    local = tmp_path / "zstd"
    index = write_dataset(local, items, chunk_size=8, compression="zstd", compression_level="chunk")
    assert all(".zstd" in c.filename for c in index.chunks)
    upload(local, s3_target.open("z"))
    url = f"{s3_target.url}/z"
    ds = StreamingDataset(url, storage_options=s3_target.storage_options, shuffle=True)
    for i in (0, 17, 49):
        got = ds[i]
        assert got["id"] == i and got["text"] == items[i]["text"] and np.array_equal(got["arr"], items[i]["arr"])
    seen = []
    for item in StreamingDataLoader(ds, batch_size=1, num_workers=2, collate_fn=lambda x: x[0]):
        assert item["text"] == items[item["id"]]["text"]
        assert np.array_equal(item["arr"], items[item["id"]]["arr"])
        seen.append(item["id"])
    assert sorted(seen) == list(range(50))


def test_tokens_dataset_over_s3(s3_target, tmp_path):
    rng = np.random.default_rng(0)
    documents = [rng.integers(0, 50000, size=int(rng.integers(5, 40)), dtype=np.uint16) for _ in range(40)]
    local = tmp_path / "tokens"
    index = write_dataset(local, documents, chunk_size=100, item_loader="TokensLoader")
    upload(local, s3_target.open("tok"))
    block = 10
    stream = np.concatenate(documents)
    blocks, start = [], 0
    for info in index.chunks:  # blocks never cross a chunk; leftovers are dropped
        tokens = stream[start : start + info.dim]
        start += info.dim
        blocks += [tokens[k * block : (k + 1) * block] for k in range(info.dim // block)]
    assert start == len(stream)
    ds = StreamingDataset(f"{s3_target.url}/tok", item_loader=TokensLoader(block_size=block),
                          storage_options=s3_target.storage_options, shuffle=True, drop_last=True)
    assert len(index.chunks) > 3 and len(ds) == len(blocks) < len(stream) // block
    assert all(torch.equal(ds[i], torch.from_numpy(b.astype(np.uint16))) for i, b in enumerate(blocks))
    loader = StreamingDataLoader(ds, batch_size=4, num_workers=2)
    got = [tuple(row.tolist()) for batch in loader for row in batch]
    want = [tuple(b.tolist()) for b in blocks]
    assert len(got) == len(want) - len(want) % 4
    assert len(set(got)) == len(got) and set(got) <= set(want)
