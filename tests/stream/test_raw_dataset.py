"""StreamingRawDataset: every file under a prefix is an item, through the epoch plan.

Real files of distinct sizes and contents (so a swapped or truncated item fails),
read in place from local disk and fetched in groups from the S3 servers (moto, rclone)
and Azurite, with 0 and 2 forked DataLoader workers, shuffled, and resumed mid-epoch.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from litdata_stream import StreamingDataLoader, StreamingDataset, train_test_split
from litdata_stream.raw_dataset import StreamingRawDataset

N = 150


def content(i: int) -> bytes:
    return hashlib.sha256(str(i).encode()).digest() * (1 + i % 7) + str(i).encode()


def names() -> list[str]:
    return [f"class{i % 3}/img-{i:04d}.jpg" for i in range(N)]


def write_files(folder: Path) -> dict[str, bytes]:
    files = {}
    for i, name in enumerate(names()):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content(i))
        files[name] = content(i)
    (folder / ".hidden").write_bytes(b"skipped")
    return files


def expected_in_order(files: dict[str, bytes]) -> list[bytes]:
    return [files[k] for k in sorted(files)]


def loader_items(loader) -> list[bytes]:
    return [bytes(x) for batch in loader for x in batch]


@pytest.fixture
def raw_dir(tmp_path) -> tuple[Path, dict[str, bytes]]:
    files = write_files(tmp_path / "raw")
    return tmp_path / "raw", files


def test_every_file_is_an_item_in_key_order(raw_dir, tmp_path):
    folder, files = raw_dir
    ds = StreamingRawDataset(str(folder), cache_dir=tmp_path / "cache", files_per_chunk=16)
    assert len(ds) == N and [os.path.relpath(m.path, folder) for m in ds.files] == sorted(files)
    assert [m.size for m in ds.files] == [len(files[k]) for k in sorted(files)]
    assert [ds[i] for i in range(N)] == expected_in_order(files)
    assert ds[-1] == files[sorted(files)[-1]]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_loader_exact_bytes_shuffled_each_epoch(raw_dir, tmp_path, num_workers):
    folder, files = raw_dir
    ds = StreamingRawDataset(str(folder), cache_dir=tmp_path / "cache", shuffle=True, seed=3, files_per_chunk=16)
    kwargs = {"multiprocessing_context": "fork"} if num_workers else {}
    loader = StreamingDataLoader(ds, batch_size=8, num_workers=num_workers, **kwargs)
    first, second = loader_items(loader), loader_items(loader)
    want = sorted(files.values())
    assert sorted(first) == want == sorted(second)
    assert first != expected_in_order(files) and first != second


def test_path_items_and_transform(raw_dir, tmp_path):
    folder, files = raw_dir
    with pytest.raises(ValueError, match="item_type='path' requires cache_files=True"):
        StreamingRawDataset(str(folder), item_type="path")
    ds = StreamingRawDataset(str(folder), item_type="path", cache_files=True, cache_dir=tmp_path / "c",
                             transform=lambda p: Path(p).read_bytes())
    assert [ds[i] for i in range(N)] == expected_in_order(files)
    paths = StreamingRawDataset(str(folder), item_type="path", cache_files=True, cache_dir=tmp_path / "c")
    assert paths[0] == str(folder / sorted(files)[0])


def test_mid_epoch_resume_and_split(raw_dir, tmp_path):
    folder, files = raw_dir

    def make() -> StreamingRawDataset:
        return StreamingRawDataset(str(folder), cache_dir=tmp_path / "cache", shuffle=True, seed=1,
                                   files_per_chunk=10)

    loader = StreamingDataLoader(make(), batch_size=6, num_workers=2)
    seen = []
    for k, batch in enumerate(loader):
        seen += [bytes(x) for x in batch]
        if k == 9:
            state = loader.state_dict()
            break
    resumed = StreamingDataLoader(make(), batch_size=6, num_workers=0)
    resumed.load_state_dict(state)
    rest = loader_items(resumed)
    assert len(seen) == 60 and sorted(seen + rest) == sorted(files.values())
    train, test = train_test_split(make(), splits=[0.8, 0.2])
    assert sorted([train[i] for i in range(len(train))] + [test[i] for i in range(len(test))]) == sorted(
        files.values())


def test_indexer_extensions_and_empty_prefix(raw_dir, tmp_path):
    folder, files = raw_dir
    (folder / "notes.txt").write_bytes(b"x")
    (folder / "index.json.zstd").write_bytes(b"LitData's cached file list, never an item")

    class FileIndexer:  # LitData's FileIndexer, by name and attributes
        def __init__(self, max_depth: int = 5, extensions: list[str] | None = None) -> None:
            self.max_depth, self.extensions = max_depth, extensions or []

    ds = StreamingRawDataset(str(folder), indexer=FileIndexer(extensions=[".JPG"]))
    assert len(ds) == N
    assert list(StreamingRawDataset(str(folder), indexer=FileIndexer(max_depth=1))) == [b"x"]  # notes.txt only
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=f"No files found under {empty}"):
        StreamingRawDataset(str(empty))
    with pytest.raises(FileNotFoundError, match="No files found under .* with an extension in"):
        StreamingRawDataset(str(folder), indexer=FileIndexer(extensions=[".png"]))


def test_input_format_raw_on_streaming_dataset(raw_dir, tmp_path):
    folder, files = raw_dir
    ds = StreamingDataset(folder, input_format="raw", cache_dir=tmp_path / "cache")
    assert len(ds) == N and ds[5] == expected_in_order(files)[5]


def test_inert_litdata_arguments_warn(raw_dir):
    folder, _ = raw_dir
    with pytest.warns(UserWarning, match="hedge_delay=0.5 tunes LitData's downloader"):
        StreamingRawDataset(str(folder), hedge_delay=0.5)


# ------------------------------------------------------------------------------ remote
def upload(files: dict[str, bytes], store) -> None:
    for name, data in files.items():
        store.put(name, data)


@pytest.mark.parametrize("backend_fixture", ["moto_server", "rclone_server", "azure_server"])
def test_remote_groups_with_forked_workers_and_resume(request, backend_fixture, tmp_path):
    server = request.getfixturevalue(backend_fixture)
    base = server.new_location()
    from litdata_storage import open_store

    files = {name: content(i) for i, name in enumerate(names())}
    upload(files, open_store(f"{base}/data", **server.storage_options()))
    url, cache = f"{base}/data", tmp_path / "cache"

    def make(**kw) -> StreamingRawDataset:
        return StreamingRawDataset(url, cache_dir=cache, storage_options=server.storage_options(), shuffle=True,
                                   files_per_chunk=16, **kw)

    ds = make()
    assert len(ds) == N and ds[7] == expected_in_order(files)[7]
    loader = StreamingDataLoader(ds, batch_size=8, num_workers=2, multiprocessing_context="fork")
    assert sorted(loader_items(loader)) == sorted(files.values())
    packs = list(cache.rglob("packs/*"))
    assert len(packs) == -(-N // 16)  # every group downloaded once into the node cache
    listings = list(cache.rglob("raw_listing.json"))
    assert len(listings) == 1

    seen, state = [], None
    loader = StreamingDataLoader(make(), batch_size=5, num_workers=2, multiprocessing_context="fork")
    for k, batch in enumerate(loader):
        seen += [bytes(x) for x in batch]
        if k == 6:
            state = loader.state_dict()
            break
    resumed = StreamingDataLoader(make(), batch_size=5, num_workers=0)
    resumed.load_state_dict(state)
    assert sorted(seen + loader_items(resumed)) == sorted(files.values())

    paths = make(item_type="path", cache_files=True)
    local = paths[3]
    assert os.path.isfile(local) and Path(local).read_bytes() == expected_in_order(files)[3]


def test_remote_empty_prefix_names_it(moto_server, tmp_path):
    url = f"{moto_server.new_location()}/nothing"
    with pytest.raises(FileNotFoundError, match=f"No files found under {url}"):
        StreamingRawDataset(url, cache_dir=tmp_path / "c", storage_options=moto_server.storage_options())
