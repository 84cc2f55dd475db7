"""optimize(compression=..., compression_level=..., compression_batch_size=...), LitData 0.2.76's meaning.

``compression="zstd"`` alone writes framed ``.bin`` chunks (256 items per zstd frame),
``compression_level="chunk"`` whole-chunk ``.zstd.bin`` files, ``"sample"`` one frame per
item; the streaming reader gives the exact items back from each.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from litdata_format import FramedChunk, Index, read_dataset
from litdata_stream import StreamingDataset, TokensLoader
from litdata_writer import ConfigMismatchError, optimize


def record(i):
    return {"id": i, "text": f"record number {i} " * (1 + i % 3)}


def tokens(i):
    return np.arange(i * 10, i * 10 + 10, dtype=np.uint16)


def _config(out) -> dict:
    with open(os.path.join(out, "index.json")) as f:
        return json.load(f)["config"]


def _streamed(out) -> list:
    ds = StreamingDataset(out, shuffle=False)
    return [ds[i] for i in range(len(ds))]


def test_zstd_alone_writes_framed_chunks_of_256_items_per_frame(tmp_path):
    out = str(tmp_path / "ds")
    index = optimize(record, range(600), out, num_workers=2, chunk_size=300, compression="zstd", verbose=False)
    assert [c.filename for c in index.chunks] == ["chunk-0-0.bin", "chunk-1-0.bin"]
    config = _config(out)
    assert (config["compression"], config["compression_level"], config["compression_batch_size"]) == ("zstd", "batch", 256)
    for info in index.chunks:
        data = open(os.path.join(out, info.filename), "rb").read()
        chunk = FramedChunk(data, info.filename)
        assert info.chunk_bytes == len(data)
        assert [(first, n) for first, n, *_ in chunk.frames] == [(0, 256), (256, 44)]
    assert _streamed(out) == [record(i) for i in range(600)]
    assert sorted(x["id"] for x in StreamingDataset(out, shuffle=True)) == list(range(600))


def test_batch_size_sets_the_items_per_frame(tmp_path):
    out = str(tmp_path / "ds")
    optimize(
        record, range(20), out, num_workers=1, chunk_size=20, compression="zstd:9", compression_batch_size=6,
        verbose=False,
    )
    config = _config(out)
    assert (config["compression"], config["compression_level"], config["compression_batch_size"]) == ("zstd:9", "batch", 6)
    data = open(os.path.join(out, "chunk-0-0.bin"), "rb").read()
    assert [n for _, n, *_ in FramedChunk(data, "c").frames] == [6, 6, 6, 2]
    assert _streamed(out) == [record(i) for i in range(20)]


@pytest.mark.parametrize(("level", "index_level"), [("chunk", None), ("sample", "sample")])
def test_chunk_and_sample_levels(tmp_path, level, index_level):
    out = str(tmp_path / "ds")
    index = optimize(
        record, range(30), out, num_workers=2, chunk_size=8, compression="zstd", compression_level=level, verbose=False
    )
    names = [c.filename for c in index.chunks]
    assert len(names) == 4 and all(n.startswith("chunk-") for n in names)
    assert {n.endswith(".zstd.bin") for n in names} == {level == "chunk"}
    config = _config(out)
    assert (config["compression_level"], config["compression_batch_size"]) == (index_level, None)
    assert _streamed(out) == [record(i) for i in range(30)]
    assert read_dataset(out, verify=True) == [record(i) for i in range(30)]


def test_tokens_with_the_default_level_are_refused_before_any_work(tmp_path):
    out = str(tmp_path / "tok")
    with pytest.raises(ValueError, match="a TokensLoader dataset needs compression_level='chunk'"):
        optimize(tokens, range(4), out, chunk_size=20, compression="zstd", item_loader=TokensLoader(), verbose=False)
    assert not os.path.exists(os.path.join(out, "index.json"))
    index = optimize(
        tokens, range(4), out, num_workers=1, chunk_size=20, compression="zstd", compression_level="chunk",
        item_loader=TokensLoader(), verbose=False,
    )
    assert all(c.filename.endswith(".zstd.bin") for c in index.chunks)
    ds = StreamingDataset(out, item_loader=TokensLoader(block_size=5), shuffle=False)
    assert [ds[i].tolist() for i in range(len(ds))] == [list(range(k, k + 5)) for k in range(0, 40, 5)]


def test_append_needs_the_same_level(tmp_path):
    out = str(tmp_path / "ds")
    optimize(record, range(10), out, num_workers=1, chunk_size=4, compression="zstd", compression_level="chunk", verbose=False)
    with pytest.raises(ConfigMismatchError, match=r"compression_level: existing None, new 'batch'"):
        optimize(record, range(10, 20), out, num_workers=1, chunk_size=4, compression="zstd", mode="append", verbose=False)
    optimize(
        record, range(10, 20), out, num_workers=1, chunk_size=4, compression="zstd", compression_level="chunk",
        mode="append", verbose=False,
    )
    assert all(c.filename.endswith(".zstd.bin") for c in Index.load(out).chunks)
    assert _streamed(out) == [record(i) for i in range(20)]


def test_bad_level_is_refused_and_a_useless_batch_size_warns(tmp_path):
    with pytest.raises(ValueError, match="compression_level must be None, 'chunk', 'batch' or 'sample', got 'file'"):
        optimize(record, range(3), str(tmp_path / "a"), compression="zstd", compression_level="file", verbose=False)
    with pytest.warns(UserWarning, match="compression_batch_size=4 has no effect with compression_level='sample'"):
        optimize(
            record, range(3), str(tmp_path / "b"), num_workers=1, compression="zstd", compression_level="sample",
            compression_batch_size=4, verbose=False,
        )
    assert _config(str(tmp_path / "b"))["compression_batch_size"] is None
