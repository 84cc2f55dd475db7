"""Chunk files in the classic layout, over bytes or a memory map.

Layout (all little-endian uint32)::

    N                   number of items
    offsets[N+1]        absolute byte offsets; offsets[0] == 4 + 4 * (N + 1)
    item bytes          item i is bytes[offsets[i]:offsets[i+1]]

Reading item i touches only the header and item i's bytes, so a memory-mapped chunk
costs no more than the items actually read. The offsets are checked once when a chunk
is opened: a truncated or corrupted header raises :class:`ChunkFormatError` naming
the chunk instead of returning wrong bytes.
"""

from __future__ import annotations

import mmap
import os
import struct
import sys
from collections.abc import Sequence

import numpy as np

from .checksum import verify_checksum
from .errors import ChunkFormatError
from .framed import FramedChunk, is_framed

_U32 = struct.Struct("<I")
_NATIVE_LITTLE_ENDIAN = sys.byteorder == "little" and struct.calcsize("I") == 4
MAX_CHUNK_BYTES = (1 << 32) - 1


def header_size(num_items: int) -> int:
    """Bytes before the first item of a chunk of ``num_items`` items."""
    return 4 + 4 * (num_items + 1)


def chunk_header(items: Sequence[bytes | memoryview]) -> bytes:
    """The item count and offsets that precede ``items`` in a chunk file."""
    sizes = np.fromiter((len(item) for item in items), dtype=np.uint64, count=len(items))
    offsets = np.empty(len(items) + 1, dtype=np.uint64)
    offsets[0] = header_size(len(items))
    np.cumsum(sizes, out=offsets[1:])
    offsets[1:] += offsets[0]
    if offsets[-1] > MAX_CHUNK_BYTES:
        raise ValueError(f"a chunk must stay under 4 GiB; these {len(items)} items need {int(offsets[-1])} bytes")
    return _U32.pack(len(items)) + offsets.astype("<u4").tobytes()


def encode_chunk(items: Sequence[bytes | memoryview]) -> bytes:
    """Concatenate encoded items into one chunk file's bytes.

    Args:
        items: The encoded items, in the order they will be numbered.

    Returns:
        The header (count and offsets) followed by the items.

    Raises:
        ValueError: The chunk would reach 4 GiB, past what 32-bit offsets address.
    """
    return b"".join([chunk_header(items), *items])


class ClassicChunk:
    """Random access to the items of a classic-layout chunk held in ``data``."""

    def __init__(self, data: bytes | bytearray | memoryview | mmap.mmap, name: str) -> None:
        """Check the header of ``data`` and prepare to read its items.

        Args:
            data: The whole chunk file (bytes or a memory map); item views point into it.
            name: The chunk's name, used in error messages.

        Raises:
            ChunkFormatError: The header is truncated or its offsets are inconsistent.
        """
        self.name = name
        self._data = memoryview(data)
        size = len(self._data)
        if size < 4:
            raise ChunkFormatError(f"chunk {name} is truncated: {size} bytes, not even an item count")
        (count,) = _U32.unpack_from(self._data)
        first = header_size(count)
        if first > size:
            raise ChunkFormatError(f"chunk {name} is truncated or corrupted: it claims {count} items but has {size} bytes")
        offsets = np.frombuffer(self._data, dtype="<u4", count=count + 1, offset=4)
        if offsets[0] != first:
            raise ChunkFormatError(f"chunk {name} is corrupted: its first item offset is {offsets[0]}, expected {first}")
        if count and (np.any(offsets[1:] < offsets[:-1])):
            raise ChunkFormatError(f"chunk {name} is corrupted: its item offsets are not increasing")
        if offsets[-1] > size:
            raise ChunkFormatError(f"chunk {name} is truncated: its items need {offsets[-1]} bytes, the file has {size}")
        # Indexed from Python once per item read: a uint32 view of the header where the
        # machine is little-endian (no copy: 10,000 items would cost 360 KB of ints as a
        # list, for every open chunk of every worker), else a list.
        self._offsets: Sequence[int] = (
            self._data[4 : 4 + 4 * (count + 1)].cast("I") if _NATIVE_LITTLE_ENDIAN else offsets.tolist()
        )
        self._count: int = count
        self.header_size = first

    @property
    def buffer(self) -> memoryview:
        """The whole chunk (header included), for readers such as the token loader."""
        return self._data

    def __len__(self) -> int:
        return self._count

    def item(self, index: int) -> memoryview:
        """A zero-copy view of item ``index``'s bytes inside the chunk.

        The view is only valid while the chunk's buffer is open; decoders copy what they keep.

        Raises:
            IndexError: ``index`` is not in ``range(len(self))``.
        """
        if not 0 <= index < self._count:
            raise IndexError(f"item {index} is out of range for chunk {self.name} of {self._count} items")
        return self._data[self._offsets[index] : self._offsets[index + 1]]


def open_chunk_bytes(data: bytes | bytearray | memoryview | mmap.mmap, name: str) -> ClassicChunk | FramedChunk:
    """Open a chunk in memory, whatever its layout (classic, or LitData 0.2.76's framed zstd).

    The layout is decided by the magic bytes, never by the index: LitData 0.2.76 writes
    classic chunks for small items even when its index says the chunks are framed.

    Args:
        data: The chunk's bytes, already decompressed and decrypted at the chunk level.
        name: The chunk's name, for error messages.

    Returns:
        An object with ``len()`` and ``item(i)`` over the chunk's items.
    """
    if is_framed(memoryview(data)[:8]):
        return FramedChunk(data, name)
    return ClassicChunk(data, name)


def map_file(path: str | os.PathLike[str]) -> mmap.mmap | bytes:
    """Memory-map a file read-only (an empty file becomes empty bytes: mmap refuses those)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return b""
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


def open_chunk_file(
    path: str | os.PathLike[str], name: str | None = None, checksum: str | None = None
) -> ClassicChunk | FramedChunk:
    """Memory-map a decompressed chunk file and open it; verify ``checksum`` when given.

    Args:
        path: The chunk file (not a whole-chunk ``.zstd.bin`` file: decompress those first).
        name: The name used in error messages; the path by default.
        checksum: The index's ``checksum`` entry (``"crc32:..."``) to check the file against.

    Returns:
        The opened chunk (see :func:`open_chunk_bytes`).

    Raises:
        ChecksumMismatchError: The file does not match ``checksum``.
    """
    name = name or os.fspath(path)
    data = map_file(path)
    if checksum is not None:
        verify_checksum(data, checksum, name)
    return open_chunk_bytes(data, name)
