"""Mosaic MDS datasets as a StreamingDataset source.

The datasets under foreign_vectors/mds/ were written by mosaicml-streaming's own
``MDSWriter`` (foreign_vectors/write_mds.py): every column encoding, raw and compressed
(zstd, gz), and a pickled column. ``expected.json`` holds what Mosaic's own decoder
returns for each sample; ours must return the same values of the same types.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from litdata_format import ChunkFormatError
from litdata_stream import StreamingDataLoader, StreamingDataset

from .foreign_vectors.write_mds import tagged  # the writer's tags, so both sides compare alike

PIL = pytest.importorskip("PIL.Image")

VECTORS = Path(__file__).parent / "foreign_vectors" / "mds"


def expected(name: str) -> list[dict[str, Any]]:
    return json.loads((VECTORS / name / "expected.json").read_text())


def ids(loader) -> list[int]:
    return [int(x) for batch in loader for x in batch]


def just_id(sample: dict) -> int:
    return sample["id"]


@pytest.mark.parametrize("name", ["all_encodings", "zstd", "gz"])
def test_every_sample_decodes_as_mosaic_decodes_it(name, tmp_path):
    ds = StreamingDataset(VECTORS / name, cache_dir=tmp_path)
    want = expected(name)
    assert len(ds) == len(want)
    assert ds.source.kind == "mds"
    got = [{k: tagged(v) for k, v in ds[i].items()} for i in range(len(ds))]
    assert got == want
    assert [s["id"] for s in ds] == list(range(len(want)))  # iteration order = index order


def test_column_types_are_mosaics(tmp_path):
    s = StreamingDataset(VECTORS / "all_encodings", cache_dir=tmp_path)[4]
    assert type(s["id"]) is int and type(s["num"]) is int and s["num"] == 10**20 + 4
    assert isinstance(s["u8"], np.uint8) and isinstance(s["f16"], np.float16)
    assert s["arr_fixed"].shape == (2, 3) and s["arr_fixed"].dtype == np.int16
    assert s["arr"].tolist() == [[0, 1, 2, 3, 4]] and s["arr"].dtype == np.uint16
    assert s["raw_img"].mode == "L" and s["png"].mode == "RGBA" and s["jpg"].format == "JPEG"
    assert s["meta"] == {"i": 4, "tags": ["a", "4"]} and s["text"] == "item-4 é"


def test_compressed_shards_are_inflated_into_the_cache(tmp_path):
    ds = StreamingDataset(VECTORS / "zstd", cache_dir=tmp_path / "c")
    assert [s["id"] for s in ds] == list(range(10))
    cached = sorted(p.name for p in (tmp_path / "c").rglob("shard.*.mds"))
    assert cached == [f"shard.{i:05d}.mds" for i in range(4)]


def test_pickled_columns_need_allow_pickle(tmp_path):
    with pytest.raises(ValueError, match=r"column 'obj' of .*pickled/index.json is pickled .*allow_pickle=True"):
        StreamingDataset(VECTORS / "pickled", cache_dir=tmp_path)
    ds = StreamingDataset(VECTORS / "pickled", cache_dir=tmp_path, allow_pickle=True)
    assert [s["obj"] for s in ds] == [{"set": sorted({i, 2 * i})} for i in range(9)]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_loader_shuffled_epochs_yield_every_sample_once(num_workers, tmp_path):
    ds = StreamingDataset(VECTORS / "gz", cache_dir=tmp_path, shuffle=True, seed=3, transform=just_id)
    loader = StreamingDataLoader(ds, batch_size=4, num_workers=num_workers)
    first, second = ids(loader), ids(loader)
    assert sorted(first) == list(range(40)) == sorted(second)
    assert first != list(range(40)) and first != second


def test_mid_epoch_resume(tmp_path):
    def make(workers: int) -> StreamingDataLoader:
        ds = StreamingDataset(VECTORS / "gz", cache_dir=tmp_path, shuffle=True, seed=1, transform=just_id)
        return StreamingDataLoader(ds, batch_size=3, num_workers=workers)

    loader, seen = make(2), []
    for k, batch in enumerate(loader):
        seen += [int(x) for x in batch]
        if k == 4:
            state = loader.state_dict()
            break
    resumed = make(0)
    resumed.load_state_dict(state)
    rest = ids(resumed)
    assert len(seen) == 15 and sorted(seen + rest) == list(range(40))


def test_input_format_names_the_source(tmp_path):
    assert len(StreamingDataset(VECTORS / "gz", cache_dir=tmp_path, input_format="mds")) == 40
    with pytest.raises(ValueError, match="columns, encryption and index_path do not apply to mds datasets"):
        StreamingDataset(VECTORS / "gz", cache_dir=tmp_path, columns=["id"])


# -------------------------------------------------------------------------- bad input
def test_local_shard_size_not_matching_the_index_names_the_shard(tmp_path):
    shutil.copytree(VECTORS / "all_encodings", tmp_path / "d")
    shard = tmp_path / "d" / "shard.00001.mds"
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(ChunkFormatError, match=r"d/shard\.00001\.mds has \d+ bytes, index.json says \d+"):
        StreamingDataset(tmp_path / "d", cache_dir=tmp_path / "c")


def test_compressed_shard_size_mismatch_fails_at_its_first_read(tmp_path):
    shutil.copytree(VECTORS / "zstd", tmp_path / "d")
    shard = tmp_path / "d" / "shard.00002.mds.zstd"
    shard.write_bytes(shard.read_bytes() + b"junk")
    ds = StreamingDataset(tmp_path / "d", cache_dir=tmp_path / "c")
    assert ds[0]["id"] == 0
    with pytest.raises(ChunkFormatError, match=r"d/shard\.00002\.mds\.zstd has \d+ bytes, index.json says \d+"):
        ds[6]
    assert not list((tmp_path / "c").rglob("shard.00002.mds"))  # nothing half-written stays in the cache


# ------------------------------------------------------------------------------ remote
@pytest.mark.parametrize("backend_fixture", ["s3_server", "rclone_server", "azure_server", "gcs_server"])
def test_on_object_stores_with_workers(request, backend_fixture, tmp_path):
    server = request.getfixturevalue(backend_fixture)
    from litdata_storage import open_store

    location = server.new_location()
    store = open_store(location, **server.storage_options())
    for p in sorted((VECTORS / "zstd").iterdir()):
        store.put_file(p.name, p)
    ds = StreamingDataset(location, cache_dir=tmp_path, shuffle=True, transform=just_id,
                          storage_options=server.storage_options())
    assert ds.source.kind == "mds"
    assert sorted(ids(StreamingDataLoader(ds, batch_size=3, num_workers=2))) == list(range(10))
    plain = StreamingDataset(location, cache_dir=tmp_path, storage_options=server.storage_options())
    assert [{k: tagged(v) for k, v in plain[i].items()} for i in range(10)] == expected("zstd")


@pytest.mark.slow  # fresh interpreters importing torch
def test_spawned_workers(tmp_path):
    ds = StreamingDataset(VECTORS / "all_encodings", cache_dir=tmp_path, shuffle=True, transform=just_id)
    loader = StreamingDataLoader(ds, batch_size=4, num_workers=2, multiprocessing_context="spawn")
    assert sorted(ids(loader)) == list(range(10))
