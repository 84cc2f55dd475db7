"""URL parsing, scheme resolution, lazy imports and clear errors for bad input."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import litdata_storage
from litdata_storage import (
    InvalidURLError,
    MissingExtraError,
    StorageError,
    open_store,
    parse_url,
)
from litdata_storage.local import LocalStore


@pytest.mark.parametrize(
    ("url", "scheme", "bucket", "prefix"),
    [
        ("s3://bucket", "s3", "bucket", ""),
        ("s3://bucket/", "s3", "bucket", ""),
        ("s3://bucket/a/b/", "s3", "bucket", "a/b"),
        ("S3://bucket/a", "s3", "bucket", "a"),
        ("gs://b/p", "gs", "b", "p"),
        ("gcs://b/p", "gs", "b", "p"),
        ("azure://container/x/y", "azure", "container", "x/y"),
        ("az://container", "azure", "container", ""),
        ("hf://datasets/org/name", "hf", "", "datasets/org/name"),
    ],
)
def test_parse_cloud_urls(url, scheme, bucket, prefix):
    parsed = parse_url(url)
    assert (parsed.scheme, parsed.bucket, parsed.prefix) == (scheme, bucket, prefix)


def test_parse_paths(tmp_path):
    assert parse_url(str(tmp_path)).path == str(tmp_path)
    assert parse_url(tmp_path).scheme == "file"  # os.PathLike
    assert parse_url(f"file://{tmp_path}").path == str(tmp_path)
    assert parse_url(f"file://localhost{tmp_path}").path == str(tmp_path)
    assert parse_url("relative/dir").path == os.path.abspath("relative/dir")
    local = parse_url(f"local:{tmp_path}")
    assert (local.scheme, local.path) == ("local", str(tmp_path))
    assert parse_url(f"local://{tmp_path}").path == str(tmp_path)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("", "empty"),
        ("   ", "empty"),
        (" s3://b", "whitespace"),
        ("s3://", "names no bucket"),
        ("s3:///prefix", "names no bucket"),
        ("gs://", "names no bucket"),
        ("azure://", "names no container"),
        ("s3://bu cket/x", "not valid"),
        ("s3://bucket/a/../b", "'..'"),
        ("s3://bucket/a//b", "empty"),
        ("file://otherhost/x", "names host"),
        ("local:", "no path"),
        ("://x", "invalid scheme"),
        ("we ird://x", "invalid scheme"),
        ("hf://", "nothing after"),
    ],
)
def test_bad_urls_raise_clear_errors(url, words):
    with pytest.raises(InvalidURLError) as info:
        parse_url(url)
    assert words in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, StorageError)
    if url.strip():
        assert repr(url) in str(info.value) or url in str(info.value)


def test_not_a_string():
    with pytest.raises(InvalidURLError, match="string or a path"):
        parse_url(42)  # type: ignore[arg-type]


def test_open_store_local_kinds(tmp_path):
    plain = open_store(tmp_path)
    assert isinstance(plain, LocalStore) and not plain.is_remote and plain.scheme == "file"
    drive = open_store(f"local:{tmp_path}")
    assert isinstance(drive, LocalStore) and drive.is_remote and drive.scheme == "local"
    assert drive.url("a/b") == f"local:{tmp_path}/a/b"
    drive.put("a/b", b"x")
    assert plain.get("a/b") == b"x" and plain.local_path("a/b") == str(tmp_path / "a" / "b")
    assert LocalStore.is_remote is False  # the class default is untouched
    assert open_store(f"file://{tmp_path}").get("a/b") == b"x"


def test_unknown_option_is_rejected(tmp_path):
    with pytest.raises(TypeError, match="unknown storage option"):
        open_store(tmp_path, endpoint="x")
    with pytest.raises(TypeError):
        open_store("s3://bucket", no_such_option=1)


def test_import_loads_no_cloud_sdk():
    code = (
        "import sys, litdata_storage\n"
        "from litdata_storage import open_store\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'google', 'azure', 'fsspec')]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("url", "module", "extra"),
    [
        ("s3://b/p", "boto3", "s3"),
        ("gs://b/p", "google.cloud.storage", "gcs"),
        ("azure://c/p", "azure.storage.blob", "azure"),
    ],
)
def test_missing_sdk_names_the_extra(url, module, extra, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    with pytest.raises(MissingExtraError) as info:
        open_store(url)
    assert f"pip install 'litdata-storage[{extra}]'" in str(info.value)
    assert url in str(info.value)
    assert isinstance(info.value, ImportError)


def test_other_schemes_go_through_fsspec(monkeypatch):
    try:
        import fsspec  # noqa: F401
    except ImportError:
        with pytest.raises(MissingExtraError, match="pip install fsspec"):
            open_store("memory://bucket/data")
        return
    store = open_store("memory://litdata-test/data")
    store.put("a/b", b"hello")
    assert store.get("a/b") == b"hello" and store.get_range("a/b", 1, 3) == b"el"
    assert list(store.list()) == ["a/b"] and store.size("a/b") == 5
    store.put("a/c", b"")
    assert list(store.list_sizes()) == [("a/b", 5), ("a/c", 0)] and list(store.list_sizes("zz")) == []
    with pytest.raises(InvalidURLError, match="fsspec does not know"):
        open_store("nosuchproto://x/y")
    monkeypatch.setitem(sys.modules, "fsspec", None)
    with pytest.raises(MissingExtraError, match="pip install fsspec"):
        open_store("memory://bucket/data")


def test_public_api():
    for name in litdata_storage.__all__:
        assert hasattr(litdata_storage, name)
    assert litdata_storage.__version__
