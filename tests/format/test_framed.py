"""LitData 0.2.76's framed zstd layout (LDFZ01), built here byte by byte from the spec."""

import struct

import pytest
import zstandard

from litdata_format import ChunkFormatError, FramedChunk, open_chunk_bytes


def build_framed(items, per_frame):
    count = len(items)
    offsets = [0]
    for item in items:
        offsets.append(offsets[-1] + len(item))
    frames = []
    for first in range(0, count, per_frame):
        block = b"".join(items[first : first + per_frame])
        frames.append((first, len(items[first : first + per_frame]), zstandard.ZstdCompressor().compress(block), len(block)))
    header = b"LDFZ01\x00\x00" + struct.pack("<HHIII", 1, 0, count, per_frame, len(frames))
    header += struct.pack(f"<{count + 1}I", *offsets)
    position = len(header) + 24 * len(frames)
    table, payload = b"", b""
    for first, n, compressed, raw in frames:
        table += struct.pack("<IIQII", first, n, position, len(compressed), raw)
        position += len(compressed)
        payload += compressed
    return header + table + payload


ITEMS = [bytes([i % 251]) * (i * 7 % 300) for i in range(23)]


def test_reads_every_item_in_any_order():
    chunk = open_chunk_bytes(build_framed(ITEMS, per_frame=5), "chunk-0-0.bin")
    assert isinstance(chunk, FramedChunk) and len(chunk) == 23
    for i in [22, 0, 7, 6, 5, 13, 1]:
        assert bytes(chunk.item(i)) == ITEMS[i]
    assert [bytes(chunk.item(i)) for i in range(23)] == ITEMS


@pytest.mark.parametrize("cut", [5, 20, 60, 150, -3])
def test_truncated_framed_chunk_raises(cut):
    data = build_framed(ITEMS, per_frame=5)
    with pytest.raises(ChunkFormatError, match="chunk-9-9.bin"):
        chunk = FramedChunk(data[:cut], "chunk-9-9.bin")
        for i in range(len(chunk)):
            chunk.item(i)


def test_corrupted_frame_header_raises():
    # Flipped bytes inside a frame's payload are caught by the chunk checksum; a broken
    # zstd frame header is caught by the decompressor itself.
    data = bytearray(build_framed(ITEMS, per_frame=5))
    first_frame = struct.unpack_from("<IIQII", data, 8 + 16 + 4 * 24)[2]
    data[first_frame : first_frame + 4] = b"\x00\x00\x00\x00"
    chunk = FramedChunk(bytes(data), "chunk-1-2.bin")
    with pytest.raises(ChunkFormatError, match="chunk-1-2.bin"):
        for i in range(len(chunk)):
            chunk.item(i)
