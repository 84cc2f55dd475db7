"""Writing the two in-file zstd layouts: framed (``LDFZ01``, "batch") and per-sample.

Both take a chunk's encoded items (each with its own leaf-size header, exactly the bytes
a classic chunk stores between two offsets) and return the file as a list of pieces, so
the writer can stream them to disk without joining the chunk into one buffer. The byte
layouts are those LitData 0.2.76 reads (see :mod:`litdata_format.framed` for the framed
one); with the same zstd level and libzstd the files are byte-identical to LitData's.

Framed: frame f holds items ``[f*K, min(n, (f+1)*K))``; the offsets table indexes the
uncompressed item stream starting at 0 (relative), while each frame's
``compressed_off`` is an absolute file offset.

Per-sample: the classic header (item count, absolute u32 offsets) over the compressed
items, each item one zstd frame.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from itertools import accumulate

from .chunk import MAX_CHUNK_BYTES, header_size
from .compression import compressor
from .errors import SerializationError
from .framed import _FRAME, _HEADER, MAGIC

FRAMED_VERSION = 1


def framed_pieces(items: Sequence[bytes | memoryview], batch_size: int, compression: str) -> list[bytes]:
    """The pieces of an ``LDFZ01`` chunk holding ``items``, ``batch_size`` items per zstd frame."""
    count = len(items)
    if count == 0:
        raise ValueError("a framed chunk needs at least one item")
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    offsets = [0, *accumulate(len(item) for item in items)]
    if offsets[-1] > MAX_CHUNK_BYTES:
        raise SerializationError(f"a chunk must stay under 4 GiB; these {count} items need {offsets[-1]} bytes")
    frame_count = (count + batch_size - 1) // batch_size
    position = len(MAGIC) + _HEADER.size + 4 * (count + 1) + _FRAME.size * frame_count
    zstd = compressor(compression)
    table: list[bytes] = []
    frames: list[bytes] = []
    for start in range(0, count, batch_size):
        end = min(count, start + batch_size)
        raw = b"".join(items[start:end])
        frame = zstd.compress(raw)
        table.append(_FRAME.pack(start, end - start, position, len(frame), len(raw)))
        frames.append(frame)
        position += len(frame)
    head = b"".join(
        [
            MAGIC,
            _HEADER.pack(FRAMED_VERSION, 0, count, batch_size, frame_count),
            struct.pack(f"<{count + 1}I", *offsets),
            *table,
        ]
    )
    return [head, *frames]


def sample_pieces(items: Sequence[bytes | memoryview], compression: str) -> list[bytes]:
    """The pieces of a classic chunk whose every item is compressed as its own zstd frame."""
    count = len(items)
    if count == 0:
        raise ValueError("a chunk needs at least one item")
    zstd = compressor(compression)
    frames = [zstd.compress(item) for item in items]
    offsets = list(accumulate((len(frame) for frame in frames), initial=header_size(count)))
    if offsets[-1] > MAX_CHUNK_BYTES:
        # zstd can grow incompressible data by a few bytes per frame.
        raise SerializationError(
            f"a chunk must stay under 4 GiB; these {count} compressed items need {offsets[-1]} bytes"
        )
    return [struct.pack(f"<{count + 2}I", count, *offsets), *frames]
