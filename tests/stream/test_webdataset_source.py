"""WebDataset tar shards as a StreamingDataset source.

The shards under foreign_vectors/wds/ were written by webdataset's own ``ShardWriter``
(foreign_vectors/write_wds.py, 7 samples a shard, the ``json`` member only on every
fourth sample); ``expected.json`` is what webdataset's own reader yields from them.
"""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import pytest

from litdata_format import ChunkFormatError
from litdata_stream import StreamingDataLoader, StreamingDataset
from litdata_stream.sources.webdataset import expand_braces, split_member

from .conftest import files_size

VECTORS = Path(__file__).parent / "foreign_vectors" / "wds"
EXPECTED = json.loads((VECTORS / "expected.json").read_text())
KEYS = [s["__key__"] for s in EXPECTED]


def plain(sample: dict) -> dict:
    return {k: (v.hex() if isinstance(v, bytes) else v) for k, v in sample.items() if k != "__url__"}


def key_of(sample: dict) -> str:
    return sample["__key__"]


def keys(loader) -> list[str]:
    return [k for batch in loader for k in batch]


def test_samples_are_webdatasets_samples(tmp_path):
    ds = StreamingDataset(VECTORS, cache_dir=tmp_path)
    assert ds.source.kind == "webdataset"
    assert [c.chunk_size for c in ds.source.index.chunks] == [7, 7, 7, 4]  # one chunk per shard
    assert [plain(s) for s in ds] == EXPECTED
    assert plain(ds[17]) == EXPECTED[17]  # random access
    assert ds[8]["__url__"] == str(VECTORS / "shard-001.tar") and ds[8]["cls"] == b"8"


def test_brace_pattern_and_single_shard(tmp_path):
    ds = StreamingDataset(f"{VECTORS}/shard-{{001..002}}.tar", cache_dir=tmp_path)
    assert [plain(s) for s in ds] == EXPECTED[7:21]
    one = StreamingDataset(VECTORS / "shard-003.tar", cache_dir=tmp_path)
    assert [s["__key__"] for s in one] == KEYS[21:]
    with pytest.raises(FileNotFoundError, match=r"shard .*shard-004\.tar does not exist"):
        StreamingDataset(f"{VECTORS}/shard-{{000..004}}.tar", cache_dir=tmp_path)


def test_brace_expansion_and_member_keys():
    assert expand_braces("s-{008..011}.tar") == ["s-008.tar", "s-009.tar", "s-010.tar", "s-011.tar"]
    assert expand_braces("{a,b}/s-{1..2}.tar") == ["a/s-1.tar", "a/s-2.tar", "b/s-1.tar", "b/s-2.tar"]
    assert split_member("dir/img.001.seg.png") == ("dir/img", "001.seg.png")
    assert split_member("noext") == (None, None)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_loader_shuffled_epochs_yield_every_sample_once(num_workers, tmp_path):
    ds = StreamingDataset(VECTORS, cache_dir=tmp_path, shuffle=True, seed=4, transform=key_of)
    loader = StreamingDataLoader(ds, batch_size=4, num_workers=num_workers)
    first, second = keys(loader), keys(loader)
    assert sorted(first) == KEYS == sorted(second)
    assert first != KEYS and first != second


def test_mid_epoch_resume(tmp_path):
    def make(workers: int) -> StreamingDataLoader:
        ds = StreamingDataset(VECTORS, cache_dir=tmp_path, shuffle=True, seed=9, transform=key_of)
        return StreamingDataLoader(ds, batch_size=2, num_workers=workers)

    loader, seen = make(2), []
    for k, batch in enumerate(loader):
        seen += list(batch)
        if k == 5:
            state = loader.state_dict()
            break
    resumed = make(0)
    resumed.load_state_dict(state)
    rest = keys(resumed)
    assert len(seen) == 12 and sorted(seen + rest) == KEYS


def test_offsets_indexed_once_per_node(tmp_path):
    StreamingDataset(VECTORS, cache_dir=tmp_path)
    (index,) = tmp_path.rglob(".wds_index.json")
    stamp = index.stat().st_mtime_ns
    assert len(StreamingDataset(VECTORS, cache_dir=tmp_path)) == 25
    assert index.stat().st_mtime_ns == stamp  # read, not rebuilt


# -------------------------------------------------------------------------- bad input
def test_truncated_tar_names_the_file(tmp_path):
    shutil.copytree(VECTORS, tmp_path / "d")
    shard = tmp_path / "d" / "shard-002.tar"
    data = shard.read_bytes()
    with tarfile.open(shard) as tar:
        last = tar.getmembers()[-1]
    shard.write_bytes(data[: last.offset_data + 10])  # cut inside the last member's data
    with pytest.raises(ChunkFormatError, match=r"d/shard-002\.tar is truncated"):
        StreamingDataset(tmp_path / "d", cache_dir=tmp_path / "c")
    shard.write_bytes(data[:700])  # cut inside the second header
    with pytest.raises(ChunkFormatError, match=r"d/shard-002\.tar is truncated"):
        StreamingDataset(tmp_path / "d", cache_dir=tmp_path / "c2")


def test_empty_folder_names_what_it_looked_for(tmp_path):
    (tmp_path / "e").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no \.parquet files under .*e \(nor \.tar shards\)"):
        StreamingDataset(tmp_path / "e", cache_dir=tmp_path / "c")


# ------------------------------------------------------------------------------ remote
@pytest.mark.parametrize("backend_fixture", ["s3_server", "rclone_server", "azure_server", "gcs_server"])
def test_on_object_stores_with_workers(request, backend_fixture, tmp_path):
    server = request.getfixturevalue(backend_fixture)
    from litdata_storage import open_store

    location = server.new_location()
    store = open_store(location, **server.storage_options())
    for p in sorted(VECTORS.glob("*.tar")):
        store.put_file(p.name, p)
    ds = StreamingDataset(location, cache_dir=tmp_path / "c", shuffle=True, transform=key_of,
                          storage_options=server.storage_options())
    assert sorted(keys(StreamingDataLoader(ds, batch_size=3, num_workers=2))) == KEYS
    braces = StreamingDataset(f"{location}/shard-{{000..003}}.tar", cache_dir=tmp_path / "c2",
                              storage_options=server.storage_options())
    assert [plain(s) for s in braces] == EXPECTED
    assert braces[0]["__url__"] == f"{location}/shard-000.tar"


def test_iter_webdataset_tar_yields_one_shards_samples(tmp_path):
    import litdata

    shard = VECTORS / "shard-001.tar"
    got = list(litdata.iter_webdataset_tar(str(shard)))
    assert [plain(s) for s in got] == EXPECTED[7:14]
    assert got[0]["__url__"] == str(shard)
    (tmp_path / "cut.tar").write_bytes(shard.read_bytes()[:600])
    with pytest.raises(ChunkFormatError, match=r"cut\.tar is truncated"):
        next(litdata.iter_webdataset_tar(tmp_path / "cut.tar"))


@pytest.mark.slow  # fresh interpreters importing torch
def test_spawned_workers(tmp_path):
    ds = StreamingDataset(VECTORS, cache_dir=tmp_path, shuffle=True, transform=key_of)
    loader = StreamingDataLoader(ds, batch_size=4, num_workers=2, multiprocessing_context="spawn")
    assert sorted(keys(loader)) == KEYS


def test_remote_shards_stay_within_the_cache_budget(s3_server, tmp_path):
    from litdata_storage import open_store

    location = s3_server.new_location()
    store = open_store(location, **s3_server.storage_options())
    for p in sorted(VECTORS.glob("*.tar")):
        store.put_file(p.name, p)
    cache = tmp_path / "c"
    budget = 2 * 51200 + 1024  # two shards of the four
    ds = StreamingDataset(location, cache_dir=cache, max_cache_size=budget, transform=key_of,
                          storage_options=s3_server.storage_options(), max_pre_download=1, shuffle_block_size=6)
    seen = []
    for batch in StreamingDataLoader(ds, batch_size=3, num_workers=0):
        seen += list(batch)
        assert files_size(cache, "shard-*.tar") <= budget
    assert seen == KEYS  # shards evicted after indexing are fetched again when read
