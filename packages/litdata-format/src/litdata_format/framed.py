"""Reading LitData 0.2.76's framed compression layout (``LDFZ01``).

Layout, all little-endian::

    b"LDFZ01\\0\\0"                      magic
    <HHIII                              version, flags, N items, items per frame, frame count
    u32 offsets[N+1]                    item boundaries in the uncompressed item stream
    frame table, one <IIQII per frame   first item, item count, absolute compressed offset,
                                        compressed length, uncompressed length
    zstd frames

Reading item i decompresses only the frame that holds it (the last frame is kept, so a
sequential read decompresses each frame once).
"""

from __future__ import annotations

import mmap
import struct
import threading
from bisect import bisect_right

from .compression import decompress_frame
from .errors import ChunkFormatError

MAGIC = b"LDFZ01\x00\x00"
_HEADER = struct.Struct("<HHIII")
_FRAME = struct.Struct("<IIQII")


def is_framed(data: bytes | memoryview) -> bool:
    """Whether ``data`` starts with the framed-chunk magic bytes (LitData 0.2.76's zstd frames)."""
    return bytes(data[: len(MAGIC)]) == MAGIC


class FramedChunk:
    """Random access to the items of a framed chunk held in ``data`` (bytes or a memory map)."""

    def __init__(self, data: bytes | bytearray | memoryview | mmap.mmap, name: str) -> None:
        self.name = name
        self._data = memoryview(data)
        size = len(self._data)
        start = len(MAGIC)
        if size < start + _HEADER.size:
            raise ChunkFormatError(f"chunk {name} is truncated: {size} bytes, shorter than the framed header")
        self.version, self.flags, count, self.items_per_frame, frame_count = _HEADER.unpack_from(self._data, start)
        position = start + _HEADER.size
        table_end = position + 4 * (count + 1) + _FRAME.size * frame_count
        if table_end > size:
            raise ChunkFormatError(f"chunk {name} is truncated: its header and frame table need {table_end} bytes, it has {size}")
        self.offsets = struct.unpack_from(f"<{count + 1}I", self._data, position)
        position += 4 * (count + 1)
        self.frames = [_FRAME.unpack_from(self._data, position + i * _FRAME.size) for i in range(frame_count)]
        self._first_items = [frame[0] for frame in self.frames]
        self._check(count, size, table_end)
        self._count: int = count
        self._lock = threading.Lock()
        self._cached: tuple[int, bytes] | None = None

    def _check(self, count: int, size: int, table_end: int) -> None:
        if any(b < a for a, b in zip(self.offsets, self.offsets[1:])):
            raise ChunkFormatError(f"chunk {self.name} is corrupted: its item offsets are not increasing")
        covered = 0
        for first, items, offset, length, raw in self.frames:
            if first != covered or offset < table_end or offset + length > size:
                raise ChunkFormatError(f"chunk {self.name} is truncated or corrupted: a frame lies outside the file")
            if first + items > count or raw != self.offsets[first + items] - self.offsets[first]:
                raise ChunkFormatError(f"chunk {self.name} is corrupted: a frame's size disagrees with the item offsets")
            covered += items
        if covered != count:
            raise ChunkFormatError(f"chunk {self.name} is corrupted: its frames hold {covered} items, the header says {count}")

    def __len__(self) -> int:
        return self._count

    def item(self, index: int) -> memoryview:
        """A view of item ``index``'s bytes, decompressing the frame that holds it.

        The last decompressed frame is kept, so reading the items of a frame in order
        decompresses it once. Raises IndexError when ``index`` is out of range.
        """
        if not 0 <= index < self._count:
            raise IndexError(f"item {index} is out of range for chunk {self.name} of {self._count} items")
        frame_index = bisect_right(self._first_items, index) - 1
        with self._lock:
            cached = self._cached
            if cached is None or cached[0] != frame_index:
                first, _, offset, length, raw = self.frames[frame_index]
                frame = decompress_frame(self._data[offset : offset + length], raw, self.name)
                cached = self._cached = (frame_index, frame)
        first = self.frames[frame_index][0]
        base = self.offsets[first]
        return memoryview(cached[1])[self.offsets[index] - base : self.offsets[index + 1] - base]
