"""merge_datasets: the chunks of several datasets under one index, items in input order."""

from __future__ import annotations

import os

import pytest

from litdata_format import DatasetExistsError, write_dataset
from litdata_storage import open_store
from litdata_writer.merge_datasets import merge_datasets, merged_name
from litdata_writer.modes import ConfigMismatchError

from .helpers import index_of, keys, read_back


def items(first: int, n: int) -> list[dict]:
    return [{"id": i, "name": f"item-{i}", "blob": os.urandom(8) + bytes([i % 256])} for i in range(first, first + n)]


def write_inputs(tmp_path, **kwargs) -> tuple[list[str], list[dict]]:
    a, b, c = items(0, 23), items(23, 7), items(30, 41)
    dirs = []
    for name, part, size in (("a", a, 5), ("b", b, 3), ("c", c, 8)):
        write_dataset(tmp_path / name, part, chunk_size=size, **kwargs)
        dirs.append(str(tmp_path / name))
    return dirs, a + b + c


def test_merged_items_in_input_order(tmp_path):
    dirs, want = write_inputs(tmp_path)
    out = tmp_path / "merged"
    merge_datasets(dirs, str(out), max_workers=4)
    assert read_back(str(out)) == want
    index = index_of(str(out))
    names = [c.filename for c in index.chunks]
    assert names == [f"chunk-0-{n}.bin" for n in range(5 + 3 + 6)]
    assert [c.chunk_size for c in index.chunks] == [5] * 4 + [3] + [3] * 2 + [1] + [8] * 5 + [1]
    assert keys(str(out)) == sorted([*names, "index.json"])


def test_compressed_chunks_keep_their_suffix(tmp_path):
    dirs, want = write_inputs(tmp_path, compression="zstd")
    merge_datasets(dirs, str(tmp_path / "m"))
    assert read_back(str(tmp_path / "m")) == want
    names = [c.filename for c in index_of(str(tmp_path / "m")).chunks]
    assert names == [f"chunk-0-{n}.bin" for n in range(len(names))]
    # LitData names whole-chunk compressed chunks "chunk-R-N.zstd.bin": the suffix is kept
    assert merged_name("chunk-3-7.zstd.bin", 9) == "chunk-0-9.zstd.bin"
    assert merged_name("custom", 2) == "chunk-0-2.bin"


def test_config_mismatch_names_the_datasets_and_key(tmp_path):
    write_dataset(tmp_path / "a", items(0, 4), chunk_size=2)
    write_dataset(tmp_path / "b", items(4, 4), chunk_size=2, compression="zstd")
    with pytest.raises(ConfigMismatchError) as info:
        merge_datasets([str(tmp_path / "a"), str(tmp_path / "b")], str(tmp_path / "m"))
    message = str(info.value)
    assert f"cannot merge {tmp_path / 'a'} and {tmp_path / 'b'}" in message
    assert "compression: None in" in message and "'zstd' in" in message
    assert not (tmp_path / "m").exists() or not os.listdir(tmp_path / "m")
    write_dataset(tmp_path / "c", [{"id": 1}], chunk_size=2)
    with pytest.raises(ConfigMismatchError, match="data_format"):
        merge_datasets([str(tmp_path / "a"), str(tmp_path / "c")], str(tmp_path / "m"))


def test_bad_arguments_and_existing_output(tmp_path):
    dirs, _ = write_inputs(tmp_path)
    with pytest.raises(ValueError, match="more than 1 input directory"):
        merge_datasets(dirs[:1], str(tmp_path / "m"))
    with pytest.raises(ValueError, match="is one of the input_dirs"):
        merge_datasets(dirs, dirs[1])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=f"{tmp_path / 'empty'} has no index.json"):
        merge_datasets([dirs[0], str(tmp_path / "empty")], str(tmp_path / "m"))
    with pytest.raises(DatasetExistsError, match="already holds an optimized dataset"):
        merge_datasets(dirs[:2], dirs[2])  # an output that is a dataset
    before = sorted(os.listdir(dirs[2]))
    assert sorted(os.listdir(dirs[2])) == before


def test_failed_copy_leaves_nothing_visible(tmp_path):
    dirs, _ = write_inputs(tmp_path)
    os.unlink(os.path.join(dirs[2], "chunk-0-3.bin"))  # a chunk the index lists is missing
    out = tmp_path / "m"
    with pytest.raises(Exception, match="chunk-0-3.bin"):
        merge_datasets(dirs, str(out), max_workers=2)
    assert not out.exists() or os.listdir(out) == []


@pytest.mark.s3
def test_merge_on_s3(s3_target, tmp_path):
    dirs, want = write_inputs(tmp_path)
    store = s3_target.open()
    remote = []
    for d in dirs:
        name = os.path.basename(d)
        for f in sorted(os.listdir(d)):
            store.put_file(f"{name}/{f}", os.path.join(d, f))
        remote.append(f"{s3_target.url}/{name}")
    out = f"{s3_target.url}/merged"
    merge_datasets(remote[:1] + [dirs[1]] + remote[2:], out, storage_options=s3_target.storage_options)
    assert read_back(out, s3_target.storage_options) == want
    assert open_store(out, **s3_target.storage_options).exists("index.json")
    with pytest.raises(DatasetExistsError):
        merge_datasets(remote, out, storage_options=s3_target.storage_options)
