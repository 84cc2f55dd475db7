"""Checking a chunk file against its ``index.json`` entry, reporting every problem found.

A reader (:class:`~litdata_format.DatasetReader`, ``litdata-stream``) stops at a chunk's
first error. An audit such as ``litdata verify`` wants all of them, for every chunk, as
messages: :func:`check_chunk_file` gives them, so that the rules of each layout (what the
checksum covers, what ``chunk_bytes`` measures) live in the format package and nowhere
else.
"""

from __future__ import annotations

import os
from typing import Any

from .checksum import checksum_mismatch
from .chunk import map_file, open_chunk_bytes
from .compression import decompress, is_compressed_filename
from .errors import FormatError, IndexFormatError
from .framed import is_framed
from .index import ChunkInfo


def check_chunk_file(path: str | os.PathLike[str], info: ChunkInfo, *, chunk_encrypted: bool = False) -> list[str]:
    """The problems of one chunk file against its ``index.json`` entry; empty when it is good.

    Public for ``litdata verify`` (and any tool auditing a dataset): unlike a reader, it
    does not stop at the first problem, and it does not need the chunk to be readable to
    report on it.

    Checked, in this order:

    - the checksum, when the entry records one, over the file exactly as stored (after
      chunk-level encryption and whole-chunk compression: SPEC sections 7.1 and 8), so it
      needs no key;
    - the size after whole-chunk decompression against ``chunk_bytes`` (for a chunk-level
      encrypted dataset that is the ciphertext's size; framed chunks are not compared);
    - the item count against ``chunk_size``. This reads the chunk's header, which
      chunk-level encryption hides: with ``chunk_encrypted`` it is not checked.

    Args:
        path: The chunk file (a local file, or a downloaded copy of a remote one).
        info: Its entry in the index; ``info.filename`` tells whether it is compressed.
        chunk_encrypted: The dataset is encrypted at the ``"chunk"`` level (its
            ``config.encryption``): only the stored bytes are checked.

    Returns:
        One message per problem (``"checksum mismatch: file has crc32:..., index.json records
        crc32:..."``, ``"size is N bytes, index.json says M"``, ``"holds N items, index.json
        says M"``, a format error, or ``"cannot be read: ..."``).

    Raises:
        FileNotFoundError: ``path`` does not exist.
    """
    problems: list[str] = []
    try:
        data: Any = map_file(path)
        if info.checksum:
            try:
                actual = checksum_mismatch(data, info.checksum)
            except IndexFormatError as exc:
                problems.append(str(exc))
            else:
                if actual is not None:
                    problems.append(f"checksum mismatch: file has {actual}, index.json records {info.checksum}")
        compressed = is_compressed_filename(info.filename)
        if compressed:
            data = decompress(data, info.filename)
        size = len(data)
        # chunk_bytes is the size of the classic layout; a framed chunk has another size.
        # (An encrypted chunk is never framed: its bytes are ciphertext.)
        if (chunk_encrypted or not is_framed(memoryview(data)[:8])) and size != info.chunk_bytes:
            problems.append(f"{'decompressed size' if compressed else 'size'} is {size} bytes, "
                            f"index.json says {info.chunk_bytes}")
        if not chunk_encrypted:
            chunk = open_chunk_bytes(data, info.filename)
            if len(chunk) != info.chunk_size:
                problems.append(f"holds {len(chunk)} items, index.json says {info.chunk_size}")
    except FileNotFoundError:
        raise
    except FormatError as exc:
        problems.append(str(exc))
    except Exception as exc:  # zstd errors and the like: report, do not crash
        problems.append(f"cannot be read: {type(exc).__name__}: {exc}")
    return problems


__all__ = ["check_chunk_file"]
