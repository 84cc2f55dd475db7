"""Per-chunk checksums: our extension to ``index.json``.

Each chunk entry may carry ``"checksum": "crc32:<8 hex digits>"``, computed over the
chunk file exactly as stored (after whole-chunk compression). Other readers ignore the
key. CRC-32 from zlib needs no extra dependency and runs at memory speed, which is
what a check on every download needs.
"""

from __future__ import annotations

import mmap
import zlib

from .errors import ChecksumMismatchError, IndexFormatError

ALGORITHM = "crc32"


def crc32_checksum(crc: int) -> str:
    """The ``index.json`` checksum string of a zlib CRC-32 value (e.g. one computed while
    a chunk downloaded)."""
    return f"{ALGORITHM}:{crc & 0xFFFFFFFF:08x}"


def compute_checksum(data: bytes | bytearray | memoryview | mmap.mmap) -> str:
    """Return the checksum string of ``data`` in the form stored in ``index.json``."""
    return crc32_checksum(zlib.crc32(data))


def file_checksum(path: str, block_size: int = 1 << 22) -> str:
    """Checksum a file without reading it into memory whole."""
    crc = 0
    with open(path, "rb") as f:
        while block := f.read(block_size):
            crc = zlib.crc32(block, crc)
    return crc32_checksum(crc)


def checksum_mismatch(data: bytes | bytearray | memoryview | mmap.mmap, expected: str) -> str | None:
    """``data``'s own checksum when it differs from ``expected`` (an ``index.json`` checksum
    string), None when they match.

    For checkers that report a mismatch among other problems instead of raising (the
    ``litdata verify`` command, through :func:`~litdata_format.check_chunk_file`); readers
    use :func:`verify_checksum`.

    Raises:
        IndexFormatError: ``expected`` names an algorithm this reader does not know.
    """
    algorithm, _, _ = expected.partition(":")
    if algorithm != ALGORITHM:
        raise IndexFormatError(f"unknown checksum algorithm {algorithm!r} (this reader knows {ALGORITHM!r})")
    actual = compute_checksum(data)
    return None if actual == expected else actual


def verify_checksum(data: bytes | bytearray | memoryview | mmap.mmap, expected: str, name: str) -> None:
    """Raise :class:`ChecksumMismatchError` naming the chunk when ``data`` does not match."""
    try:
        actual = checksum_mismatch(data, expected)
    except IndexFormatError as exc:
        raise IndexFormatError(f"{name}: {exc}") from None
    if actual is not None:
        raise ChecksumMismatchError(
            f"chunk {name} is corrupted: its checksum is {actual} but index.json records {expected}"
        )
