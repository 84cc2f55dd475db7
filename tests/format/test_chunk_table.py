"""A loaded index keeps its chunk entries as columns: small, exact, and still a sequence."""

import json
import tracemalloc

import numpy as np
import pytest

from litdata_format import ChunkInfo, ChunkTable, Index

CONFIG = {"data_format": ["int"], "data_spec": None, "chunk_bytes": None, "chunk_size": 10,
          "compression": None, "item_loader": "PyTreeLoader", "encryption": None}


def index_text(n, **entry):
    chunks = [{"chunk_bytes": 1000 + i, "chunk_size": 10 + i % 3, "dim": None, "filename": f"chunk-0-{i}.bin",
               "checksum": f"crc32:{i:08x}", **entry} for i in range(n)]
    return json.dumps({"chunks": chunks, "config": CONFIG, "updated_at": "1"})


def test_a_loaded_index_gives_back_every_entry_and_column_exactly():
    index = Index.from_json(index_text(5))
    assert isinstance(index.chunks, ChunkTable)
    assert index.chunks[3] == ChunkInfo("chunk-0-3.bin", 10, 1003, None, "crc32:00000003", {})
    assert index.chunks[-1].filename == "chunk-0-4.bin"
    assert [c.chunk_size for c in index.chunks] == [10, 11, 12, 10, 11]
    assert index.chunk_sizes().tolist() == [10, 11, 12, 10, 11]
    assert index.chunk_byte_sizes().tolist() == [1000, 1001, 1002, 1003, 1004]
    assert index.chunk_dims().tolist() == [-1] * 5
    assert index.chunk_filename(2) == "chunk-0-2.bin"
    assert index.num_items == 54
    assert index.chunks[1:3] == [index.chunks[1], index.chunks[2]]
    with pytest.raises(IndexError, match="chunk 5 out of range: the index lists 5 chunks"):
        index.chunks[5]


def test_dumping_a_loaded_index_writes_the_same_json(tmp_path):
    text = index_text(4, extra_key={"a": 1})
    Index.from_json(text).dump(tmp_path, touch=False)
    assert json.loads((tmp_path / "index.json").read_text()) == json.loads(text)


def test_a_change_to_an_entry_is_what_columns_and_dump_see(tmp_path):
    index = Index.from_json(index_text(3))
    index.chunks[1].chunk_size = 99
    index.chunks[2].filename = "chunk-0-7.bin"
    assert index.chunk_sizes().tolist() == [10, 99, 12]
    assert index.chunk_filename(2) == "chunk-0-7.bin"
    index.dump(tmp_path, touch=False)
    again = Index.load(tmp_path)
    assert [c.chunk_size for c in again.chunks] == [10, 99, 12]
    assert again.chunks[2].filename == "chunk-0-7.bin"


def test_entries_without_checksum_or_with_dims_and_unknown_keys_round_trip():
    infos = [ChunkInfo("a.bin", 3, 30, 7, None, {"x": [1]}), ChunkInfo("b/c.bin", 0, 8, None, "crc32:1", {})]
    table = ChunkTable.from_infos(infos)
    assert list(table) == infos
    assert table == infos and infos == list(table)
    assert table.dims.tolist() == [7, -1]
    assert table + [infos[0]] == [*infos, infos[0]]
    with pytest.raises(ValueError, match="differ in length"):
        ChunkTable(["a"], [1, 2], [1], [None])


def test_the_table_of_a_100000_chunk_index_keeps_a_few_megabytes():
    """A billion samples in 10,000-item chunks: every process of a loader parses this index."""
    text = index_text(100_000)
    tracemalloc.start()
    try:
        index = Index.from_json(text)
        kept, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(index.chunks) == 100_000 and index.num_items == int(np.sum(10 + np.arange(100_000) % 3))
    # As ChunkInfo objects (with their strings and ints) the same entries kept about 35 MB.
    assert kept < 7 * 1024 * 1024, f"{kept / 1e6:.1f} MB kept"
