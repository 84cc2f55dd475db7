import pickle

import numpy as np
import pytest
import torch

from litdata_format import (
    ChunkFormatError,
    FormatError,
    Index,
    PickleNotAllowedError,
    header_size,
    write_dataset,
)
from litdata_stream import StreamingDataLoader, StreamingDataset, TokensLoader, train_test_split


def test_random_access_len_and_slices(squares):
    ds = StreamingDataset(squares)
    assert len(ds) == 200
    assert ds[0] == (0, 0) and ds[199] == (199, 199**2) and ds[-1] == (199, 199**2)
    assert ds[10:13] == [(10, 100), (11, 121), (12, 144)]
    assert ds[:] == [(i, i**2) for i in range(200)]
    with pytest.raises(IndexError, match="out of range for a dataset of 200 items"):
        ds[200]
    with pytest.raises(TypeError):
        ds[1.5]  # a str is a key (see test_keys_lookup.py)


def test_getitem_ignores_shuffle(squares):
    ds = StreamingDataset(squares, shuffle=True)
    assert [ds[i] for i in (0, 57, 199)] == [(0, 0), (57, 57**2), (199, 199**2)]
    order = [x[0] for x in ds]
    assert sorted(order) == list(range(200)) and order != list(range(200))


def test_plain_iteration_is_a_new_epoch_each_time(squares):
    ds = StreamingDataset(squares, shuffle=True, seed=3)
    first, second = [x[0] for x in ds], [x[0] for x in ds]
    assert sorted(first) == sorted(second) == list(range(200)) and first != second
    again = StreamingDataset(squares, shuffle=True, seed=3)
    assert [x[0] for x in again] == first


def test_subsample_is_fixed_and_exact(squares):
    ds = StreamingDataset(squares, subsample=0.1)
    assert len(ds) == 20
    items = ds[:]
    assert items == StreamingDataset(squares, subsample=0.1)[:]
    assert len({i for i, _ in items}) == 20 and all(sq == i**2 for i, sq in items)
    assert sorted(x[0] for x in ds) == sorted(i for i, _ in items)
    with pytest.raises(ValueError, match=r"subsample must be a number greater than 0 .*got subsample=0"):
        StreamingDataset(squares, subsample=0)


def test_train_test_split_is_disjoint_exact_and_deterministic(squares):
    ds = StreamingDataset(squares)
    train, val, test = train_test_split(ds, splits=[0.3, 0.2, 0.5])
    assert (len(train), len(val), len(test)) == (60, 40, 100)
    ids = [{i for i, _ in part[:]} for part in (train, val, test)]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert set().union(*ids) == set(range(200))
    assert [p[:] for p in train_test_split(ds, splits=[0.3, 0.2, 0.5])] == [train[:], val[:], test[:]]
    loader = StreamingDataLoader(train, batch_size=7, num_workers=2, shuffle=True)
    assert sorted(x for b in loader for x in b[0].tolist()) == sorted(ids[0])
    with pytest.raises(ValueError, match="add up to"):
        train_test_split(ds, splits=[0.7, 0.5])


class Doubled(StreamingDataset):
    def __getitem__(self, index):
        i, square = super().__getitem__(index)
        return {"i": i, "double": 2 * i, "square": square}


def test_subclass_getitem_runs_in_workers(squares):
    loader = StreamingDataLoader(Doubled(squares), batch_size=10, num_workers=2)
    batches = list(loader)
    assert len(batches) == 20
    ids = torch.cat([b["i"] for b in batches])
    assert sorted(ids.tolist()) == list(range(200))
    assert all(torch.equal(b["double"], 2 * b["i"]) for b in batches)


def test_transform(squares):
    ds = StreamingDataset(squares, transform=lambda item: item[1] - item[0])
    assert ds[3] == 6


def test_pickle_is_refused_unless_allowed(tmp_path):
    write_dataset(tmp_path / "p", [{"s": {1, 2}}, {"s": {3}}])
    with pytest.raises(PickleNotAllowedError, match="allow_pickle=True"):
        StreamingDataset(tmp_path / "p")[0]
    assert StreamingDataset(tmp_path / "p", allow_pickle=True)[1] == {"s": {3}}


def test_token_blocks(tmp_path):
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 60000, size=int(n), dtype=np.uint16) for n in rng.integers(5, 40, size=30)]
    write_dataset(tmp_path / "tok", arrays, chunk_size=100, item_loader="TokensLoader")
    ds = StreamingDataset(tmp_path / "tok", item_loader=TokensLoader(block_size=9))
    from litdata_format import read_dataset

    expected = read_dataset(tmp_path / "tok", block_size=9)
    assert len(ds) == len(expected)
    assert all(torch.equal(ds[i], torch.from_numpy(e)) for i, e in enumerate(expected))
    loader = StreamingDataLoader(ds, batch_size=4, num_workers=2, drop_last=False)
    rows = torch.cat(list(loader))
    assert rows.shape == (len(expected), 9)
    assert sorted(map(tuple, rows.tolist())) == sorted(tuple(e.tolist()) for e in expected)
    with pytest.raises(ValueError, match="pass item_loader=TokensLoader"):
        StreamingDataset(tmp_path / "tok")


def test_a_token_block_past_the_end_of_its_chunk_is_a_format_error(tmp_path):
    arrays = [np.arange(i * 10, i * 10 + 10, dtype=np.int32) for i in range(3)]
    write_dataset(tmp_path / "tok", arrays, chunk_size=30, item_loader="TokensLoader")
    index = Index.load(tmp_path / "tok")
    index.chunks[0].dim = 40  # the index claims 10 tokens more than the chunk holds
    index.dump(tmp_path / "tok")
    ds = StreamingDataset(tmp_path / "tok", item_loader=TokensLoader(block_size=10))
    assert len(ds) == 4
    assert ds[2].tolist() == list(range(20, 30))
    end = header_size(3) + 40 * 4
    with pytest.raises(FormatError, match=rf"^token block 3 ends at byte {end}, past the chunk's {end - 40} bytes$"):
        ds[3]


class _FirstByte:
    """A LitData-style serializer whose decoding of an empty leaf raises a plain IndexError."""

    def deserialize(self, data: bytes) -> str:
        return chr(data[0]) + data[1:].decode()


def test_a_corrupted_item_is_reported_naming_the_dataset_chunk_and_item(tmp_path):
    write_dataset(tmp_path / "ds", [f"s{i}" if i != 6 else "" for i in range(10)], chunk_size=4)
    url = str(tmp_path / "ds")
    ds = StreamingDataset(url, serializers={"str": _FirstByte()})
    assert ds[5] == "s5"
    with pytest.raises(ChunkFormatError) as caught:
        ds[6]  # item 2 of the second chunk: an empty leaf
    assert str(caught.value) == f"{url}: chunk chunk-0-1.bin, item 2 cannot be decoded: index out of range"
    assert isinstance(caught.value.__cause__, IndexError)
    path = tmp_path / "ds" / "chunk-0-0.bin"
    data = bytearray(path.read_bytes())
    data[header_size(4) : header_size(4) + 4] = (99).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(FormatError) as caught:
        StreamingDataset(url)[0]
    assert type(caught.value) is FormatError
    assert str(caught.value) == f"{url}: chunk chunk-0-0.bin, item 0: the item's leaf sizes add up to 103 bytes, but it has 6"


def test_whole_chunk_zstd_dataset(tmp_path):
    items = [{"text": f"sample {i} " * 20, "i": i} for i in range(60)]
    write_dataset(tmp_path / "z", items, chunk_size=16, compression="zstd", compression_level="chunk")
    ds = StreamingDataset(tmp_path / "z", shuffle=True)
    assert ds[:] == items
    assert sorted(x["i"] for x in ds) == list(range(60))


def test_missing_dataset_and_bad_index(tmp_path):
    with pytest.raises(FileNotFoundError, match="no index.json at"):
        StreamingDataset(tmp_path / "nothing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "index.json").write_text('{"chunks": [{"filename": "../../etc/passwd", "chunk_size": 1, "chunk_bytes": 1}], "config": {"data_format": ["int"]}}')
    with pytest.raises(ValueError, match="leaves the dataset"):
        StreamingDataset(tmp_path / "bad")


def test_dataset_pickles_for_spawned_workers(squares):
    ds = StreamingDataset(squares, shuffle=True)
    ds[0]
    clone = pickle.loads(pickle.dumps(ds))
    assert clone[:5] == ds[:5]


def test_spawn_start_method_workers(squares):
    loader = StreamingDataLoader(StreamingDataset(squares), batch_size=50, num_workers=2,
                                 multiprocessing_context="spawn")
    assert sorted(x for b in loader for x in b[0].tolist()) == list(range(200))
