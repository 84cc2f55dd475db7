"""``StreamingDataset[key]`` / ``get_by_key``: items found through the keys sidecar.

Sidecars come from LitData 0.2.76 itself (the ``keys_*`` vectors) and from our
``optimize(..., key_fn=...)`` with two workers, locally and on an S3 server.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from litdata_vectors import VECTORS_DIR, expected  # tests/ is on sys.path (tests/conftest.py)

from litdata_stream import StreamingDataset
from litdata_writer import build_keys_index, optimize

KEY_VECTORS = {"keys_str": "id", "keys_int": "k"}


def record(i):
    return {"id": f"rec-{(i * 7919) % 1000:04d}", "n": i}


def record_id(item):
    return item["id"]


def int_record(i):
    return {"k": i * 1_000_003 - 50_000_000, "n": i}


def int_key(item):
    return item["k"]


@pytest.mark.parametrize("name", sorted(KEY_VECTORS))
def test_every_key_of_a_litdata_sidecar_finds_its_item(name):
    vector = expected.load(name)
    field = KEY_VECTORS[name]
    ds = StreamingDataset(VECTORS_DIR / "data" / name)
    items = [expected.decode(item) for item in vector["items"]]
    assert len(items) == ds.num_items
    for position, want in enumerate(items):
        key = want[field]
        got = ds[key] if isinstance(key, str) else ds.get_by_key(key)
        expected.check(got, vector["items"][position])
        expected.check(ds.get_by_key(key), vector["items"][position])
        expected.check(ds[position], vector["items"][position])  # ints stay positions
    missing = "not-a-key" if name == "keys_str" else 10**15
    with pytest.raises(KeyError) as info:
        ds.get_by_key(missing)
    assert info.value.args == (missing,)


def test_two_worker_optimize_then_every_key_and_position(tmp_path):
    out = str(tmp_path / "ds")
    optimize(record, list(range(50)), out, chunk_size=4, num_workers=2, key_fn=record_id, verbose=False)
    ds = StreamingDataset(out)
    for i in range(50):
        assert ds[record(i)["id"]] == record(i)
        assert ds.get_by_key(record(i)["id"]) == record(i)
    assert sorted(ds[i]["n"] for i in range(50)) == list(range(50))
    with pytest.raises(KeyError) as info:
        ds["rec-missing"]
    assert info.value.args == ("rec-missing",)
    with pytest.raises(KeyError):
        ds.get_by_key(7)  # an int key against str keys: not found (LitData raises a polars error)
    with pytest.raises(TypeError, match="unsupported key type float"):
        ds.get_by_key(1.5)


def test_int_keys_go_through_get_by_key_and_ints_stay_positions(tmp_path):
    out = str(tmp_path / "ds")
    optimize(int_record, list(range(30)), out, chunk_size=7, num_workers=2, key_fn=int_key, verbose=False)
    ds = StreamingDataset(out, transform=lambda item: item["n"])
    for i in range(30):
        assert ds.get_by_key(int_record(i)["k"]) == i  # transformed, like ds[i]
    assert [ds[i] for i in range(30)] == sorted(ds[i] for i in range(30))
    with pytest.raises(KeyError) as info:
        ds.get_by_key(-1)
    assert info.value.args == (-1,)
    with pytest.raises(KeyError):
        ds["-50000000"]  # a str key against int keys


def test_keys_cover_the_whole_dataset_whatever_the_subsample(tmp_path):
    out = str(tmp_path / "ds")
    optimize(record, list(range(40)), out, chunk_size=4, num_workers=2, key_fn=record_id, verbose=False)
    ds = StreamingDataset(out, subsample=0.25)
    assert ds.num_items == 10
    assert all(ds[record(i)["id"]] == record(i) for i in range(40))


def test_dataset_without_sidecar_says_how_to_make_one(tmp_path):
    out = str(tmp_path / "ds")
    optimize(record, list(range(9)), out, chunk_size=4, num_workers=1, verbose=False)
    ds = StreamingDataset(out)
    with pytest.raises(KeyError, match=r"has no keys index .*key_fn=.*build_keys_index"):
        ds["rec-0000"]
    assert ds[0] == record(0)


def test_sharded_sidecar_from_build_keys_index(tmp_path):
    out = str(tmp_path / "ds")
    optimize(record, list(range(33)), out, chunk_size=5, num_workers=2, verbose=False)
    build_keys_index(out, record_id, num_shards=4, verbose=False)
    ds = StreamingDataset(out)
    assert all(ds[record(i)["id"]] == record(i) for i in range(33))
    with pytest.raises(KeyError):
        ds["rec-missing"]


def test_pickled_dataset_looks_keys_up_again(tmp_path):
    """DataLoader workers get a pickled copy: the lookup loads its shard again there."""
    out = str(tmp_path / "ds")
    optimize(record, list(range(12)), out, chunk_size=4, num_workers=1, key_fn=record_id, verbose=False)
    ds = StreamingDataset(out)
    assert ds[record(5)["id"]] == record(5)
    copy = pickle.loads(pickle.dumps(ds))
    assert [copy[record(i)["id"]] for i in range(12)] == [record(i) for i in range(12)]


def test_remote_sidecar_is_downloaded_once_into_the_cache(s3_target, tmp_path):
    url = f"{s3_target.url}/keyed"
    optimize(record, list(range(30)), url, chunk_size=4, num_workers=2, key_fn=record_id,
             storage_options=s3_target.storage_options, verbose=False)
    cache = tmp_path / "kcache"
    ds = StreamingDataset(url, cache_dir=str(cache), storage_options=s3_target.storage_options)
    assert all(ds[record(i)["id"]] == record(i) for i in range(30))
    cached = [p for p in Path(cache).rglob("*.parquet")]
    assert [p.name for p in cached] == ["keys__shard-00000.parquet"]
    s3_target.open("keyed").delete("keys/shard-00000.parquet")
    again = StreamingDataset(url, cache_dir=str(cache), storage_options=s3_target.storage_options)
    assert again[record(3)["id"]] == record(3)  # served from the cache folder


@pytest.mark.slow  # a fresh interpreter importing torch
def test_missing_pyarrow_names_the_extra(tmp_path):
    out = str(tmp_path / "ds")
    optimize(record, list(range(4)), out, chunk_size=4, num_workers=1, key_fn=record_id, verbose=False)
    code = (
        "import sys; sys.modules['pyarrow'] = None; sys.modules['pyarrow.parquet'] = None\n"
        "from litdata_stream import StreamingDataset\n"
        f"ds = StreamingDataset({out!r}); assert ds[0]['n'] == 0\n"
        "ds['rec-0000']\n"
    )
    env = {**os.environ, "LITDATA_CACHE_DIR": str(tmp_path / "c")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode != 0
    assert "ImportError: looking items up by key (dataset[key], get_by_key) needs pyarrow: " \
           "pip install 'litdata-stream[keys]'" in result.stderr
