import struct

import pytest

from litdata_format import ChunkFormatError, ClassicChunk, encode_chunk, header_size, open_chunk_file


def test_classic_layout_bytes():
    data = encode_chunk([b"ab", b"", b"cde"])
    first = header_size(3)
    assert first == 20
    assert data == struct.pack("<5I", 3, first, first + 2, first + 2, first + 5) + b"abcde"


def test_items_from_bytes_and_from_a_memory_map(tmp_path):
    items = [bytes([i]) * i for i in range(50)]
    data = encode_chunk(items)
    path = tmp_path / "chunk-0-0.bin"
    path.write_bytes(data)
    for chunk in (ClassicChunk(data, "mem"), open_chunk_file(path)):
        assert len(chunk) == 50
        assert [bytes(chunk.item(i)) for i in range(50)] == items
    with pytest.raises(IndexError, match="out of range for chunk"):
        ClassicChunk(data, "mem").item(50)


def test_empty_chunk():
    assert len(ClassicChunk(encode_chunk([]), "empty")) == 0


@pytest.mark.parametrize("cut", [0, 2, 7, 15, 17, 23])
def test_truncated_chunk_names_the_chunk(cut):
    data = encode_chunk([b"abcd", b"efgh"])
    with pytest.raises(ChunkFormatError, match="chunk-3-1.bin"):
        ClassicChunk(data[:cut], "chunk-3-1.bin")


def test_corrupted_offsets_are_detected():
    data = bytearray(encode_chunk([b"abcd", b"efgh"]))
    data[8:12] = struct.pack("<I", 999)  # offsets[1] past the end
    with pytest.raises(ChunkFormatError, match="chunk-x"):
        ClassicChunk(bytes(data), "chunk-x")
    data = bytearray(encode_chunk([b"abcd", b"efgh", b"ijkl"]))
    data[8:12] = struct.pack("<I", 30)  # offsets[1] > offsets[2]
    with pytest.raises(ChunkFormatError, match="not increasing"):
        ClassicChunk(bytes(data), "chunk-x")
    data = bytearray(encode_chunk([b"abcd"]))
    data[0:4] = struct.pack("<I", 2**31)  # absurd count: no hang, no huge allocation
    with pytest.raises(ChunkFormatError, match="claims"):
        ClassicChunk(bytes(data), "chunk-x")
