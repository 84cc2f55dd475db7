"""Writing chunks and an index to a local folder.

:class:`ChunkWriter` is the single-process building block: it encodes items, closes a
chunk when the next item would push it past ``chunk_bytes`` (or ``chunk_size`` items,
tokens for the token layout), and writes each chunk file atomically, so a file with a
final chunk name is always complete. ``litdata-writer``'s ``optimize()`` runs one per
worker process; :func:`write_dataset` is the one-call version for small jobs and tests.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .atomic import write_file_atomic
from .checksum import crc32_checksum
from .chunk import MAX_CHUNK_BYTES, chunk_header, header_size
from .compression import compress, compressed_filename, decompressed_filename
from .compression_layout import BATCH, SAMPLE, resolve_compression_layout
from .dtypes import NUMPY_DTYPE_INDEX
from .encryption import Encryption, EncryptionLevel, check_for_writing
from .errors import DatasetExistsError, SerializationError
from .framed_writer import framed_pieces, sample_pieces
from .index import ChunkInfo, Index, IndexConfig
from .item import ItemEncoder
from .serializers import NoHeaderTensorSerializer, SerializerRegistry
from .units import parse_size

PYTREE_LOADER = "PyTreeLoader"
TOKENS_LOADER = "TokensLoader"
DEFAULT_CHUNK_BYTES = 64_000_000


def chunk_filename(rank: int, index: int) -> str:
    """The file name of chunk ``index`` written by worker ``rank`` (``chunk-0-3.bin``)."""
    return f"chunk-{rank}-{index}.bin"


_CHUNK_NAME = re.compile(r"chunk-\d+-\d+\.bin")


def is_chunk_filename(name: str) -> bool:
    """Whether a file name (its last path component) is a chunk name as writers give them:
    ``chunk-{rank}-{i}.bin``, or a whole-chunk compressed one (``chunk-0-3.zstd.bin``).

    For tools that look for chunk files an index does not list (``litdata verify``); a
    reader goes by the names in ``index.json``, whatever they are.
    """
    return _CHUNK_NAME.fullmatch(decompressed_filename(name.rsplit("/", 1)[-1])) is not None


class _TokenEncoder:
    """Encodes 1-D token arrays as raw bytes (the ``TokensLoader`` layout)."""

    def __init__(self) -> None:
        self.data_format: list[str] | None = None
        self.data_spec: str | None = None

    def encode(self, item: Any) -> tuple[bytes, int]:
        if isinstance(item, np.ndarray) and item.ndim == 1 and item.dtype in NUMPY_DTYPE_INDEX:
            name, payload = f"no_header_numpy:{NUMPY_DTYPE_INDEX[item.dtype]}", item.tobytes()
        elif NoHeaderTensorSerializer().can_serialize(item):
            payload, name = NoHeaderTensorSerializer().serialize(item)
        else:
            raise SerializationError(
                f"a TokensLoader dataset stores 1-D numpy arrays or tensors of tokens, got {type(item).__name__}"
                + (f" of shape {item.shape}" if hasattr(item, "shape") else "")
            )
        if self.data_format is None:
            self.data_format = [name]
        elif self.data_format != [name]:
            raise SerializationError(f"token arrays must all have one dtype: the first was {self.data_format[0]!r}, got {name!r}")
        return payload, len(item)


class ChunkWriter:
    """Encodes items into chunk files ``chunk-{rank}-{i}.bin`` in ``output_dir``.

    Exactly one of ``chunk_bytes`` (a size, e.g. ``"64MB"``) and ``chunk_size`` (items,
    or tokens for ``item_loader="TokensLoader"``) sets when a chunk closes; with neither,
    chunks close at 64 MB. An item bigger than ``chunk_bytes`` gets a chunk of its own.
    ``on_chunk`` is called with each closed chunk's path and :class:`ChunkInfo`.

    ``compression`` / ``compression_level`` / ``compression_batch_size`` mean what they
    mean for LitData (see :mod:`litdata_format.compression_layout`): ``"zstd"`` alone
    writes framed ``.bin`` chunks of 256 items per frame; ``compression_level="chunk"``
    writes whole-chunk ``.zstd.bin`` files. Chunks close on the uncompressed size.

    Args:
        output_dir: The folder for the chunk files (created if missing).
        chunk_bytes: Target chunk size in bytes, an int or a string such as ``"64MB"``.
        chunk_size: Target chunk size in items (tokens for a token dataset).
        compression: None, ``"zstd"`` or ``"zstd:N"`` for level N.
        compression_level: ``"chunk"``, ``"batch"`` or ``"sample"``: what one zstd frame holds.
        compression_batch_size: Items per frame for ``"batch"``.
        item_loader: ``"PyTreeLoader"`` for general items, ``"TokensLoader"`` for 1-D token arrays.
        rank: The worker number that goes into the chunk names.
        start_chunk_index: The number of this rank's first chunk (to continue an earlier run).
        checksum: Record a CRC-32 of each chunk file in its index entry.
        registry: The serializers to encode leaves with; the default registry when None.
        on_chunk: Called as ``on_chunk(path, info)`` after each chunk file is written.
        encryption: Encrypt items or chunks with this (see :class:`Encryption`).

    Raises:
        ValueError: Both ``chunk_bytes`` and ``chunk_size`` given, an unknown loader, or an
            encryption and compression layout that do not go together.
    """

    def __init__(
        self,
        output_dir: str | os.PathLike[str],
        *,
        chunk_bytes: int | str | None = None,
        chunk_size: int | None = None,
        compression: str | None = None,
        compression_level: str | None = None,
        compression_batch_size: int | None = None,
        item_loader: str = PYTREE_LOADER,
        rank: int = 0,
        start_chunk_index: int = 0,
        checksum: bool = True,
        registry: SerializerRegistry | None = None,
        on_chunk: Callable[[str, ChunkInfo], None] | None = None,
        encryption: Encryption | None = None,
    ) -> None:
        if chunk_bytes is not None and chunk_size is not None:
            raise ValueError("pass either chunk_bytes or chunk_size, not both")
        if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0):
            raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
        if chunk_bytes is None and chunk_size is None:
            chunk_bytes = DEFAULT_CHUNK_BYTES
        if item_loader not in (PYTREE_LOADER, TOKENS_LOADER):
            raise ValueError(f"unknown item_loader {item_loader!r}: use {PYTREE_LOADER!r} or {TOKENS_LOADER!r}")
        self.layout = resolve_compression_layout(
            compression, compression_level, compression_batch_size, item_loader=item_loader
        )
        self.encryption = check_for_writing(encryption, item_loader == TOKENS_LOADER)
        if self.encryption is not None and self.layout.level in (BATCH, SAMPLE):
            raise ValueError(
                f"compression_level={self.layout.level!r} does not support encryption (as in LitData): "
                "use compression_level='chunk' or no compression"
            )
        level = None if self.encryption is None else self.encryption.level
        self._sample_encryption = self.encryption if level == EncryptionLevel.SAMPLE else None
        self._chunk_encryption = self.encryption if level == EncryptionLevel.CHUNK else None
        self.output_dir = os.fspath(output_dir)
        os.makedirs(self.output_dir, exist_ok=True)
        self.chunk_bytes = None if chunk_bytes is None else parse_size(chunk_bytes)
        self.chunk_size = chunk_size
        self.compression = compression
        self.item_loader = item_loader
        self.rank = rank
        self.checksum = checksum
        self.on_chunk = on_chunk
        self.chunks: list[ChunkInfo] = []
        self._next_index = start_chunk_index
        self._tokens = item_loader == TOKENS_LOADER
        self._encoder: ItemEncoder | _TokenEncoder = _TokenEncoder() if self._tokens else ItemEncoder(registry)
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._pending_units = 0
        self._pending_dim = 0

    @property
    def next_chunk_index(self) -> int:
        """The number the next chunk file of this rank will get."""
        return self._next_index

    @property
    def num_items(self) -> int:
        """Items added so far, including those not yet written to a chunk."""
        return sum(c.chunk_size for c in self.chunks) + len(self._pending)

    def add(self, item: Any) -> None:
        """Encode ``item``; close the current chunk first if the item would not fit in it.

        Args:
            item: A pytree of leaves, or a 1-D token array for a token dataset.

        Raises:
            SerializationError: The item cannot be encoded, or does not match the first item.
        """
        encoder = self._encoder
        if isinstance(encoder, _TokenEncoder):
            payload, dim = encoder.encode(item)
            units = dim
        else:
            payload, dim = encoder.encode(item), 0
            units = 1
            if self._sample_encryption is not None:  # chunk_bytes then counts the encrypted size
                payload = self._sample_encryption.encrypt(payload)
        if self._pending and self._would_overflow(len(payload), units):
            self.flush()
        if header_size(len(self._pending) + 1) + self._pending_bytes + len(payload) > MAX_CHUNK_BYTES:
            if not self._pending:
                raise SerializationError(f"an item of {len(payload)} bytes does not fit in a chunk (under 4 GiB)")
            self.flush()
        self._pending.append(payload)
        self._pending_bytes += len(payload)
        self._pending_units += units
        self._pending_dim += dim

    def _would_overflow(self, size: int, units: int) -> bool:
        if self.chunk_bytes is not None:
            return self._pending_bytes + size > self.chunk_bytes
        assert self.chunk_size is not None
        return self._pending_units + units > self.chunk_size

    def flush(self) -> ChunkInfo | None:
        """Write the pending items as one chunk file (nothing when no item is pending).

        Returns:
            The new chunk's index entry, or None when nothing was pending.
        """
        if not self._pending:
            return None
        pieces = [chunk_header(self._pending), *self._pending]
        size = len(pieces[0]) + self._pending_bytes
        filename = chunk_filename(self.rank, self._next_index)
        if self._chunk_encryption is not None:  # before whole-chunk compression, as LitData
            pieces = [self._chunk_encryption.encrypt(b"".join(pieces))]
            size = len(pieces[0])  # LitData's chunk_bytes: the encrypted size
        layout = self.layout
        if layout.level == BATCH:
            assert layout.compression is not None and layout.batch_size is not None
            pieces = framed_pieces(self._pending, layout.batch_size, layout.compression)
            size = sum(len(piece) for piece in pieces)  # LitData: the file size of in-file layouts
        elif layout.level == SAMPLE:
            assert layout.compression is not None
            pieces = sample_pieces(self._pending, layout.compression)
            size = sum(len(piece) for piece in pieces)
        elif layout.compression is not None:  # whole chunk; chunk_bytes stays the uncompressed size
            filename = compressed_filename(filename, layout.compression)
            pieces = [compress(b"".join(pieces), layout.compression)]
        path = os.path.join(self.output_dir, filename)
        crc = write_file_atomic(path, pieces)  # the pieces go to disk without one big join
        info = ChunkInfo(
            filename=filename,
            chunk_size=len(self._pending),
            chunk_bytes=size,
            dim=self._pending_dim if self._tokens else None,
            checksum=crc32_checksum(crc) if self.checksum else None,
        )
        self.chunks.append(info)
        self._next_index += 1
        self._pending, self._pending_bytes, self._pending_units, self._pending_dim = [], 0, 0, 0
        if self.on_chunk is not None:
            self.on_chunk(path, info)
        return info

    def config(self) -> IndexConfig | None:
        """The index config, or None before the first item (the leaf formats are not known yet)."""
        if self._encoder.data_format is None:
            return None
        return IndexConfig(
            data_format=list(self._encoder.data_format),
            data_spec=self._encoder.data_spec,
            chunk_bytes=self.chunk_bytes,
            chunk_size=self.chunk_size,
            compression=self.compression,
            encryption=None if self.encryption is None else self.encryption.state_dict(),
            item_loader=self.item_loader,
            extra=self.layout.index_keys(),
        )

    def close(self) -> Index:
        """Flush and return this writer's (partial) index; the caller decides where it goes."""
        self.flush()
        return Index(chunks=list(self.chunks), config=self.config())


def write_dataset(
    output_dir: str | os.PathLike[str],
    items: Iterable[Any],
    *,
    chunk_bytes: int | str | None = None,
    chunk_size: int | None = None,
    compression: str | None = None,
    compression_level: str | None = None,
    compression_batch_size: int | None = None,
    item_loader: str = PYTREE_LOADER,
    checksum: bool = True,
    registry: SerializerRegistry | None = None,
    encryption: Encryption | None = None,
) -> Index:
    """Write ``items`` as a complete dataset (chunks, then ``index.json`` last) in one process.

    The keyword arguments are those of :class:`ChunkWriter`.

    Args:
        output_dir: A folder without a dataset in it (created if missing).
        items: The items to store, in order.
        chunk_bytes: Target chunk size in bytes (an int or a string such as ``"64MB"``).
        chunk_size: Target chunk size in items (tokens for a token dataset).
        compression: None, ``"zstd"`` or ``"zstd:N"``.
        compression_level: ``"chunk"``, ``"batch"`` or ``"sample"``.
        compression_batch_size: Items per frame for ``"batch"``.
        item_loader: ``"PyTreeLoader"`` or ``"TokensLoader"``.
        checksum: Record a CRC-32 of each chunk file.
        registry: The serializers to use; the default registry when None.
        encryption: Encrypt items or chunks with this.

    Returns:
        The index that was written.

    Raises:
        DatasetExistsError: ``output_dir`` already holds an ``index.json``.
        ValueError: ``items`` was empty, or the options are invalid.
    """
    output_dir = os.fspath(output_dir)
    if os.path.exists(os.path.join(output_dir, "index.json")):
        raise DatasetExistsError(f"{output_dir} already holds a dataset (index.json); choose an empty folder")
    writer = ChunkWriter(
        output_dir,
        chunk_bytes=chunk_bytes,
        chunk_size=chunk_size,
        compression=compression,
        compression_level=compression_level,
        compression_batch_size=compression_batch_size,
        item_loader=item_loader,
        checksum=checksum,
        registry=registry,
        encryption=encryption,
    )
    for item in items:
        writer.add(item)
    index = writer.close()
    if index.config is None:
        raise ValueError("no items to write: a dataset needs at least one item")
    index.dump(output_dir)
    return index
