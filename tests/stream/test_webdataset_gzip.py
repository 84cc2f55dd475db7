"""Gzipped WebDataset shards (``.tar.gz``, ``.tgz``): the same samples as the plain shards.

The gzipped shards are the webdataset-written vectors of ``foreign_vectors/wds`` put
through gzip, which is how ``tar czf`` or a gzip-writing ShardWriter store them.
"""

from __future__ import annotations

import gzip
import shutil

import pytest

from litdata_format import ChunkFormatError
from litdata_stream import StreamingDataLoader, StreamingDataset

from .test_webdataset_source import EXPECTED, KEYS, VECTORS, key_of, keys, plain


def gzipped(folder, suffix=".tar.gz", plain_too=()):
    """A copy of the vector shards, gzipped (but those named in ``plain_too``)."""
    folder.mkdir()
    for shard in sorted(VECTORS.glob("*.tar")):
        if shard.name in plain_too:
            shutil.copy(shard, folder / shard.name)
            continue
        name = shard.name[: -len(".tar")] + suffix
        with open(shard, "rb") as src, gzip.open(folder / name, "wb") as out:
            shutil.copyfileobj(src, out)
    return folder


@pytest.mark.parametrize("suffix", [".tar.gz", ".tgz"])
def test_gzipped_shards_yield_webdatasets_samples(tmp_path, suffix):
    ds = StreamingDataset(gzipped(tmp_path / "d", suffix), cache_dir=tmp_path / "c")
    assert ds.source.kind == "webdataset"
    assert [c.chunk_size for c in ds.source.index.chunks] == [7, 7, 7, 4]
    assert [plain(s) for s in ds] == EXPECTED
    assert plain(ds[17]) == EXPECTED[17]
    assert ds[8]["__url__"] == str(tmp_path / "d" / f"shard-001{suffix}")
    # read from the cache, decompressed once: the plain tar's bytes
    assert [c.chunk_bytes for c in ds.source.index.chunks] == [p.stat().st_size for p in sorted(VECTORS.glob("*.tar"))]


def test_a_folder_mixing_plain_and_gzipped_shards(tmp_path):
    folder = gzipped(tmp_path / "d", plain_too=("shard-001.tar", "shard-003.tar"))
    ds = StreamingDataset(folder, cache_dir=tmp_path / "c", shuffle=True, seed=3, transform=key_of)
    loader = StreamingDataLoader(ds, batch_size=4, num_workers=2)
    assert sorted(keys(loader)) == KEYS == sorted(keys(loader))


def test_a_brace_pattern_of_gzipped_shards(tmp_path):
    folder = gzipped(tmp_path / "d")
    ds = StreamingDataset(f"{folder}/shard-{{001..002}}.tar.gz", cache_dir=tmp_path / "c")
    assert [plain(s) for s in ds] == EXPECTED[7:21]


def test_a_truncated_gzipped_shard_names_the_file(tmp_path):
    folder = gzipped(tmp_path / "d")
    shard = folder / "shard-002.tar.gz"
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    with pytest.raises(ChunkFormatError, match=r"d/shard-002\.tar\.gz is truncated or corrupt"):
        StreamingDataset(folder, cache_dir=tmp_path / "c")
    shard.write_bytes(b"not gzip at all, but long enough")
    with pytest.raises(ChunkFormatError, match=r"d/shard-002\.tar\.gz is truncated or corrupt"):
        StreamingDataset(folder, cache_dir=tmp_path / "c2")


@pytest.mark.parametrize("backend_fixture", ["s3_server", "rclone_server", "azure_server", "gcs_server"])
def test_gzipped_shards_on_object_stores_with_workers_and_a_tight_cache(request, backend_fixture, tmp_path):
    server = request.getfixturevalue(backend_fixture)
    from litdata_storage import open_store

    from .conftest import files_size

    location = server.new_location()
    store = open_store(location, **server.storage_options())
    folder = gzipped(tmp_path / "d")
    for p in sorted(folder.iterdir()):
        store.put_file(p.name, p)
    ds = StreamingDataset(location, cache_dir=tmp_path / "c", shuffle=True, transform=key_of,
                          storage_options=server.storage_options())
    assert sorted(keys(StreamingDataLoader(ds, batch_size=3, num_workers=2))) == KEYS
    biggest = max(p.stat().st_size for p in VECTORS.glob("*.tar"))
    budget = 3 * biggest + 2048  # a shard's two copies while it is fetched, and one more
    tight = StreamingDataset(location, cache_dir=tmp_path / "c2", max_cache_size=budget, transform=key_of,
                             storage_options=server.storage_options(), max_pre_download=1, shuffle_block_size=6)
    seen = []
    for batch in StreamingDataLoader(tight, batch_size=3, num_workers=0):
        seen += list(batch)
        assert files_size(tmp_path / "c2", "shard-*") <= budget
    assert sorted(seen) == KEYS
