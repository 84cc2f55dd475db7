"""The contract every store honours, run against each backend on a real server
(moto, rclone, fake-gcs-server, Azurite) and against the local disk."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import pickle
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from litdata_storage import (
    BucketNotFoundError,
    InvalidKeyError,
    NotFoundError,
    Store,
    open_store,
)
from litdata_storage.base import TEMP_MARKER

MiB = 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(4 * MiB):
            h.update(block)
    return h.hexdigest()


# ------------------------------------------------------------------ round trips
def test_put_get_round_trip(store_url):
    store = store_url.open()
    assert isinstance(store, Store)
    payload = bytes(range(256)) * 100
    store.put("a.bin", payload)
    store.put("nested/deeper/b.bin", bytearray(b"\x00\xffabc"))
    store.put("c.bin", memoryview(b"from a memoryview"))
    assert store.get("a.bin") == payload
    assert store.get("nested/deeper/b.bin") == b"\x00\xffabc"
    assert store.get("c.bin") == b"from a memoryview"
    assert store.size("a.bin") == len(payload)
    assert store.exists("a.bin") and not store.exists("nope.bin")
    store.put("a.bin", b"replaced")  # overwrite
    assert store.get("a.bin") == b"replaced"
    store.put("empty", b"")
    assert store.get("empty") == b"" and store.size("empty") == 0
    assert store.url("a.bin") == f"{store_url.url}/a.bin"


def test_get_range_semantics(store_url):
    store = store_url.open()
    data = os.urandom(1000)
    store.put("r.bin", data)
    assert store.get_range("r.bin", 0, 1) == data[:1]  # first byte
    assert store.get_range("r.bin", 999, 1000) == data[-1:]  # last byte
    assert store.get_range("r.bin", 100, 300) == data[100:300]
    assert store.get_range("r.bin", 900, 5000) == data[900:]  # past the end: what exists
    assert store.get_range("r.bin", 250) == data[250:]  # open end
    assert store.get_range("r.bin", 1000, 1010) == b""  # start at the size
    assert store.get_range("r.bin", 5000, 6000) == b""  # start beyond the size
    assert store.get_range("r.bin", 5000) == b""
    assert store.get_range("r.bin", 10, 10) == b""  # empty interval
    store.put("empty", b"")
    assert store.get_range("empty", 0, 10) == b""
    with pytest.raises(ValueError):
        store.get_range("r.bin", 10, 5)
    with pytest.raises(ValueError):
        store.get_range("r.bin", -1, 5)


def test_put_file_and_atomic_download(store_url, tmp_path):
    store = store_url.open("pre")
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(300_000))
    store.put_file("dir/file.bin", src)
    out = tmp_path / "out" / "sub" / "file.bin"
    assert store.download("dir/file.bin", out) == 300_000
    assert out.read_bytes() == src.read_bytes()
    out.write_bytes(b"stale content")  # a download replaces what was there
    store.download("dir/file.bin", out)
    assert out.read_bytes() == src.read_bytes()
    assert [p.name for p in out.parent.iterdir()] == ["file.bin"]  # no temporary files left
    store.put("zero", b"")
    assert store.download("zero", tmp_path / "zero") == 0 and (tmp_path / "zero").read_bytes() == b""


def test_parallel_ranged_download_small_parts(store_url, tmp_path):
    store = store_url.open(part_size=64 * 1024, max_concurrency=4)
    data = os.urandom(64 * 1024 * 5 + 123)  # 6 parts, the last one short
    store.put("obj", data)
    assert store.download("obj", tmp_path / "obj") == len(data)
    assert sha((tmp_path / "obj").read_bytes()) == sha(data)


@pytest.mark.parametrize("size", [0, 1000, 64 * 1024 * 5 + 123])
def test_download_with_crc32_reports_the_crc_of_the_bytes_written(store_url, tmp_path, size):
    store = store_url.open(part_size=64 * 1024, max_concurrency=4)
    data = os.urandom(size)
    store.put("obj", data)
    written, crc = store.download_with_crc32("obj", tmp_path / "obj")
    assert (tmp_path / "obj").read_bytes() == data
    assert (written, crc) == (size, zlib.crc32(data))


# ---------------------------------------------------------------------- listing
def test_list(store_url):
    store = store_url.open("root")
    sibling = store_url.open("root2")  # must not leak into root's listing
    for key in ["a/1", "a/2", "a/b/3", "ab", "c"]:
        store.put(key, key.encode())
    sibling.put("x", b"x")
    assert list(store.list()) == ["a/1", "a/2", "a/b/3", "ab", "c"]
    assert list(store.list("a")) == ["a/1", "a/2", "a/b/3", "ab"]  # a string prefix, as on S3
    assert list(store.list("a/")) == ["a/1", "a/2", "a/b/3"]
    assert list(store.list("a/b")) == ["a/b/3"]
    assert list(store.list("zzz")) == []
    assert list(store.list(recursive=False)) == ["a/", "ab", "c"]
    assert list(store.list("a/", recursive=False)) == ["a/1", "a/2", "a/b/"]
    assert list(sibling.list()) == ["x"]


def test_list_sizes_gives_every_object_with_its_size_in_key_order(store_url):
    store = store_url.open("sized")
    store_url.open("sized2").put("x", b"x")  # a sibling prefix: not listed
    objects = {"a/1": b"", "a/b/3": b"333", "ab": b"ab" * 1000, "c": b"c"}
    for key, data in objects.items():
        store.put(key, data)
    assert list(store.list_sizes()) == [(k, len(objects[k])) for k in sorted(objects)]
    assert list(store.list_sizes("a/")) == [("a/1", 0), ("a/b/3", 3)]
    assert list(store.list_sizes("zzz")) == []


@pytest.mark.slow
def test_list_more_than_1000_keys(store_url):
    store = store_url.open("many")
    store.list_page_size = 200  # several pages on every backend, not only past S3's 1,000
    keys = [f"k/{i:05d}" for i in range(1050)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: store.put(k, b"x"), keys))
    assert list(store.list()) == keys
    assert list(store.list(recursive=False)) == ["k/"]
    store.list_page_size = 1000
    assert list(store.list()) == keys
    assert list(store.list("k/010")) == [f"k/{i:05d}" for i in range(1000, 1050)]
    assert store.delete_prefix("k/") == 1050
    assert list(store.list()) == []


# --------------------------------------------------------------------- deletion
def test_delete_and_delete_prefix(store_url):
    store = store_url.open()
    for key in ["d/1", "d/2", "d/sub/3", "keep/1", "dx"]:
        store.put(key, b"v")
    store.delete("d/1")
    assert not store.exists("d/1")
    store.delete("d/1")  # deleting a missing key is fine
    assert store.delete_prefix("d/") == 2
    assert list(store.list()) == ["dx", "keep/1"]
    assert list(store.list(recursive=False)) == ["dx", "keep/"]
    assert store.delete_prefix() == 2
    assert list(store.list()) == []


# ------------------------------------------------------------------------ errors
def test_missing_key_errors(store_url, tmp_path):
    store = store_url.open()
    store.put("present", b"x")
    calls = [
        lambda: store.get("missing"),
        lambda: store.get_range("missing", 0, 10),
        lambda: store.get_range("missing", 5),
        lambda: store.get_range("missing", 3, 3),
        lambda: store.size("missing"),
        lambda: store.download("missing", tmp_path / "out"),
    ]
    for call in calls:
        with pytest.raises(NotFoundError) as info:
            call()
        assert type(info.value) is NotFoundError
        assert isinstance(info.value, FileNotFoundError)
        assert "missing" in str(info.value)
    assert not store.exists("missing")
    assert not (tmp_path / "out").exists()
    assert not any(TEMP_MARKER in p.name for p in tmp_path.iterdir())  # no temporary file left behind


def test_missing_bucket(cloud_target):
    store = open_store(cloud_target.missing_bucket_url, **cloud_target.storage_options)
    for call in (
        lambda: store.get("k"),
        lambda: store.size("k"),
        lambda: list(store.list()),
        lambda: store.put("k", b"x"),
        lambda: store.exists("k"),
    ):
        with pytest.raises(BucketNotFoundError) as info:
            call()
        assert "litdata-no-such-bucket-0" in str(info.value)
        assert isinstance(info.value, FileNotFoundError)


def test_invalid_keys(store_url):
    store = store_url.open()
    for key in ["", "/abs", "../up", "a/../../b", "a//b", "a/./b"]:
        with pytest.raises(InvalidKeyError):
            store.get(key)
        with pytest.raises(ValueError):
            store.put(key, b"x")


# -------------------------------------------------------------------- big files
@pytest.fixture(scope="session")
def big_file(tmp_path_factory) -> tuple[Path, str]:
    """A 50 MB file of random bytes and its sha256."""
    path = tmp_path_factory.mktemp("big") / "big.bin"
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for _ in range(50):
            block = os.urandom(MiB)
            h.update(block)
            f.write(block)
    return path, h.hexdigest()


@pytest.mark.slow
def test_large_object_multipart_and_parallel_download(store_url, big_file, tmp_path):
    path, digest = big_file
    store = store_url.open(part_size=8 * MiB, max_concurrency=4)
    store.put_file("big.bin", path)  # multipart upload on S3 (7 parts)
    assert store.size("big.bin") == 50 * MiB
    out = tmp_path / "big.out"
    assert store.download("big.bin", out) == 50 * MiB  # 7 parallel ranged GETs
    assert file_sha(out) == digest
    with open(path, "rb") as f:
        f.seek(8 * MiB - 10)
        expected = f.read(20)
    assert store.get_range("big.bin", 8 * MiB - 10, 8 * MiB + 10) == expected  # across a part boundary
    store.delete("big.bin")


# ------------------------------------------------------------------ concurrency
def test_threads_share_one_store(store_url, tmp_path):
    store = store_url.open(part_size=128 * 1024, max_concurrency=3)
    blobs = {f"t/{i}": os.urandom(100_000 + i * 40_000) for i in range(12)}

    def work(item):
        key, data = item
        store.put(key, data)
        assert store.get(key) == data
        out = tmp_path / key.replace("/", "_")
        store.download(key, out)
        return sha(out.read_bytes()) == sha(data)

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(work, blobs.items()))
    assert sorted(store.list("t/")) == sorted(blobs)


_FORKED_STORE: Store | None = None
_PARENT_CLIENT: object = None


def _download_in_child(args: tuple[str, str]) -> tuple[str, str, bool]:
    key, out = args
    store = _FORKED_STORE
    assert store is not None
    store.download(key, out)
    fresh_client = store._client() is not _PARENT_CLIENT or _PARENT_CLIENT is None
    return key, file_sha(out), fresh_client and store._client_pid == os.getpid()


def test_forked_processes_use_the_same_store(store_url, tmp_path):
    global _FORKED_STORE, _PARENT_CLIENT
    store = store_url.open(part_size=256 * 1024, max_concurrency=4)
    blobs = {f"p/{i}": os.urandom(600_000 + 97 * i) for i in range(8)}
    for key, data in blobs.items():
        store.put(key, data)
    assert store.get("p/0") == blobs["p/0"]  # the parent has a warm client and connections
    _FORKED_STORE, _PARENT_CLIENT = store, store._client()
    try:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(4) as pool:
            results = pool.map(
                _download_in_child, [(k, str(tmp_path / k.replace("/", "_"))) for k in blobs], chunksize=1
            )
    finally:
        _FORKED_STORE = _PARENT_CLIENT = None
    for key, digest, fresh in results:
        assert digest == sha(blobs[key]), f"{key} corrupted in a forked worker"
        assert fresh, "a forked worker reused its parent's client"
    assert store.get("p/1") == blobs["p/1"]  # the parent still works


def test_pickle_round_trip(store_url):
    store = store_url.open("pk")
    store.put("k", b"v")
    clone = pickle.loads(pickle.dumps(store))
    assert clone == store and clone.root_url == store.root_url
    assert clone.get("k") == b"v"
