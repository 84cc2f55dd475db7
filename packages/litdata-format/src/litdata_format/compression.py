"""zstd codec: ``"zstd"`` (level 4, as LitData) and ``"zstd:N"``; whole-chunk file names.

A whole-chunk compressed chunk (``compression_level="chunk"``) is stored as
``chunk-R-I.zstd.bin``; readers decompress it back to the classic layout
(``chunk-R-I.bin``). Where the frames go for the other levels is described in
:mod:`litdata_format.compression_layout`; the framed layout is read by
:mod:`litdata_format.framed` and written by :mod:`litdata_format.framed_writer`.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import zstandard

from .errors import ChunkFormatError

DEFAULT_ZSTD_LEVEL = 4

_local = threading.local()


def parse_compression(compression: str | None) -> tuple[str, int] | None:
    """``None`` or ``(algorithm, level)`` for a ``compression`` setting; refuses unknown ones."""
    if compression is None:
        return None
    algorithm, _, level = compression.partition(":")
    if algorithm != "zstd":
        raise ValueError(f"unsupported compression {compression!r}: use None, 'zstd' or 'zstd:N' (N from 1 to 22)")
    if not level:
        return algorithm, DEFAULT_ZSTD_LEVEL
    if not level.lstrip("-").isdigit() or not -7 <= int(level) <= 22:
        raise ValueError(f"unsupported compression {compression!r}: the zstd level must be an int from -7 to 22")
    return algorithm, int(level)


_COMPRESSED_NAME = re.compile(r"\.zstd(?::-?\d+)?(?=\.[^.]*$)")


def compressed_filename(filename: str, compression: str | None) -> str:
    """``chunk-0-0.bin`` -> ``chunk-0-0.zstd.bin`` (``chunk-0-0.zstd:10.bin`` for ``zstd:10``), as LitData names them."""
    if parse_compression(compression) is None:
        return filename
    stem, dot, ext = filename.rpartition(".")
    return f"{stem}.{compression}.{ext}" if dot else f"{filename}.{compression}"


def decompressed_filename(filename: str) -> str:
    """``chunk-0-0.zstd.bin`` or ``chunk-0-0.zstd:10.bin`` -> ``chunk-0-0.bin``; other names unchanged."""
    return _COMPRESSED_NAME.sub("", filename, count=1)


def is_compressed_filename(filename: str) -> bool:
    """Whether ``filename`` is a whole-chunk compressed name such as ``chunk-0-0.zstd.bin``."""
    return _COMPRESSED_NAME.search(filename) is not None


def compressor(compression: str) -> zstandard.ZstdCompressor:
    """This thread's compressor for ``compression`` (``"zstd"`` or ``"zstd:N"``).

    One per thread and level, reused: the per-sample layout compresses every item on its
    own, and building a compressor per item would cost more than compressing a short one.
    Its frames carry the content size and no checksum, byte for byte what LitData's
    ``zstd`` package writes at the same level with the same libzstd.
    """
    cache = getattr(_local, "compressors", None)
    if cache is None:
        cache = _local.compressors = {}
    found = cache.get(compression)
    if found is None:
        parsed = parse_compression(compression)
        if parsed is None:
            raise ValueError("compression is None: nothing to compress with")
        found = cache[compression] = zstandard.ZstdCompressor(level=parsed[1])
    return found


def compress(data: bytes | memoryview, compression: str) -> bytes:
    """One zstd frame holding ``data``."""
    return compressor(compression).compress(data)


def _decompressor() -> zstandard.ZstdDecompressor:
    # ZstdDecompressor objects are not thread-safe: one per thread.
    decompressor = getattr(_local, "decompressor", None)
    if decompressor is None:
        decompressor = _local.decompressor = zstandard.ZstdDecompressor()
    return decompressor


def decompress(data: bytes | memoryview, name: str, max_size: int | None = None) -> bytes:
    """Decompress a whole-chunk zstd file; errors name the chunk."""
    try:
        reader = _decompressor().stream_reader(data)
        out = reader.read() if max_size is None else reader.read(max_size + 1)
    except zstandard.ZstdError as exc:
        raise ChunkFormatError(f"chunk {name} is not valid zstd data ({exc})") from None
    if max_size is not None and len(out) > max_size:
        raise ChunkFormatError(f"chunk {name} decompresses to more than the expected {max_size} bytes")
    return out


def decompress_frame(data: bytes | memoryview, size: int, name: str) -> bytes:
    """Decompress one zstd frame of known size; errors name the chunk."""
    try:
        out = _decompressor().decompress(data, max_output_size=size)
    except zstandard.ZstdError as exc:
        raise ChunkFormatError(f"chunk {name}: a zstd frame is corrupted ({exc})") from None
    if len(out) != size:
        raise ChunkFormatError(f"chunk {name}: a zstd frame holds {len(out)} bytes, the frame table says {size}")
    return out


ZSTD_FRAME_MAGIC = b"\x28\xb5\x2f\xfd"


def sample_compressed(config_extra: dict[str, Any]) -> bool:
    """True for LitData 0.2.76's per-sample layout (``compression_level: "sample"``)."""
    return config_extra.get("compression_level") == "sample"


def decompress_item(data: bytes | memoryview, name: str) -> bytes | memoryview:
    """Undo per-sample compression: an item that starts with the zstd magic is one frame.

    Items without the magic are returned as they are: LitData 0.2.76 skips compression
    for small items while its index still declares it.
    """
    if bytes(data[:4]) != ZSTD_FRAME_MAGIC:
        return data
    try:
        return memoryview(_decompressor().stream_reader(data).read())
    except zstandard.ZstdError as exc:
        raise ChunkFormatError(f"chunk {name}: a compressed item is corrupted ({exc})") from None
