"""optimize() to a local folder: every parameter, exact items back."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from litdata_format import Index, read_dataset
from litdata_writer import ConfigMismatchError, optimize

from . import fns
from .helpers import keys


def test_seed_readme_append_example(tmp_path):
    out = str(tmp_path / "my_optimized_dataset")
    optimize(fn=fns.square, inputs=list(range(100)), output_dir=out, chunk_bytes="64MB", verbose=False)
    optimize(
        fn=fns.square,
        inputs=list(range(100, 200)),
        output_dir=out,
        chunk_bytes="64MB",
        mode="append",
        verbose=False,
    )
    items = read_dataset(out)
    assert len(items) == 200
    assert items == [(i, i**2) for i in range(200)]
    # new chunks continue each rank's numbering; nothing but the dataset is left behind
    names = keys(out)
    assert names == sorted(["index.json", "chunk-0-0.bin", "chunk-0-1.bin", "chunk-1-0.bin", "chunk-1-1.bin"])
    assert Index.load(out).config.chunk_bytes == 64_000_000


def test_index_json_is_litdata_shaped(tmp_path):
    out = tmp_path / "ds"
    optimize(fns.square, range(10), str(out), num_workers=2, chunk_size=3, verbose=False)
    data = json.loads((out / "index.json").read_text())
    assert set(data) == {"chunks", "config", "updated_at"}
    assert [c["filename"] for c in data["chunks"]] == [
        "chunk-0-0.bin", "chunk-0-1.bin", "chunk-1-0.bin", "chunk-1-1.bin",
    ]  # fmt: skip
    assert [c["chunk_size"] for c in data["chunks"]] == [3, 2, 3, 2]
    assert data["config"]["chunk_size"] == 3 and data["config"]["chunk_bytes"] is None
    assert data["config"]["data_format"] == ["int", "int"]
    assert float(data["updated_at"]) > 0


def test_mode_none_refuses_an_existing_dataset(tmp_path):
    out = str(tmp_path / "ds")
    optimize(fns.square, range(5), out, num_workers=1, verbose=False)
    before = (tmp_path / "ds" / "index.json").read_bytes()
    with pytest.raises(
        FileExistsError, match=r"already holds an optimized dataset.*mode='append'.*mode='overwrite'"
    ):
        optimize(fns.square, range(5), out, num_workers=1, verbose=False)
    assert (tmp_path / "ds" / "index.json").read_bytes() == before


def test_mode_overwrite_replaces_the_dataset(tmp_path):
    out = str(tmp_path / "ds")
    optimize(fns.square, range(50), out, num_workers=2, chunk_size=5, verbose=False)
    assert len(keys(out)) == 11
    optimize(fns.mixed, range(7), out, num_workers=1, mode="overwrite", verbose=False)
    _same(read_dataset(out), [fns.mixed(i) for i in range(7)])
    assert keys(out) == ["chunk-0-0.bin", "index.json"]


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for key in x:
            if isinstance(x[key], np.ndarray):
                np.testing.assert_array_equal(x[key], y[key])
                assert x[key].dtype == y[key].dtype
            else:
                assert x[key] == y[key]
    return True


def test_append_to_an_empty_output_just_writes(tmp_path):
    out = str(tmp_path / "ds")
    optimize(fns.square, range(4), out, num_workers=2, mode="append", verbose=False)
    assert read_dataset(out) == [(i, i**2) for i in range(4)]


def test_append_with_other_item_types_is_refused_and_old_dataset_kept(tmp_path):
    out = str(tmp_path / "ds")
    optimize(fns.square, range(10), out, num_workers=2, verbose=False)
    before = (tmp_path / "ds" / "index.json").read_bytes()
    old_keys = keys(out)
    with pytest.raises(
        Exception, match=r"cannot append.*data_format: existing \['int', 'int'\], new \['str'\]"
    ) as info:
        optimize(str, range(10), out, num_workers=2, mode="append", verbose=False)
    assert "ConfigMismatchError" in str(info.value) or isinstance(info.value, ConfigMismatchError)
    assert (tmp_path / "ds" / "index.json").read_bytes() == before
    assert read_dataset(out) == [(i, i**2) for i in range(10)]
    assert keys(out) == old_keys  # the refused run left nothing behind


def test_append_with_other_chunking_is_refused_before_any_work(tmp_path):
    out = str(tmp_path / "ds")
    optimize(fns.square, range(10), out, num_workers=1, chunk_bytes="1MB", verbose=False)
    with pytest.raises(
        ConfigMismatchError,
        match=r"chunk_bytes: existing 1000000, new None.*chunk_size: existing None, new 4",
    ):
        optimize(fns.square, range(10), out, num_workers=1, chunk_size=4, mode="append", verbose=False)
    with pytest.raises(ConfigMismatchError, match=r"compression: existing None, new 'zstd'"):
        optimize(
            fns.square,
            range(10),
            out,
            num_workers=1,
            chunk_bytes="1MB",
            compression="zstd",
            mode="append",
            verbose=False,
        )


def test_append_after_a_dataset_with_more_ranks(tmp_path):
    out = str(tmp_path / "ds")
    optimize(fns.square, range(30), out, num_workers=3, chunk_size=4, verbose=False)
    optimize(fns.square, range(30, 40), out, num_workers=1, chunk_size=4, mode="append", verbose=False)
    assert read_dataset(out) == [(i, i**2) for i in range(40)]
    names = [c.filename for c in Index.load(out).chunks]
    assert names[-3:] == ["chunk-0-3.bin", "chunk-0-4.bin", "chunk-0-5.bin"]


def test_generator_fn_yields_many_items_in_order(tmp_path):
    out = str(tmp_path / "ds")
    optimize(fns.variable_yield, range(40), out, num_workers=2, chunk_size=7, verbose=False)
    expected = [item for i in range(40) for item in fns.variable_yield(i)]
    assert read_dataset(out) == expected


def test_none_results_are_skipped(tmp_path):
    out = str(tmp_path / "ds")
    optimize(fns.none_for_odd, range(20), out, num_workers=2, verbose=False)
    assert read_dataset(out) == list(range(0, 20, 2))


def test_batch_size_passes_batches(tmp_path):
    out = str(tmp_path / "ds")
    optimize(fns.batch_total, list(range(23)), out, num_workers=2, batch_size=5, verbose=False)
    assert read_dataset(out) == [(sum(range(s, min(s + 5, 23))), min(5, 23 - s)) for s in range(0, 23, 5)]


@pytest.mark.parametrize("fast_dev_run, count", [(True, 10), (3, 3)])
def test_fast_dev_run_keeps_the_first_inputs(tmp_path, fast_dev_run, count):
    out = str(tmp_path / "ds")
    optimize(fns.square, list(range(100)), out, num_workers=2, fast_dev_run=fast_dev_run, verbose=False)
    assert read_dataset(out) == [(i, i**2) for i in range(count)]


def test_chunk_size_counts_items_and_chunk_bytes_counts_bytes(tmp_path):
    by_size = str(tmp_path / "by_size")
    optimize(fns.square, range(20), by_size, num_workers=1, chunk_size=6, verbose=False)
    assert [c.chunk_size for c in Index.load(by_size).chunks] == [6, 6, 6, 2]
    by_bytes = str(tmp_path / "by_bytes")
    # an item is 8 (two sizes) + 16 bytes; 100 bytes hold 4 of them
    optimize(fns.square, range(10), by_bytes, num_workers=1, chunk_bytes=100, verbose=False)
    index = Index.load(by_bytes)
    assert [c.chunk_size for c in index.chunks] == [4, 4, 2]
    assert index.config.chunk_bytes == 100 and index.config.chunk_size is None
    assert read_dataset(by_bytes) == [(i, i**2) for i in range(10)]
    with pytest.raises(ValueError, match="either chunk_bytes or chunk_size"):
        optimize(fns.square, range(3), str(tmp_path / "x"), chunk_size=2, chunk_bytes="1MB")


def test_default_chunking_is_64mb(tmp_path):
    out = str(tmp_path / "ds")
    optimize(fns.square, range(3), out, num_workers=1, verbose=False)
    assert Index.load(out).config.chunk_bytes == 64_000_000


def test_zstd_compression(tmp_path):
    out = str(tmp_path / "ds")
    optimize(
        fns.mixed, range(30), out, num_workers=2, chunk_size=8, compression="zstd", compression_level="chunk",
        verbose=False,
    )
    index = Index.load(out)
    assert index.config.compression == "zstd" and index.config.compression_level is None
    assert all(c.filename.endswith(".zstd.bin") for c in index.chunks)
    _same(read_dataset(out, verify=True), [fns.mixed(i) for i in range(30)])


def test_every_serializer_type(tmp_path):
    out = str(tmp_path / "ds")
    optimize(fns.mixed, range(25), out, num_workers=2, chunk_size=4, verbose=False)
    assert Index.load(out).config.data_format == [
        "int", "float", "str", "bytes", "bool", "numpy", "no_header_numpy:9", "int", "int", "str",
    ]  # fmt: skip
    _same(read_dataset(out), [fns.mixed(i) for i in range(25)])


def test_pil_images_keep_their_jpeg_bytes(tmp_path):
    from PIL import Image

    paths = []
    for i in range(6):
        path = tmp_path / f"{i}.jpg"
        Image.fromarray(np.full((8, 8, 3), i * 30, np.uint8)).save(path, quality=90)
        paths.append(str(path))
    out = str(tmp_path / "ds")
    optimize(Image.open, paths, out, num_workers=2, reorder_files=False, verbose=False)
    assert Index.load(out).config.data_format == ["jpeg"]
    items = read_dataset(out)
    assert [np.asarray(img).tolist() for img in items] == [np.asarray(Image.open(p)).tolist() for p in paths]
    stored = b"".join((tmp_path / "ds" / c.filename).read_bytes() for c in Index.load(out).chunks)
    assert all(open(p, "rb").read() in stored for p in paths)  # the original files, not re-encodes


def test_pil_images_that_are_not_jpeg_files(tmp_path):
    out = str(tmp_path / "ds")
    optimize(_gray_image, range(4), out, num_workers=2, verbose=False)
    assert Index.load(out).config.data_format == ["pil"]
    assert [np.asarray(img).tolist() for img in read_dataset(out)] == [
        np.asarray(_gray_image(i)).tolist() for i in range(4)
    ]


def _gray_image(i):
    from PIL import Image

    return Image.fromarray(np.full((3, 5), i * 40, np.uint8))


def test_torch_tensors(tmp_path):
    torch = pytest.importorskip("torch")
    out = str(tmp_path / "ds")
    optimize(_tensor_item, range(6), out, num_workers=2, verbose=False)
    items = read_dataset(out)
    for i, (a, b) in enumerate(items):
        assert torch.equal(a, torch.full((2, 2), i, dtype=torch.bfloat16))
        assert torch.equal(b, torch.arange(i, dtype=torch.int64))


def _tensor_item(i):
    import torch

    return torch.full((2, 2), i, dtype=torch.bfloat16), torch.arange(i, dtype=torch.int64)


class TokensLoader:
    """Stands in for litdata_stream's TokensLoader: recognised by its class name."""

    def __init__(self, block_size=None):
        self.block_size = block_size


@pytest.mark.parametrize("loader", ["TokensLoader", TokensLoader(block_size=8), TokensLoader])
def test_tokens_loader_writes_token_streams(tmp_path, loader):
    out = str(tmp_path / "ds")
    optimize(fns.tokens, range(12), out, num_workers=2, chunk_size=50, item_loader=loader, verbose=False)
    index = Index.load(out)
    assert index.config.item_loader == "TokensLoader"
    assert index.config.data_format == ["no_header_numpy:6"]
    all_tokens = np.concatenate([next(fns.tokens(i)) for i in range(12)])
    assert sum(c.dim for c in index.chunks) == len(all_tokens)
    assert all(c.dim <= 50 for c in index.chunks)
    blocks = read_dataset(out, block_size=5)
    # blocks never cross chunks: rebuild the stream chunk by chunk
    expected, start = [], 0
    for chunk in index.chunks:
        part = all_tokens[start : start + chunk.dim]
        expected += [part[k * 5 : (k + 1) * 5] for k in range(chunk.dim // 5)]
        start += chunk.dim
    assert [b.tolist() for b in blocks] == [e.tolist() for e in expected]


def test_unknown_item_loader_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unsupported item_loader"):
        optimize(fns.square, range(3), str(tmp_path / "ds"), item_loader="ParquetLoader")


def test_ranks_merge_in_numeric_order(tmp_path):
    out = str(tmp_path / "ds")
    optimize(fns.square, range(24), out, num_workers=12, verbose=False)
    assert read_dataset(out) == [(i, i**2) for i in range(24)]
    names = [c.filename for c in Index.load(out).chunks]
    assert names[9:12] == ["chunk-9-0.bin", "chunk-10-0.bin", "chunk-11-0.bin"]


def test_more_workers_than_inputs(tmp_path):
    out = str(tmp_path / "ds")
    optimize(fns.square, [7, 8], out, num_workers=4, verbose=False)
    assert read_dataset(out) == [(7, 49), (8, 64)]


def test_reorder_files_balances_workers_by_size(tmp_path):
    files = tmp_path / "files"
    files.mkdir()
    sizes = [5000, 10, 20, 4000, 30, 40, 3000, 50]
    paths = []
    for i, size in enumerate(sizes):
        path = files / f"f{i}.bin"
        path.write_bytes(b"x" * size)
        paths.append(str(path))
    balanced = str(tmp_path / "balanced")
    optimize(fns.file_info, paths, balanced, num_workers=2, reorder_files=True, verbose=False)
    index = Index.load(balanced)
    items = read_dataset(balanced)
    assert sorted(items) == sorted((os.path.basename(p), s) for p, s in zip(paths, sizes))
    per_rank = {}
    for chunk, start in zip(index.chunks, np.cumsum([0] + [c.chunk_size for c in index.chunks])):
        rank = int(chunk.filename.split("-")[1])
        per_rank[rank] = per_rank.get(rank, 0) + sum(s for _, s in items[start : start + chunk.chunk_size])
    assert sorted(per_rank.values()) == [5150, 7000]  # the best split; contiguous halves give 9030 vs 3120
    in_order = str(tmp_path / "in_order")
    optimize(fns.file_info, paths, in_order, num_workers=2, reorder_files=False, verbose=False)
    assert read_dataset(in_order) == [(os.path.basename(p), s) for p, s in zip(paths, sizes)]


def test_spawn_start_method(tmp_path):
    out = str(tmp_path / "ds")
    optimize(fns.square, range(10), out, num_workers=2, start_method="spawn", verbose=False)
    assert read_dataset(out) == [(i, i**2) for i in range(10)]


def test_any_iterable_of_inputs(tmp_path):
    out = str(tmp_path / "ds")
    optimize(fns.square, (i for i in range(9)), out, num_workers=2, verbose=False)
    assert read_dataset(out) == [(i, i**2) for i in range(9)]


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="inputs is empty"):
        optimize(fns.square, [], str(tmp_path / "a"))
    with pytest.raises(ValueError, match=r"The provided `mode` should be either `append` or `overwrite` \(or None\), got .replace."):
        optimize(fns.square, [1], str(tmp_path / "a"), mode="replace")
    with pytest.raises(ValueError, match="num_workers"):
        optimize(fns.square, [1], str(tmp_path / "a"), num_workers=0)
    with pytest.raises(TypeError, match="fn must be callable"):
        optimize(3, [1], str(tmp_path / "a"))
    with pytest.raises(ValueError, match="unsupported compression"):
        optimize(fns.square, [1], str(tmp_path / "a"), compression="gzip")
    assert not (tmp_path / "a").exists() or not os.listdir(tmp_path / "a")


@pytest.mark.parametrize("scheme", ["local:", "file://"])
def test_local_url_schemes(tmp_path, scheme):
    folder = tmp_path / "ds"
    optimize(fns.square, range(6), f"{scheme}{folder}", num_workers=2, verbose=False)
    assert read_dataset(folder) == [(i, i**2) for i in range(6)]


def test_file_video_jpeg_list_and_pickle_leaves(tmp_path, monkeypatch):
    from PIL import Image

    files = tmp_path / "files"
    files.mkdir()
    for i in range(4):
        (files / f"{i}.txt").write_text(f"text {i}")
        (files / f"{i}.mp4").write_bytes(bytes([i]) * 100)
        for k in range(2):
            Image.fromarray(np.full((4, 4, 3), 20 * i + k, np.uint8)).save(files / f"{i}-{k}.jpg")
    monkeypatch.setenv("WRITER_TEST_FILES", str(files))
    out = str(tmp_path / "ds")
    optimize(fns.files_and_objects, range(4), out, num_workers=2, verbose=False)
    assert Index.load(out).config.data_format == ["file:txt", "video:mp4", "jpeg", "jpeg", "pickle"]
    items = read_dataset(out, allow_pickle=True)
    for i, item in enumerate(items):
        assert item["doc"] == f"text {i}".encode()
        assert item["clip"] == bytes([i]) * 100
        assert [np.asarray(f).tolist() for f in item["frames"]] == [
            np.asarray(Image.open(files / f"{i}-{k}.jpg")).tolist() for k in range(2)
        ]
        assert item["point"] == fns.Point(i)
