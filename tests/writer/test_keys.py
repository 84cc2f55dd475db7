"""``optimize(..., key_fn=...)`` and ``build_keys_index``: the keys sidecar LitData 0.2.76 writes.

The sidecar is read back with pyarrow directly (not through our reader) and checked row by
row against the items as stored: every key points at the item it was computed from.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from litdata_format import Index, read_dataset
from litdata_format.keys_layout import key_shard
from litdata_writer import WorkerError, build_keys_index, optimize

from . import fns

REPO = Path(__file__).resolve().parents[2]
LITDATA_PYTHON = REPO / ".venvs" / "litdata-0.2.76" / "bin" / "python"


def record(i):
    return {"id": f"rec-{(i * 7919) % 1000:04d}", "n": i}


def record_id(item):
    return item["id"]


def int_record(i):
    return (i * 1_000_003 - 50_000_000, f"value {i}")


def int_key(item):
    return item[0]


def mixed_key(item):
    return item["n"] if item["n"] % 2 else item["id"]


def constant_key(item):
    return "same" if item["n"] in (3, 11) else item["id"]


def float_key(item):
    return 1.5


def killed_key(item):
    return f"{item[0]}-{item[1]}"


def _table(folder) -> pa.Table:
    return pq.read_table(os.path.join(folder, "keys", "shard-00000.parquet"))


def _check_sidecar(folder, key_fn) -> list:
    """Every row: key -> the item at that global index; chunk columns as LitData writes them."""
    items = read_dataset(folder)
    index = Index.load(folder)
    table = _table(folder)
    rows = table.to_pylist()
    assert table.column_names == ["key", "index", "chunk_index", "chunk_offset"]
    assert [r["key"] for r in rows] == sorted(r["key"] for r in rows)
    assert sorted(r["index"] for r in rows) == list(range(len(items)))
    starts = [sum(c.chunk_size for c in index.chunks[:n]) for n in range(len(index.chunks))]
    for row in rows:
        assert key_fn(items[row["index"]]) == row["key"]
        chunk = row["chunk_index"]
        assert starts[chunk] <= row["index"] < starts[chunk] + index.chunks[chunk].chunk_size
        assert row["chunk_offset"] == row["index"]  # LitData stores the global index here
    assert index.extra["keys"] == {"num_shards": 1, "sharding": "none", "version": 1}
    return items


def test_two_workers_write_a_sorted_sidecar_of_every_item(tmp_path):
    out = tmp_path / "ds"
    optimize(record, list(range(40)), str(out), chunk_size=3, num_workers=2, key_fn=record_id, verbose=False)
    items = _check_sidecar(out, record_id)
    assert len(items) == 40
    schema = _table(out).schema
    assert [str(t) for t in schema.types] == ["large_string", "int64", "int32", "int32"]
    assert sorted(os.listdir(out / "keys")) == ["shard-00000.parquet"]
    # no partial index or other writer file is left behind
    assert not [n for n in os.listdir(out) if n.endswith(".index.json")]
    json.loads((out / "index.json").read_text())  # still one JSON document


def test_int_keys_make_an_int64_column(tmp_path):
    out = tmp_path / "ds"
    optimize(int_record, list(range(25)), str(out), chunk_size=4, num_workers=2, key_fn=int_key, verbose=False)
    _check_sidecar(out, int_key)
    assert _table(out).schema.field("key").type == pa.int64()


def test_mixed_int_and_str_keys_are_stored_as_strings(tmp_path):
    """As LitData: one non-int key turns the column into strings, str(key) for the ints."""
    out = tmp_path / "ds"
    optimize(record, list(range(10)), str(out), chunk_size=4, num_workers=1, key_fn=mixed_key, verbose=False)
    _check_sidecar(out, lambda item: str(mixed_key(item)))
    assert _table(out).schema.field("key").type == pa.large_string()


def test_duplicate_keys_fail_and_publish_nothing(tmp_path):
    out = tmp_path / "ds"
    with pytest.raises(ValueError, match=r"duplicate keys .* key 'same' is the key of items 3 and 11"):
        optimize(record, list(range(20)), str(out), chunk_size=4, num_workers=1, key_fn=constant_key, verbose=False)
    assert not (out / "index.json").exists()
    assert not (out / "keys").exists()
    assert not [n for n in os.listdir(out) if n.startswith("chunk-")]


def test_duplicate_key_in_append_keeps_the_old_dataset(tmp_path):
    out = tmp_path / "ds"
    optimize(record, list(range(10)), str(out), chunk_size=4, num_workers=1, key_fn=record_id, verbose=False)
    before = (out / "index.json").read_bytes(), (out / "keys" / "shard-00000.parquet").read_bytes()
    with pytest.raises(ValueError, match=r"duplicate keys .* key 'rec-\d{4}' is the key of items 2 and 10"):
        optimize(record, [2], str(out), chunk_size=4, num_workers=1, key_fn=record_id, mode="append", verbose=False)
    assert ((out / "index.json").read_bytes(), (out / "keys" / "shard-00000.parquet").read_bytes()) == before
    assert len(read_dataset(out)) == 10


def test_append_adds_the_new_keys_after_the_old(tmp_path):
    out = tmp_path / "ds"
    optimize(record, list(range(13)), str(out), chunk_size=4, num_workers=2, key_fn=record_id, verbose=False)
    optimize(record, list(range(13, 30)), str(out), chunk_size=4, num_workers=2, key_fn=record_id,
             mode="append", verbose=False)
    items = _check_sidecar(out, record_id)
    assert [item["n"] for item in items] == list(range(30))


def test_append_without_key_fn_keeps_the_old_keys_valid(tmp_path):
    out = tmp_path / "ds"
    optimize(record, list(range(8)), str(out), chunk_size=4, num_workers=1, key_fn=record_id, verbose=False)
    optimize(record, list(range(8, 12)), str(out), chunk_size=4, num_workers=1, mode="append", verbose=False)
    items = read_dataset(out)
    rows = _table(out).to_pylist()
    assert len(rows) == 8 and all(record_id(items[r["index"]]) == r["key"] for r in rows)
    assert Index.load(out).extra["keys"]["num_shards"] == 1


def test_overwrite_without_key_fn_drops_the_old_sidecar(tmp_path):
    out = tmp_path / "ds"
    optimize(record, list(range(8)), str(out), chunk_size=4, num_workers=1, key_fn=record_id, verbose=False)
    optimize(record, list(range(4)), str(out), chunk_size=4, num_workers=1, mode="overwrite", verbose=False)
    assert not (out / "keys" / "shard-00000.parquet").exists()
    assert "keys" not in Index.load(out).extra


def test_resumed_run_writes_the_same_keys_as_an_uninterrupted_one(tmp_path, monkeypatch):
    monkeypatch.setenv("LITDATA_CHECKPOINT_INTERVAL", "0")
    inputs = list(range(30))
    reference = tmp_path / "reference"
    optimize(fns.killed_once, inputs, str(reference), num_workers=2, chunk_size=4, key_fn=killed_key, verbose=False)
    out = tmp_path / "ds"
    monkeypatch.setenv(fns.KILL_AT_ENV, "20")
    monkeypatch.setenv(fns.KILL_MARKER_ENV, str(tmp_path / "killed"))
    with pytest.raises(WorkerError, match="killed by signal 9"):
        optimize(fns.killed_once, inputs, str(out), num_workers=2, chunk_size=4, key_fn=killed_key, verbose=False)
    optimize(fns.killed_once, inputs, str(out), num_workers=2, chunk_size=4, key_fn=killed_key, verbose=False)
    assert _table(out).to_pylist() == _table(reference).to_pylist()
    _check_sidecar(out, killed_key)


def test_bad_key_fn_is_refused(tmp_path):
    with pytest.raises(TypeError, match="key_fn must be callable"):
        optimize(record, [1], str(tmp_path / "a"), key_fn="id", verbose=False)
    with pytest.raises(ValueError, match="key_fn cannot be used with item_loader=TokensLoader"):
        optimize(fns.tokens, [1], str(tmp_path / "b"), item_loader="TokensLoader", key_fn=record_id, verbose=False)
    with pytest.raises(WorkerError, match="unsupported key type float"):
        optimize(record, [1, 2], str(tmp_path / "c"), num_workers=1, key_fn=float_key, verbose=False)
    assert not (tmp_path / "c" / "index.json").exists()


def test_build_keys_index_backfills_and_refuses_to_clobber(tmp_path):
    out = tmp_path / "ds"
    optimize(record, list(range(17)), str(out), chunk_size=4, num_workers=2, verbose=False)
    old_stamp = Index.load(out).updated_at
    assert build_keys_index(str(out), record_id, verbose=False) == f"{out}/keys"
    _check_sidecar(out, record_id)
    assert Index.load(out).updated_at != old_stamp  # readers' caches drop an older sidecar
    with pytest.raises(FileExistsError, match="overwrite=True"):
        build_keys_index(str(out), record_id, verbose=False)
    build_keys_index(str(out), record_id, overwrite=True, num_shards=3, verbose=False)
    assert Index.load(out).extra["keys"] == {"num_shards": 3, "sharding": "hash", "version": 1}
    items = read_dataset(out)
    seen = []
    for shard in range(3):
        for row in pq.read_table(out / "keys" / f"shard-{shard:05d}.parquet").to_pylist():
            assert key_shard(row["key"], 3) == shard
            assert record_id(items[row["index"]]) == row["key"]
            seen.append(row["index"])
    assert sorted(seen) == list(range(17))


def test_missing_pyarrow_names_the_extra(tmp_path):
    code = (
        "import sys; sys.modules['pyarrow'] = None; sys.modules['pyarrow.parquet'] = None\n"
        "from litdata_writer import optimize\n"
        f"optimize(str, [1], {str(tmp_path / 'ds')!r}, key_fn=str, verbose=False)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "ImportError: writing a keys index (optimize(key_fn=...), build_keys_index) needs pyarrow: " \
           "pip install 'litdata-writer[keys]'" in result.stderr
    assert not (tmp_path / "ds" / "index.json").exists()


LITDATA_READS_OUR_KEYS = """
import json, sys
from litdata import StreamingDataset
folder, expected = sys.argv[1], json.loads(sys.argv[2])
ds = StreamingDataset(folder)
for key, n in expected:
    item = ds[key] if isinstance(key, str) else ds.get_by_key(key)
    assert item["n"] == n if isinstance(item, dict) else item[1] == f"value {n}", (key, item)
missing = "no such key" if isinstance(expected[0][0], str) else -999_999  # LitData errors on a type mismatch
try:
    ds.get_by_key(missing)
except KeyError:
    pass
else:
    raise AssertionError("missing key found")
print("OK", len(expected))
"""


def _litdata_has_polars() -> bool:
    if not LITDATA_PYTHON.exists():
        return False
    return subprocess.run([str(LITDATA_PYTHON), "-c", "import polars"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _litdata_has_polars(), reason="LitData 0.2.76 venv (with polars) not present")
@pytest.mark.slow  # two LitData interpreters
def test_litdata_looks_up_every_key_we_wrote(tmp_path):
    out = tmp_path / "ds"
    optimize(record, list(range(21)), str(out), chunk_size=4, num_workers=2, key_fn=record_id, verbose=False)
    optimize(record, list(range(21, 30)), str(out), chunk_size=4, num_workers=2, key_fn=record_id,
             mode="append", verbose=False)
    expected = [[record(i)["id"], i] for i in range(30)]
    ints = tmp_path / "ints"
    optimize(int_record, list(range(12)), str(ints), chunk_size=5, num_workers=2, key_fn=int_key, verbose=False)
    expected_ints = [[int_record(i)[0], i] for i in range(12)]
    for folder, exp in ((out, expected), (ints, expected_ints)):
        result = subprocess.run(
            [str(LITDATA_PYTHON), "-c", LITDATA_READS_OUR_KEYS, str(folder), json.dumps(exp)],
            capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": ""},
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stdout.split() == ["OK", str(len(exp))]


@pytest.mark.parametrize("level, compression", [("sample", None), ("chunk", None), ("chunk", "zstd")])
def test_build_keys_index_on_an_encrypted_dataset_needs_and_uses_its_key(tmp_path, level, compression):
    pytest.importorskip("cryptography")
    from litdata_format import EncryptionError, FernetEncryption
    from litdata_stream import StreamingDataset

    out = tmp_path / "ds"
    enc = FernetEncryption("pw", level=level)
    kwargs = {"compression": compression, "compression_level": "chunk"} if compression else {}
    optimize(record, list(range(13)), str(out), chunk_size=4, num_workers=2, encryption=enc, verbose=False, **kwargs)
    with pytest.raises(EncryptionError, match="is encrypted .*pass encryption="):
        build_keys_index(str(out), record_id, verbose=False)
    assert not (out / "keys").exists()
    build_keys_index(str(out), record_id, verbose=False, encryption=enc)
    ds = StreamingDataset(str(out), encryption=enc)
    for i in range(13):
        assert ds[record(i)["id"]] == record(i)
