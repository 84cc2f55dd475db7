"""Parquet files as a StreamingDataset source: rows back exactly, through the epoch plan.

Files are written by pyarrow with several row groups (each row group is one chunk of
the plan). Read in place from local disk, and from the S3 servers (moto, rclone),
fake-gcs-server and Azurite: small files are fetched whole into the chunk cache, big
ones by ranged reads of their row groups.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from litdata_format import ChunkFormatError, write_dataset  # noqa: E402
from litdata_stream import (  # noqa: E402
    CombinedStreamingDataset,
    StreamingDataLoader,
    StreamingDataset,
    train_test_split,
)
from litdata_stream.sources import parquet as parquet_source  # noqa: E402
from litdata_stream.sources.parquet import index_parquet_dataset, split_parquet_url  # noqa: E402

from .conftest import files_size  # noqa: E402

ROWS = [(0, 70), (70, 55), (125, 45)]  # (first id, rows) of each file
N = sum(n for _, n in ROWS)


def write_parquet(folder: Path, *, row_group_size: int = 20, rows=ROWS, payload: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for f, (first, n) in enumerate(rows):
        ids = list(range(first, first + n))
        columns = {"id": ids, "text": [f"row-{i}" for i in ids], "score": [i / 4 for i in ids]}
        if payload:
            columns["blob"] = [os.urandom(payload) for _ in ids]
        path = folder / f"part-{f:02d}.parquet"
        pq.write_table(pa.table(columns), path, row_group_size=row_group_size)
        paths.append(path)
    return paths


def row(i: int) -> dict:
    return {"id": i, "text": f"row-{i}", "score": i / 4}


def loader_ids(loader) -> list[int]:
    return [int(x) for batch in loader for x in batch["id"]]


@pytest.fixture
def pq_dir(tmp_path) -> Path:
    write_parquet(tmp_path / "pq")
    return tmp_path / "pq"


# ------------------------------------------------------------------------------ local
def test_rows_and_row_groups_as_chunks(pq_dir):
    ds = StreamingDataset(pq_dir)
    assert len(ds) == N
    # 70 rows in groups of 20: 4 row groups; 55: 3; 45: 3
    assert [c.chunk_size for c in ds.source.index.chunks] == [20, 20, 20, 10, 20, 20, 15, 20, 20, 5]
    assert [ds[i] for i in (0, 69, 70, 124, 125, N - 1)] == [row(i) for i in (0, 69, 70, 124, 125, N - 1)]
    assert list(ds) == [row(i) for i in range(N)]


def test_columns_subset_glob_and_single_file(pq_dir):
    ds = StreamingDataset(f"{pq_dir}/part-0[12].parquet", columns=["text", "id"])
    assert len(ds) == 100
    assert ds[0] == {"text": "row-70", "id": 70}
    one = StreamingDataset(pq_dir / "part-02.parquet", columns=["score"])
    assert [x["score"] for x in one] == [i / 4 for i in range(125, N)]


def test_missing_column_names_column_and_file(pq_dir):
    with pytest.raises(ValueError, match=r"column 'label' is not in .*part-00\.parquet \(its columns: id, text, score\)"):
        StreamingDataset(pq_dir, columns=["id", "label"])


def test_litdata_parquet_loader_columns_are_honoured(pq_dir):
    class ParquetLoader:  # LitData's loader, recognised by name as LitData code passes it
        def __init__(self, columns=None):
            self._columns = columns

    ds = StreamingDataset(pq_dir, item_loader=ParquetLoader(columns=["id"]))
    assert ds[5] == {"id": 5}


@pytest.mark.parametrize("num_workers,context", [(0, None), (2, "fork")])
def test_loader_shuffled_epochs_yield_every_row_once(pq_dir, num_workers, context):
    ds = StreamingDataset(pq_dir, shuffle=True, seed=7)
    kwargs = {"multiprocessing_context": context} if context else {}
    loader = StreamingDataLoader(ds, batch_size=8, num_workers=num_workers, **kwargs)
    first = loader_ids(loader)
    second = loader_ids(loader)
    assert sorted(first) == list(range(N)) == sorted(second)
    assert first != list(range(N)) and first != second  # shuffled, a new order each epoch
    batch = next(iter(StreamingDataLoader(StreamingDataset(pq_dir), batch_size=3)))
    assert batch["id"].tolist() == [0, 1, 2] and batch["text"] == ["row-0", "row-1", "row-2"]


@pytest.mark.slow  # fresh interpreters importing torch and pyarrow
@pytest.mark.parametrize("context", ["spawn", "forkserver"])
def test_spawned_and_forkserver_workers(pq_dir, context):
    ds = StreamingDataset(pq_dir, shuffle=True, seed=5, columns=["id", "text"])
    assert ds[0] == {"id": 0, "text": "row-0"}
    loader = StreamingDataLoader(ds, batch_size=8, num_workers=2, multiprocessing_context=context)
    batches = list(loader)
    assert sorted(int(x) for b in batches for x in b["id"]) == list(range(N))
    assert all(b["text"] == [f"row-{int(i)}" for i in b["id"]] for b in batches)


def test_forked_workers_after_the_parent_read_rows(pq_dir):
    ds = StreamingDataset(pq_dir, shuffle=True)
    assert ds[3] == row(3)  # pyarrow used in the parent before the workers fork
    loader = StreamingDataLoader(ds, batch_size=10, num_workers=2, multiprocessing_context="fork")
    assert sorted(loader_ids(loader)) == list(range(N))


def test_mid_epoch_resume_on_other_worker_count(pq_dir):
    ds = StreamingDataset(pq_dir, shuffle=True, seed=1)
    loader = StreamingDataLoader(ds, batch_size=6, num_workers=2)
    seen = []
    for k, batch in enumerate(loader):
        seen += batch["id"].tolist()
        if k == 9:
            state = loader.state_dict()
            break
    resumed = StreamingDataLoader(StreamingDataset(pq_dir, shuffle=True, seed=1), batch_size=6, num_workers=0)
    resumed.load_state_dict(state)
    rest = loader_ids(resumed)
    assert len(seen) == 60 and sorted(seen + rest) == list(range(N))


def test_elastic_resume_saved_on_two_ranks_finished_on_three(pq_dir, monkeypatch):
    def loader(rank: int, world: int) -> StreamingDataLoader:
        monkeypatch.setenv("WORLD_SIZE", str(world))
        monkeypatch.setenv("RANK", str(rank))
        return StreamingDataLoader(StreamingDataset(pq_dir, shuffle=True, seed=2, drop_last=False), batch_size=5)

    seen: list[int] = []
    for rank in range(2):
        dl = loader(rank, 2)
        for k, batch in enumerate(dl):
            seen += batch["id"].tolist()
            if k == 2:
                break
        if rank == 0:
            state = dl.state_dict()  # frameworks keep rank 0's state
    assert len(seen) == 30
    served = []
    for rank in range(3):
        dl = loader(rank, 3)
        dl.load_state_dict(state)
        served.append(loader_ids(dl))
    assert len({len(s) for s in served}) == 1  # every new rank serves as many rows
    everything = seen + [x for s in served for x in s]
    assert set(everything) == set(range(N))
    assert len(everything) - N < 3 * 5  # nothing repeated but the padding that evens the ranks out


def test_subsample_split_and_mixing_with_a_litdata_dataset(pq_dir, tmp_path):
    sub = StreamingDataset(pq_dir, subsample=0.5, seed=3)
    ids = sorted(x["id"] for x in sub)
    assert len(ids) == len(set(ids)) == 85 and set(ids) <= set(range(N))
    train, test = train_test_split(StreamingDataset(pq_dir), [0.8, 0.2])
    a, b = {x["id"] for x in train}, {x["id"] for x in test}
    assert len(a) == 136 and len(b) == 34 and not a & b and a | b == set(range(N))
    write_dataset(tmp_path / "ld", [{"id": 1000 + i, "text": "ld", "score": 0.0} for i in range(30)], chunk_size=8)
    mixed = CombinedStreamingDataset([StreamingDataset(pq_dir), StreamingDataset(tmp_path / "ld")],
                                     iterate_over_all=True)
    got = sorted(int(x["id"]) for x in mixed)
    assert got == list(range(N)) + list(range(1000, 1030))
    with pytest.raises(ValueError, match="columns= selects parquet columns; .* is a LitData-format dataset"):
        StreamingDataset(tmp_path / "ld", columns=["id"])


def test_index_is_built_once_and_cached_per_node(pq_dir, tmp_path):
    cache = tmp_path / "cache"
    StreamingDataset(pq_dir, cache_dir=cache)
    cached = list(cache.rglob(".parquet_index.json"))
    assert len(cached) == 1
    data = json.loads(cached[0].read_text())
    assert data["config"]["item_loader"] == "ParquetLoader"
    assert [c["chunk_size"] for c in data["chunks"]] == [70, 55, 45]
    stamp = cached[0].stat().st_mtime_ns
    StreamingDataset(pq_dir, cache_dir=cache)
    assert cached[0].stat().st_mtime_ns == stamp  # read, not rebuilt
    (pq_dir / "part-03.parquet").write_bytes((pq_dir / "part-02.parquet").read_bytes())
    assert len(StreamingDataset(pq_dir, cache_dir=cache)) == N + 45  # a new listing: a new index


def test_index_parquet_dataset_next_to_data_and_in_cache_dir(pq_dir, tmp_path):
    written = index_parquet_dataset(str(pq_dir), num_workers=2)
    assert written == str(pq_dir / "index.json")
    data = json.loads((pq_dir / "index.json").read_text())
    assert [c["filename"] for c in data["chunks"]] == ["part-00.parquet", "part-01.parquet", "part-02.parquet"]
    assert [c["chunk_size"] for c in data["chunks"]] == [70, 55, 45]
    ds = StreamingDataset(pq_dir, shuffle=True)
    assert sorted(x["id"] for x in ds) == list(range(N))
    # LitData's own index lacks the row groups: they are read from the footers then
    for c in data["chunks"]:
        del c["row_groups"], c["columns"]
    (pq_dir / "index.json").write_text(json.dumps(data))
    assert [c.chunk_size for c in StreamingDataset(pq_dir).source.index.chunks][:4] == [20, 20, 20, 10]
    elsewhere = tmp_path / "idx"
    assert index_parquet_dataset(f"{pq_dir}/*.parquet", cache_dir=str(elsewhere)) == str(elsewhere / "index.json")
    assert len(StreamingDataset(pq_dir, index_path=str(elsewhere))) == N


def test_input_format_overrides_detection(pq_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="no index.json"):
        StreamingDataset(pq_dir, input_format="litdata")
    with pytest.raises(ValueError, match="unknown source 'orc'"):
        StreamingDataset(pq_dir, input_format="orc")
    assert len(StreamingDataset(pq_dir, input_format="parquet")) == N
    assert len(StreamingDataset(f"{pq_dir}/part-0*", input_format="parquet")) == N  # any glob, when told


# -------------------------------------------------------------------------- bad input
def test_corrupt_footer_and_truncated_file_name_the_file(tmp_path):
    paths = write_parquet(tmp_path / "bad")
    data = paths[1].read_bytes()
    paths[1].write_bytes(data[:-12] + b"\xff" * 8 + b"PAR1")  # footer length garbage
    with pytest.raises(ChunkFormatError, match=r"part-01\.parquet has a corrupt parquet footer"):
        StreamingDataset(tmp_path / "bad", cache_dir=tmp_path / "c1")
    paths[1].write_bytes(data[: len(data) // 2])
    with pytest.raises(ChunkFormatError, match=r"part-01\.parquet is not a parquet file or is truncated"):
        StreamingDataset(tmp_path / "bad", cache_dir=tmp_path / "c2")


def test_file_rewritten_after_indexing_fails_at_first_read(pq_dir, tmp_path):
    index_parquet_dataset(str(pq_dir))
    pq.write_table(pa.table({"id": [1, 2]}), pq_dir / "part-00.parquet")
    ds = StreamingDataset(pq_dir)
    with pytest.raises(ChunkFormatError, match=r"row group 0 of .*part-00\.parquet"):
        ds[0]


def test_empty_folder_and_mixed_formats(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no index.json at .*empty/index.json and no .parquet files under"):
        StreamingDataset(tmp_path / "empty")
    write_parquet(tmp_path / "mixed")
    (tmp_path / "mixed" / "shard-0.tar").write_bytes(b"x" * 1024)
    with pytest.raises(ValueError, match=r"mixes formats: parquet files \(part-00\.parquet, \.\.\.\) and other data "
                                         r"files \(shard-0\.tar"):
        StreamingDataset(tmp_path / "mixed")


def test_hf_urls_are_parsed_and_need_huggingface_hub():
    assert split_parquet_url("hf://datasets/org/name/data/*.parquet") == ("hf://datasets/org/name/data", "*.parquet")
    assert split_parquet_url("hf://datasets/org/name") == ("hf://datasets/org/name", None)
    with pytest.raises(ValueError, match="hf://datasets/<owner>/<name>"):
        split_parquet_url("hf://org/name")
    try:
        import huggingface_hub  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="needs huggingface_hub and fsspec"):
            StreamingDataset("hf://datasets/org/name")
    assert split_parquet_url("s3://b/p/train-*.parquet") == ("s3://b/p", "train-*.parquet")
    assert split_parquet_url("/d/a.parquet") == ("/d", "a.parquet")
    assert split_parquet_url("gs://b/p/") == ("gs://b/p", None)


# ------------------------------------------------------------------------------ remote
def upload_folder(folder: Path, store) -> None:
    for p in sorted(folder.iterdir()):
        store.put_file(p.name, p)


def test_remote_small_files_fetched_whole_with_workers(cloud_target, tmp_path):
    write_parquet(tmp_path / "pq")
    upload_folder(tmp_path / "pq", cloud_target.open("data"))
    url = f"{cloud_target.url}/data"
    cache = tmp_path / "cache"
    ds = StreamingDataset(url, shuffle=True, cache_dir=cache, storage_options=cloud_target.storage_options)
    assert len(ds) == N and ds[71] == row(71)
    loader = StreamingDataLoader(ds, batch_size=8, num_workers=2)
    assert sorted(loader_ids(loader)) == list(range(N))
    cached = sorted(p.name for p in cache.rglob("*.parquet"))
    assert cached == ["part-00.parquet", "part-01.parquet", "part-02.parquet"]


@pytest.mark.parametrize("backend_fixture", ["s3_server", "rclone_server", "azure_server", "gcs_server"])
def test_remote_big_file_read_by_row_group_within_cache_budget(request, backend_fixture, tmp_path):
    server = request.getfixturevalue(backend_fixture)
    rows = [(0, 160)]
    write_parquet(tmp_path / "pq", rows=rows, row_group_size=20, payload=64 * 1024)  # ~10 MiB, 8 row groups
    size = (tmp_path / "pq" / "part-00.parquet").stat().st_size
    assert size > parquet_source.SMALL_FILE_BYTES
    location = server.new_location()
    from litdata_storage import open_store

    upload_folder(tmp_path / "pq", open_store(location, **server.storage_options()))
    cache = tmp_path / "cache"
    budget = 8 * 1024 * 1024  # room for a few row groups, not the file
    ds = StreamingDataset(location, shuffle=True, cache_dir=cache, max_cache_size=budget, columns=["id", "blob"],
                          storage_options=server.storage_options(), max_pre_download=1, shuffle_block_size=20)
    seen = []
    for item in StreamingDataLoader(ds, batch_size=4, num_workers=0):
        seen += item["id"].tolist()
        total = files_size(cache, "*.arrow")
        assert total <= budget
    assert sorted(seen) == list(range(160))
    forked = StreamingDataLoader(ds, batch_size=4, num_workers=2, multiprocessing_context="fork")
    assert sorted(loader_ids(forked)) == list(range(160))  # the parent read row groups before forking
    assert not list(cache.rglob("*.parquet"))  # the file itself was never downloaded
    assert list(cache.rglob("*.rg*.arrow"))


def test_index_hf_dataset_reuses_an_existing_index_and_checks_urls(pq_dir, tmp_path):
    import litdata

    assert litdata.index_parquet_dataset is index_parquet_dataset
    with pytest.raises(ValueError, match="URLs must start with 'hf://'"):
        litdata.index_hf_dataset(str(pq_dir))
    index_parquet_dataset(str(pq_dir), cache_dir=str(tmp_path / "hfcache"))
    assert litdata.index_hf_dataset("hf://datasets/org/name", cache_dir=str(tmp_path / "hfcache")) == str(
        tmp_path / "hfcache")


def test_fsspec_route_that_hf_urls_take(tmp_path):
    """hf:// goes through the fsspec store; fsspec's in-memory filesystem takes the same
    route offline: listing, footer ranges, whole-file fetches into the cache."""
    fsspec = pytest.importorskip("fsspec")
    write_parquet(tmp_path / "pq")
    fs = fsspec.filesystem("memory")
    root = f"/parquet-{os.getpid()}-{tmp_path.name}"
    for p in sorted((tmp_path / "pq").iterdir()):
        fs.pipe(f"{root}/data/{p.name}", p.read_bytes())
    try:
        ds = StreamingDataset(f"memory://{root}/data/*.parquet", shuffle=True, cache_dir=tmp_path / "cache")
        assert sorted(x["id"] for x in ds) == list(range(N))
        assert ds[125] == row(125)
    finally:
        fs.rm(root, recursive=True)
