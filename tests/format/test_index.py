import json

import pytest

from litdata_format import INDEX_FILENAME, ChunkInfo, Index, IndexConfig, IndexFormatError, merge_indexes

LITDATA_INDEX = {
    "chunks": [
        {"chunk_bytes": 100, "chunk_size": 2, "dim": None, "filename": "chunk-0-0.bin"},
        {"chunk_bytes": 60, "chunk_size": 1, "dim": None, "filename": "chunk-0-1.bin", "future_key": [1]},
    ],
    "config": {
        "chunk_bytes": 64000000,
        "chunk_size": None,
        "compression": "zstd",
        "compression_level": "batch",
        "data_format": ["int", "str"],
        "data_spec": '[1, {"type": "builtins.tuple", "context": "null", "children_spec": []}]',
        "encryption": None,
        "item_loader": "PyTreeLoader",
    },
    "updated_at": "1745860357.17",
}


def test_loads_litdata_index_and_keeps_unknown_keys():
    index = Index.from_dict(json.loads(json.dumps(LITDATA_INDEX)))
    assert index.num_items == 3
    assert [c.filename for c in index.chunks] == ["chunk-0-0.bin", "chunk-0-1.bin"]
    assert index.config.compression == "zstd"
    assert index.config.extra == {"compression_level": "batch"}
    assert index.chunks[1].extra == {"future_key": [1]}
    assert index.to_dict() == LITDATA_INDEX


def test_dump_is_sorted_atomic_and_renews_updated_at(tmp_path):
    index = Index.from_dict(json.loads(json.dumps(LITDATA_INDEX)))
    index.dump(tmp_path)
    text = (tmp_path / INDEX_FILENAME).read_text()
    assert text == json.dumps(json.loads(text), sort_keys=True)
    assert float(json.loads(text)["updated_at"]) > 1745860357.17
    assert sorted(p.name for p in tmp_path.iterdir()) == [INDEX_FILENAME]
    assert Index.load(tmp_path).to_dict() == json.loads(text)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.pop("chunks"), "missing required key 'chunks'"),
        (lambda d: d["chunks"][0].pop("chunk_size"), "chunks[0]: missing required key 'chunk_size'"),
        (lambda d: d["chunks"][1].update(chunk_size="3"), "chunks[1].chunk_size: expected int"),
        (lambda d: d["chunks"][1].update(chunk_bytes=-1), "chunks[1].chunk_bytes: must not be negative"),
        (lambda d: d["config"].update(data_format="int"), "config.data_format: expected list"),
        (lambda d: d["config"].update(compression="lz4"), "config.compression: unsupported compression 'lz4'"),
        (lambda d: d["config"].update(encryption={"k": 1}), "config.encryption: expected an object with 'algorithm'"),
        (lambda d: d["chunks"][1].update(filename="chunk-0-0.bin"), "listed twice"),
        (lambda d: d.pop("config"), "config: missing"),
    ],
)
def test_validation_errors_name_the_file_and_field(tmp_path, mutate, message):
    data = json.loads(json.dumps(LITDATA_INDEX))
    mutate(data)
    path = tmp_path / INDEX_FILENAME
    path.write_text(json.dumps(data))
    with pytest.raises(IndexFormatError) as info:
        Index.load(tmp_path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "name",
    ["/etc/passwd", "../outside.bin", "a/../../b.bin", "chunks/../../x", "C:evil.bin", "a\\b.bin", "", "a//b", "x\x00"],
)
def test_unsafe_chunk_names_are_refused(name):
    data = json.loads(json.dumps(LITDATA_INDEX))
    data["chunks"][0]["filename"] = name
    with pytest.raises(IndexFormatError, match=r"chunks\[0\]\.filename"):
        Index.from_dict(data)


def test_relative_subfolder_names_are_allowed():
    data = json.loads(json.dumps(LITDATA_INDEX))
    data["chunks"][0]["filename"] = "part-1/chunk-0-0.bin"
    assert Index.from_dict(data).chunks[0].filename == "part-1/chunk-0-0.bin"


def test_invalid_json_and_missing_index(tmp_path):
    (tmp_path / INDEX_FILENAME).write_text("{not json")
    with pytest.raises(IndexFormatError, match="not valid JSON"):
        Index.load(tmp_path)
    with pytest.raises(FileNotFoundError, match="no index at"):
        Index.load(tmp_path / "elsewhere")


def test_token_index_requires_dim():
    data = json.loads(json.dumps(LITDATA_INDEX))
    data["config"]["item_loader"] = "TokensLoader"
    with pytest.raises(IndexFormatError, match=r"chunks\[0\]\.dim: required"):
        Index.from_dict(data)


def test_merge_keeps_rank_order_and_refuses_mixed_configs():
    config = IndexConfig(data_format=["int"], data_spec=None, chunk_bytes=10)
    parts = [
        Index([ChunkInfo(f"chunk-{r}-0.bin", 1, 10)], config) for r in range(3)
    ]
    merged = merge_indexes(parts)
    assert [c.filename for c in merged.chunks] == ["chunk-0-0.bin", "chunk-1-0.bin", "chunk-2-0.bin"]
    other = IndexConfig(data_format=["str"], data_spec=None, chunk_bytes=10)
    with pytest.raises(IndexFormatError, match="different configs"):
        merge_indexes([parts[0], Index([ChunkInfo("chunk-9-0.bin", 1, 1)], other)])


def _parsed(entry):
    """What parsing one chunk entry gives, through from_dict (fast path first), the checked path
    alone and a whole index: the fields, or the error message without its location prefix."""
    results = []
    for where, parse in (
        ("here", lambda: ChunkInfo.from_dict(entry, "here")),
        ("here", lambda: ChunkInfo._from_dict_checked(entry, "here")),
        ("src: chunks[0]", lambda: Index.from_dict({**LITDATA_INDEX, "chunks": [entry]}, source="src").chunks[0]),
    ):
        try:
            info = parse()
            results.append((info.filename, info.chunk_size, info.chunk_bytes, info.dim, info.checksum, info.extra))
        except IndexFormatError as exc:
            assert str(exc).startswith(where)
            results.append(str(exc)[len(where):])
    return results


@pytest.mark.parametrize(
    "entry",
    [
        {"chunk_bytes": 10, "chunk_size": 1, "dim": None, "filename": "chunk-0-0.bin", "checksum": "crc32:00ff"},
        {"chunk_bytes": 10, "chunk_size": 1, "filename": "chunk-0-0.bin.zstd", "dim": 4, "later": {"a": 1}},
        {"chunk_bytes": 10, "chunk_size": 1, "filename": ".hidden.bin"},
        {"chunk_bytes": 10, "chunk_size": 1, "filename": "..chunk.bin"},
        {"chunk_bytes": 10, "chunk_size": 1, "filename": "C:chunk.bin"},
        {"chunk_bytes": 10, "chunk_size": 1, "filename": "part/chunk.bin"},
        {"chunk_bytes": 10, "chunk_size": 1, "filename": "ch unk é.bin"},
        {"chunk_bytes": True, "chunk_size": 1, "filename": "chunk.bin"},
        {"chunk_bytes": 10, "chunk_size": -1, "filename": "chunk.bin"},
        {"chunk_bytes": 10, "chunk_size": 1.0, "filename": "chunk.bin"},
        {"chunk_bytes": 10, "chunk_size": 1, "dim": False, "filename": "chunk.bin"},
        {"chunk_bytes": 10, "chunk_size": 1, "dim": -3, "filename": "chunk.bin"},
        {"chunk_bytes": 10, "chunk_size": 1, "checksum": 5, "filename": "chunk.bin"},
        {"chunk_bytes": 10, "filename": "chunk.bin"},
        {"chunk_bytes": 10, "chunk_size": 1, "filename": 7},
    ],
)
def test_fast_chunk_parse_agrees_with_the_checked_one(entry):
    fast, checked, in_index = _parsed(entry)
    assert fast == checked == in_index


def test_chunk_info_pickles_and_has_no_instance_dict():
    import pickle

    info = ChunkInfo("chunk-0-0.bin", 2, 100, None, "crc32:1", {"k": 1})
    assert pickle.loads(pickle.dumps(info)) == info
    assert not hasattr(info, "__dict__")  # slots: 48 bytes less per chunk, 100,000 chunks in an index
