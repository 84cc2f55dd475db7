import json
import os

import numpy as np
import pytest

from litdata_format import (
    ChecksumMismatchError,
    ChunkFormatError,
    ChunkWriter,
    DatasetReader,
    FormatError,
    Index,
    ItemDecoder,
    ItemEncoder,
    SerializationError,
    Serializer,
    SerializerRegistry,
    check_chunk_file,
    compute_checksum,
    file_checksum,
    header_size,
    is_chunk_filename,
    read_dataset,
    write_dataset,
)
from litdata_format.serializers import default_serializers


def test_seed_readme_items_round_trip(tmp_path):
    items = [(i, i**2) for i in range(200)]
    index = write_dataset(tmp_path / "ds", items, chunk_size=64)
    assert [c.chunk_size for c in index.chunks] == [64, 64, 64, 8]
    assert read_dataset(tmp_path / "ds") == items


def test_chunk_bytes_closes_chunks_before_they_overflow(tmp_path):
    items = [b"x" * 100 for _ in range(10)]
    index = write_dataset(tmp_path / "ds", items, chunk_bytes=350)
    # each item is 4 (size header) + 100 bytes: three fit in 350, the fourth would not
    assert [c.chunk_size for c in index.chunks] == [3, 3, 3, 1]
    for chunk in index.chunks:
        path = tmp_path / "ds" / chunk.filename
        assert chunk.chunk_bytes == path.stat().st_size
        assert chunk.checksum == file_checksum(str(path))


def test_an_item_larger_than_chunk_bytes_gets_its_own_chunk(tmp_path):
    index = write_dataset(tmp_path / "ds", [b"a", b"b" * 1000, b"c"], chunk_bytes="100B")
    assert [c.chunk_size for c in index.chunks] == [1, 1, 1]
    assert read_dataset(tmp_path / "ds") == [b"a", b"b" * 1000, b"c"]


def test_index_json_matches_litdata_shape(tmp_path):
    write_dataset(tmp_path / "ds", [{"index": i, "image": b"x", "class": 3} for i in range(3)], chunk_bytes="64MB")
    data = json.loads((tmp_path / "ds" / "index.json").read_text())
    assert sorted(data) == ["chunks", "config", "updated_at"]
    assert data["chunks"][0]["filename"] == "chunk-0-0.bin"
    assert data["config"]["data_format"] == ["int", "bytes", "int"]
    assert data["config"]["chunk_bytes"] == 64_000_000 and data["config"]["chunk_size"] is None
    assert data["config"]["item_loader"] == "PyTreeLoader"
    assert json.loads(data["config"]["data_spec"])[1]["context"] == '["index", "image", "class"]'


def test_whole_chunk_zstd(tmp_path):
    items = [{"text": "lorem ipsum " * 50, "i": i} for i in range(40)]
    index = write_dataset(tmp_path / "ds", items, chunk_size=16, compression="zstd", compression_level="chunk")
    assert [c.filename for c in index.chunks] == ["chunk-0-0.zstd.bin", "chunk-0-1.zstd.bin", "chunk-0-2.zstd.bin"]
    stored = sum(os.path.getsize(tmp_path / "ds" / c.filename) for c in index.chunks)
    assert stored * 5 < sum(c.chunk_bytes for c in index.chunks)
    assert read_dataset(tmp_path / "ds", verify=True) == items
    with pytest.raises(ValueError, match="unsupported compression 'gzip'"):
        write_dataset(tmp_path / "other", items, compression="gzip")


def test_token_datasets(tmp_path):
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 50_000, size=n, dtype=np.uint16) for n in (10, 3, 17, 8, 30, 5)]
    index = write_dataset(tmp_path / "ds", arrays, chunk_size=30, item_loader="TokensLoader")
    assert index.config.data_format == ["no_header_numpy:5"]
    assert [c.dim for c in index.chunks] == [30, 8, 30, 5]
    stream = np.concatenate(arrays)
    blocks = read_dataset(tmp_path / "ds", block_size=4)
    # blocks never cross a chunk: 30//4 + 8//4 + 30//4 + 5//4 blocks, leftovers dropped
    assert len(blocks) == 7 + 2 + 7 + 1
    expected, start = [], 0
    for dim in (30, 8, 30, 5):
        expected += [stream[start + 4 * k : start + 4 * k + 4] for k in range(dim // 4)]
        start += dim
    assert all(b.dtype == np.uint16 and np.array_equal(b, e) for b, e in zip(blocks, expected))
    with pytest.raises(ValueError, match="pass block_size"):
        read_dataset(tmp_path / "ds")
    with pytest.raises(SerializationError, match="1-D numpy arrays or tensors"):
        write_dataset(tmp_path / "bad", [np.zeros((2, 2))], item_loader="TokensLoader")


def test_writer_refuses_an_existing_dataset_and_bad_settings(tmp_path):
    write_dataset(tmp_path / "ds", [1])
    with pytest.raises(FileExistsError, match="already holds a dataset"):
        write_dataset(tmp_path / "ds", [2])
    with pytest.raises(ValueError, match="either chunk_bytes or chunk_size"):
        ChunkWriter(tmp_path / "x", chunk_bytes=1, chunk_size=1)
    with pytest.raises(ValueError, match="no items"):
        write_dataset(tmp_path / "empty", [])


def test_rank_and_start_index_name_the_chunks(tmp_path):
    writer = ChunkWriter(tmp_path, chunk_size=2, rank=3, start_chunk_index=5)
    for i in range(5):
        writer.add(i)
    index = writer.close()
    assert [c.filename for c in index.chunks] == ["chunk-3-5.bin", "chunk-3-6.bin", "chunk-3-7.bin"]


def test_random_access_and_negative_indices(tmp_path):
    write_dataset(tmp_path / "ds", list(range(100)), chunk_size=7)
    reader = DatasetReader(tmp_path / "ds")
    assert len(reader) == 100
    assert [reader[i] for i in (99, 0, 50, 13, -1)] == [99, 0, 50, 13, 99]
    with pytest.raises(IndexError):
        reader[100]


def test_flipped_bytes_are_caught_by_the_checksum(tmp_path):
    write_dataset(tmp_path / "ds", [f"item {i}" for i in range(20)], chunk_size=5)
    path = tmp_path / "ds" / "chunk-0-2.bin"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ChecksumMismatchError, match="chunk chunk-0-2.bin is corrupted"):
        read_dataset(tmp_path / "ds", verify=True)


def test_missing_and_mismatched_chunks(tmp_path):
    write_dataset(tmp_path / "ds", list(range(20)), chunk_size=5)
    os.remove(tmp_path / "ds" / "chunk-0-1.bin")
    with pytest.raises(ChunkFormatError, match="chunk-0-1.bin listed in .* is missing"):
        read_dataset(tmp_path / "ds")
    index = Index.load(tmp_path / "ds")
    index.chunks[0].chunk_size = 6
    index.dump(tmp_path / "ds")
    with pytest.raises(ChunkFormatError, match="holds 5 items but index.json says 6"):
        DatasetReader(tmp_path / "ds")[0]


def test_written_files_are_readable_by_others_as_open_would_make_them(tmp_path):
    umask = os.umask(0o022)
    try:
        write_dataset(tmp_path / "ds", [1, 2, 3], chunk_size=2)
    finally:
        os.umask(umask)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "ds").iterdir()}
    assert modes == {"chunk-0-0.bin": 0o644, "chunk-0-1.bin": 0o644, "index.json": 0o644}


class _Tag:
    def __init__(self, text: str) -> None:
        self.text = text


class _TagSerializer(Serializer):
    """Tags stored as UTF-8; decoding reads the first byte too, so an empty tag leaf raises
    a plain IndexError (as a third-party decoder might)."""

    name = "tag"

    def can_serialize(self, value):
        return isinstance(value, _Tag)

    def serialize(self, value):
        return value.text.encode(), self.name

    def decoder(self, data_format, *, allow_pickle=False):
        return lambda data: chr(data[0]) + bytes(data[1:]).decode()


def test_a_corrupted_item_is_reported_naming_its_chunk_and_number(tmp_path):
    registry = SerializerRegistry(default_serializers())
    registry.register(_TagSerializer(), before="pickle")
    write_dataset(tmp_path / "ds", [(_Tag(f"t{i}" if i != 7 else ""), i) for i in range(10)], chunk_size=5,
                  registry=registry)  # fmt: skip
    reader = DatasetReader(tmp_path / "ds", registry=registry)
    assert [reader[i] for i in (0, 6, 9)] == [("t0", 0), ("t6", 6), ("t9", 9)]
    with pytest.raises(ChunkFormatError) as caught:
        reader[7]  # item 2 of the second chunk: its tag leaf is empty
    assert str(caught.value) == "chunk chunk-0-1.bin, item 2 cannot be decoded: index out of bounds on dimension 1"
    assert isinstance(caught.value.__cause__, IndexError)
    # A FormatError keeps its type and gets the place in front of its message.
    path = tmp_path / "ds" / "chunk-0-0.bin"
    data = bytearray(path.read_bytes())
    first = header_size(5)
    data[first : first + 4] = (1000).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(FormatError) as caught:
        DatasetReader(tmp_path / "ds", registry=registry)[0]
    assert type(caught.value) is FormatError
    assert str(caught.value) == "chunk chunk-0-0.bin, item 0: the item's leaf sizes add up to 1016 bytes, but it has 18"


def test_item_decoder_names_the_place_only_when_given_one():
    encoder = ItemEncoder()
    data = encoder.encode(("text", 1))
    decoder = ItemDecoder(encoder.data_format, encoder.data_spec)
    assert decoder.decode(data) == decoder.decode(data, "chunk-0-0.bin", 3, "s3://b/ds") == ("text", 1)
    bad = bytearray(data)
    bad[8] = 0xFF  # the first byte of the str leaf: not UTF-8
    with pytest.raises(UnicodeDecodeError):
        decoder.decode(bytes(bad))  # raw bytes, no place: the decoding error as it is
    with pytest.raises(ChunkFormatError) as caught:
        decoder.decode(bytes(bad), "chunk-0-0.bin", 3, "s3://b/ds")
    assert str(caught.value) == (
        "s3://b/ds: chunk chunk-0-0.bin, item 3 cannot be decoded: "
        "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"
    )
    with pytest.raises(FormatError, match="^an item of 3 bytes is shorter than its 8-byte size header$"):
        decoder.decode(b"abc")
    with pytest.raises(FormatError, match="^chunk c.bin, item 0: an item of 3 bytes is shorter"):
        decoder.decode(b"abc", "c.bin", 0)


def test_a_token_block_past_the_end_of_its_chunk_is_a_format_error(tmp_path):
    arrays = [np.arange(i * 10, i * 10 + 10, dtype=np.int32) for i in range(3)]
    write_dataset(tmp_path / "ds", arrays, chunk_size=30, item_loader="TokensLoader")
    index = Index.load(tmp_path / "ds")
    index.chunks[0].dim = 40  # the index claims 10 tokens more than the chunk holds
    index.dump(tmp_path / "ds")
    reader = DatasetReader(tmp_path / "ds", block_size=10)
    assert len(reader) == 4
    assert reader[2].tolist() == list(range(20, 30))
    end = header_size(3) + 40 * 4
    with pytest.raises(FormatError, match=rf"^token block 3 ends at byte {end}, past the chunk's {end - 40} bytes$"):
        reader[3]


def test_check_chunk_file_reports_every_problem(tmp_path):
    write_dataset(tmp_path / "ds", list(range(20)), chunk_size=5)
    info = Index.load(tmp_path / "ds").chunks[1]
    path = tmp_path / "ds" / info.filename
    assert check_chunk_file(path, info) == []
    path.write_bytes(path.read_bytes() + b"extra")
    info.chunk_size = 6
    assert check_chunk_file(path, info) == [
        f"checksum mismatch: file has {compute_checksum(path.read_bytes())}, index.json records {info.checksum}",
        f"size is {info.chunk_bytes + 5} bytes, index.json says {info.chunk_bytes}",
        "holds 5 items, index.json says 6",
    ]
    # chunk-level encryption: the item count is inside the ciphertext, so it is not read
    assert check_chunk_file(path, info, chunk_encrypted=True) == check_chunk_file(path, info)[:2]
    info.checksum = "sha1:00"
    path.write_bytes(b"\x01")
    assert check_chunk_file(path, info) == [
        "unknown checksum algorithm 'sha1' (this reader knows 'crc32')",
        f"size is 1 bytes, index.json says {info.chunk_bytes}",
        f"chunk {info.filename} is truncated: 1 bytes, not even an item count",
    ]
    with pytest.raises(FileNotFoundError):
        check_chunk_file(tmp_path / "ds" / "gone.bin", info)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("chunk-0-0.bin", True),
        ("chunk-12-345.bin", True),
        ("chunk-0-1.zstd.bin", True),
        ("chunk-0-1.zstd:10.bin", True),
        ("sub/dir/chunk-3-4.bin", True),
        ("chunk-x.bin", False),
        ("chunk-0-0.bin.download", False),
        ("0.index.json", False),
        ("index.json", False),
    ],
)
def test_is_chunk_filename(name, expected):
    assert is_chunk_filename(name) is expected
