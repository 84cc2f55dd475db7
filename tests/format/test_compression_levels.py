"""Writing LitData 0.2.76's three zstd layouts: ``compression_level`` "batch", "chunk", "sample".

The vectors under tests/format/vectors/data were written by LitData itself; writing the
same items with the same settings must give the same index entries and, with the same
libzstd, the same chunk bytes. The other tests pin the layouts' structure, the defaults,
and the refusals, on files written here.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest
import zstandard
from litdata_vectors import NAMES, expected  # tests/ is on sys.path (tests/conftest.py)

from litdata_format import ChunkWriter, FramedChunk, Index, ItemEncoder, read_dataset, write_dataset
from litdata_format.chunk import ClassicChunk, open_chunk_file

VECTORS = ["zstd_framed", "zstd_framed_default", "zstd_framed_small", "zstd_sample", "zstd_chunk", "zstd_chunk_level"]
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# The vectors were compressed by the `zstd` package bundling libzstd 1.5.7; zstd output is
# deterministic for a given libzstd version and level, not across versions.
SAME_LIBZSTD = zstandard.ZSTD_VERSION == (1, 5, 7)
LITDATA_PYTHON = Path(__file__).resolve().parents[2] / ".venvs" / "litdata-0.2.76" / "bin" / "python"
OPTIONS = ("chunk_size", "chunk_bytes", "compression", "compression_level", "compression_batch_size")


def _write_like(name: str, target: Path) -> tuple[dict, Index]:
    vector = expected.load(name)
    given = vector["notes"]["optimize_kwargs"]
    options = {k: given[k] for k in OPTIONS if given.get(k) is not None}
    index = write_dataset(target, expected.decode(vector["items"]), checksum=False, **options)
    return vector, index


@pytest.mark.parametrize("name", [n for n in VECTORS if n in NAMES])
def test_writes_what_litdata_writes(name, tmp_path):
    vector, ours = _write_like(name, tmp_path / name)
    theirs = Index.load(expected.DATA_DIR / name)
    assert [c.to_dict() for c in ours.chunks] == [c.to_dict() for c in theirs.chunks]
    for key in ("compression", "compression_level", "compression_batch_size", "chunk_size", "chunk_bytes"):
        assert ours.config.to_dict()[key] == theirs.config.to_dict()[key], key
    if SAME_LIBZSTD:
        for chunk in theirs.chunks:
            mine = (tmp_path / name / chunk.filename).read_bytes()
            assert mine == (expected.DATA_DIR / name / chunk.filename).read_bytes(), chunk.filename
    back = read_dataset(tmp_path / name)
    assert len(back) == len(vector["items"])
    for actual, want in zip(back, vector["items"]):
        expected.check(actual, want)


def test_batch_is_the_default_and_frames_hold_batch_size_items(tmp_path):
    items = [f"row {i} " * (i + 1) for i in range(10)]
    index = write_dataset(tmp_path / "ds", items, chunk_size=10, compression="zstd", compression_batch_size=4)
    assert [c.filename for c in index.chunks] == ["chunk-0-0.bin"]
    raw = json.loads((tmp_path / "ds" / "index.json").read_text())["config"]
    assert (raw["compression"], raw["compression_level"], raw["compression_batch_size"]) == ("zstd", "batch", 4)
    data = (tmp_path / "ds" / "chunk-0-0.bin").read_bytes()
    assert index.chunks[0].chunk_bytes == len(data)  # LitData: the framed file's size
    chunk = FramedChunk(data, "chunk-0-0.bin")
    assert (chunk.version, chunk.flags, chunk.items_per_frame, len(chunk)) == (1, 0, 4, 10)
    assert [(first, n) for first, n, *_ in chunk.frames] == [(0, 4), (4, 4), (8, 2)]
    encoded = [ItemEncoder().encode(item) for item in items]
    assert list(chunk.offsets) == [sum(len(e) for e in encoded[:i]) for i in range(11)]
    table_end = 8 + 16 + 4 * 11 + 24 * 3
    assert chunk.frames[0][2] == table_end  # frames follow the table; offsets are absolute
    for first, n, offset, length, size in chunk.frames:
        frame = zstandard.ZstdDecompressor().decompress(data[offset : offset + length])
        assert frame == b"".join(encoded[first : first + n]) and size == len(frame)
    assert read_dataset(tmp_path / "ds") == items


def test_sample_keeps_the_classic_header_with_one_frame_per_item(tmp_path):
    items = [{"text": "lorem ipsum " * (i + 3), "i": i} for i in range(6)]
    index = write_dataset(tmp_path / "ds", items, chunk_size=6, compression="zstd:3", compression_level="sample")
    raw = json.loads((tmp_path / "ds" / "index.json").read_text())["config"]
    assert (raw["compression_level"], raw["compression_batch_size"]) == ("sample", None)
    path = tmp_path / "ds" / "chunk-0-0.bin"
    data = path.read_bytes()
    assert index.chunks[0].chunk_bytes == len(data)
    count = struct.unpack_from("<I", data)[0]
    offsets = struct.unpack_from(f"<{count + 1}I", data, 4)
    assert count == 6 and offsets[0] == 4 + 4 * 7 and offsets[-1] == len(data)
    encoder = ItemEncoder()
    for i, item in enumerate(items):
        frame = data[offsets[i] : offsets[i + 1]]
        assert frame.startswith(ZSTD_MAGIC)
        assert frame == zstandard.ZstdCompressor(level=3).compress(encoder.encode(item))
    assert isinstance(open_chunk_file(str(path)), ClassicChunk)
    assert read_dataset(tmp_path / "ds", verify=True) == items


@pytest.mark.parametrize("level", ["batch", "sample"])
@pytest.mark.parametrize(
    "items",
    [[(f"text {i}", i) for i in range(7)], [{"a": i, "b": float(i), "c": "x" * i} for i in range(7)]],
    ids=["tuples", "flat-json-dicts"],
)
def test_items_litdata_leaves_uncompressed_are_really_compressed(tmp_path, level, items):
    """LitData 0.2.76 writes these items as plain classic chunks under a zstd index; we compress them."""
    write_dataset(tmp_path / "ds", items, chunk_size=4, compression="zstd", compression_level=level)
    for name in ("chunk-0-0.bin", "chunk-0-1.bin"):
        data = (tmp_path / "ds" / name).read_bytes()
        if level == "batch":
            assert data.startswith(b"LDFZ01\x00\x00")
        else:
            first = struct.unpack_from("<I", data, 4)[0]
            assert data[first : first + 4] == ZSTD_MAGIC
    assert read_dataset(tmp_path / "ds") == items


def test_chunk_level_writes_whole_chunk_files_named_with_the_codec(tmp_path):
    items = list(range(10))
    index = write_dataset(tmp_path / "ds", items, chunk_size=4, compression="zstd:10", compression_level="chunk")
    assert [c.filename for c in index.chunks] == ["chunk-0-0.zstd:10.bin", "chunk-0-1.zstd:10.bin", "chunk-0-2.zstd:10.bin"]
    assert [c.chunk_bytes for c in index.chunks] == [72, 72, 40]  # the uncompressed size, as LitData
    raw = json.loads((tmp_path / "ds" / "index.json").read_text())["config"]
    assert (raw["compression"], raw["compression_level"], raw["compression_batch_size"]) == ("zstd:10", None, None)
    assert read_dataset(tmp_path / "ds") == items


def test_the_codec_level_applies_to_every_frame(tmp_path):
    items = [np.arange(i * 50, dtype=np.int64) for i in range(1, 5)]
    write_dataset(tmp_path / "ds", items, chunk_size=4, compression="zstd:19", compression_batch_size=2)
    data = (tmp_path / "ds" / "chunk-0-0.bin").read_bytes()
    chunk = FramedChunk(data, "chunk-0-0.bin")
    encoded = [ItemEncoder().encode(item) for item in items]
    for first, n, offset, length, _ in chunk.frames:
        want = zstandard.ZstdCompressor(level=19).compress(b"".join(encoded[first : first + n]))
        assert data[offset : offset + length] == want


def test_chunks_close_on_the_uncompressed_size(tmp_path):
    items = ["a" * 100] * 10  # 104 encoded bytes each, compressing to almost nothing
    index = write_dataset(tmp_path / "ds", items, chunk_bytes=250, compression="zstd")
    assert [c.chunk_size for c in index.chunks] == [2, 2, 2, 2, 2]


def test_uncompressed_index_has_the_keys_as_null(tmp_path):
    write_dataset(tmp_path / "ds", [1, 2, 3], chunk_size=2)
    raw = json.loads((tmp_path / "ds" / "index.json").read_text())["config"]
    assert raw["compression"] is None
    assert raw["compression_level"] is None and raw["compression_batch_size"] is None


def test_level_is_case_and_space_insensitive(tmp_path):
    index = write_dataset(tmp_path / "ds", [1, 2], chunk_size=2, compression="zstd", compression_level=" Sample ")
    assert index.config.compression_level == "sample"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(compression_level="frame"), "compression_level must be None, 'chunk', 'batch' or 'sample', got 'frame'"),
        (dict(compression_level=4), "the numeric zstd level goes into the codec, e.g. compression='zstd:10'"),
        (dict(compression_level=True), "compression_level=True"),
        (dict(compression_batch_size=0), "compression_batch_size must be a positive int (items per zstd frame), got 0"),
        (dict(compression_batch_size=-3), "got -3"),
        (dict(compression_batch_size=True), "got True"),
        (dict(compression_batch_size="8"), "got '8'"),
        (dict(compression="zstd:99"), "the zstd level must be an int from -7 to 22"),
    ],
)
def test_bad_settings_are_refused_before_writing(tmp_path, kwargs, message):
    with pytest.raises(ValueError) as info:
        write_dataset(tmp_path / "ds", [1, 2, 3], **{"compression": "zstd", **kwargs})
    assert message in str(info.value)
    assert not (tmp_path / "ds").exists() or os.listdir(tmp_path / "ds") == []


@pytest.mark.parametrize("level", [None, "batch", "sample"])
def test_token_datasets_need_whole_chunk_compression(tmp_path, level):
    tokens = [np.arange(10, dtype=np.uint16)]
    with pytest.raises(ValueError) as info:
        write_dataset(
            tmp_path / "tok", tokens, chunk_size=40, compression="zstd", compression_level=level, item_loader="TokensLoader"
        )
    shown = level or "batch"
    assert f"compression_level={shown!r} (the default for compression='zstd') is only supported with PyTreeLoader" in str(
        info.value
    )
    assert "a TokensLoader dataset needs compression_level='chunk'" in str(info.value)
    index = write_dataset(
        tmp_path / "ok", tokens, chunk_size=40, compression="zstd", compression_level="chunk", item_loader="TokensLoader"
    )
    assert [c.filename for c in index.chunks] == ["chunk-0-0.zstd.bin"]
    assert read_dataset(tmp_path / "ok", block_size=5)[1].tolist() == [5, 6, 7, 8, 9]


def test_settings_that_change_nothing_warn(tmp_path):
    with pytest.warns(UserWarning, match="compression_batch_size=8 has no effect with compression_level='chunk'"):
        index = write_dataset(tmp_path / "a", [1, 2], compression="zstd", compression_level="chunk", compression_batch_size=8)
    assert index.config.compression_batch_size is None
    with pytest.warns(UserWarning, match="have no effect without compression"):
        index = write_dataset(tmp_path / "b", [1, 2], compression_level="batch")
    assert [c.filename for c in index.chunks] == ["chunk-0-0.bin"]
    assert index.config.compression is None and index.config.compression_level is None
    assert isinstance(open_chunk_file(str(tmp_path / "b" / "chunk-0-0.bin")), ClassicChunk)


def test_a_chunk_writer_reports_the_layout_in_its_config(tmp_path):
    writer = ChunkWriter(tmp_path, chunk_size=2, compression="zstd", compression_batch_size=64)
    assert writer.config() is None
    writer.add("x")
    assert writer.config().extra == {"compression_batch_size": 64, "compression_level": "batch"}


_LITDATA_READS = textwrap.dedent(
    """
    import json, sys
    from litdata import StreamingDataset
    out = {}
    for path in sys.argv[1:]:
        ds = StreamingDataset(path, shuffle=False, cache_dir=path + "-cache")
        out[path] = [repr(ds[i]) for i in range(len(ds))]
    print(json.dumps(out))
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not LITDATA_PYTHON.exists(), reason="needs the LitData 0.2.76 venv (tests/format/vectors/regenerate.sh)")
def test_litdata_reads_what_we_write(tmp_path):
    items = [(f"text {i} " * (i % 5 + 1), i) for i in range(23)]
    settings = {
        "batch": dict(compression="zstd", compression_batch_size=3),
        "default": dict(compression="zstd"),
        "sample": dict(compression="zstd:7", compression_level="sample"),
        "chunk": dict(compression="zstd", compression_level="chunk"),
    }
    paths = []
    for name, options in settings.items():
        write_dataset(tmp_path / name, items, chunk_size=10, **options)
        paths.append(str(tmp_path / name))
    done = subprocess.run(
        [str(LITDATA_PYTHON), "-c", _LITDATA_READS, *paths], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    for path in paths:
        assert got[path] == [repr(item) for item in items], path
