"""Reading a whole dataset from a local folder: random access by global item index.

:class:`DatasetReader` is the plain, single-process reader: it loads ``index.json``,
opens chunks lazily (memory-mapped, or decompressed in memory for whole-chunk zstd),
verifies checksums on request, and decodes items. ``litdata-stream`` adds caching,
downloads, shuffling and workers on top of the same pieces.
"""

from __future__ import annotations

import os
from bisect import bisect_right
from collections.abc import Iterator
from itertools import accumulate
from typing import Any

from .checksum import verify_checksum
from .chunk import ClassicChunk, map_file, open_chunk_bytes
from .compression import decompress, is_compressed_filename, sample_compressed
from .encryption import Encryption, EncryptionLevel, decrypt_chunk, resolve_encryption
from .errors import ChunkFormatError, FormatError, ItemIndexError
from .framed import FramedChunk
from .index import Index
from .item import ItemDecoder
from .serializers import SerializerRegistry
from .tokens import blocks_in_chunk, token_block, token_dtype
from .writer import TOKENS_LOADER


class DatasetReader:
    """Random access to the items of a dataset stored in a local folder.

    For a token dataset pass ``block_size``: items are then the token blocks.

    Args:
        path: The dataset folder (the one holding ``index.json``).
        allow_pickle: Whether pickled leaves may be unpickled (this runs code from the dataset).
        verify: Check each chunk file against its recorded checksum when it is first opened.
        block_size: Tokens per item, required for a token dataset and ignored otherwise.
        registry: The serializers to decode with; the default registry when None.
        encryption: The key for an encrypted dataset.

    Raises:
        EncryptionError: The dataset is encrypted and ``encryption`` does not match it.
        ValueError: A token dataset was opened without ``block_size``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        allow_pickle: bool = False,
        verify: bool = False,
        block_size: int | None = None,
        registry: SerializerRegistry | None = None,
        encryption: Encryption | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.index = Index.load(self.path)
        self.verify = verify
        config = self.index.config
        declared = None if config is None else config.encryption
        tokens = config is not None and config.item_loader == TOKENS_LOADER
        encryption = resolve_encryption(declared, encryption, self.path, tokens=tokens)
        level = None if encryption is None else encryption.level
        self._chunk_encryption = encryption if level == EncryptionLevel.CHUNK else None
        self._chunks: dict[int, ClassicChunk | FramedChunk] = {}
        self.tokens = config is not None and config.item_loader == TOKENS_LOADER
        if self.tokens:
            if block_size is None:
                raise ValueError(f"{self.path} is a token dataset: pass block_size to read it in blocks")
            assert config is not None
            self.block_size = block_size
            self._dtype = token_dtype(config.data_format)
            counts = [blocks_in_chunk(max(int(d), 0), block_size) for d in self.index.chunk_dims()]
        else:
            self._decoder = None if config is None else ItemDecoder(
                config.data_format,
                config.data_spec,
                allow_pickle=allow_pickle,
                registry=registry,
                sample_encryption=encryption if level == EncryptionLevel.SAMPLE else None,
                per_sample=sample_compressed(config.extra),
            )
            counts = self.index.chunk_sizes().tolist()
        self._ends = list(accumulate(counts))

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    def locate(self, index: int) -> tuple[int, int]:
        """(chunk number, item within chunk) of a global index.

        Args:
            index: The item's number in the dataset; negative counts from the end.

        Raises:
            ItemIndexError: ``index`` is out of range.
        """
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise ItemIndexError(f"index {index} is out of range for a dataset of {len(self)} items")
        chunk = bisect_right(self._ends, index)
        start = self._ends[chunk - 1] if chunk else 0
        return chunk, index - start

    def chunk(self, number: int) -> ClassicChunk | FramedChunk:
        """Open chunk ``number`` (cached), checking its checksum when ``verify`` is set."""
        opened = self._chunks.get(number)
        if opened is None:
            info = self.index.chunks[number]
            path = os.path.join(self.path, info.filename)
            try:
                data: Any = map_file(path)
            except FileNotFoundError:
                raise ChunkFormatError(f"chunk {info.filename} listed in {self.path}/index.json is missing") from None
            if self.verify and info.checksum is not None:
                verify_checksum(data, info.checksum, info.filename)
            if is_compressed_filename(info.filename):
                data = decompress(data, info.filename)
            if self._chunk_encryption is not None:
                data = decrypt_chunk(self._chunk_encryption, data, info.filename)
            opened = self._chunks[number] = open_chunk_bytes(data, info.filename)
            if len(opened) != info.chunk_size:
                raise ChunkFormatError(
                    f"chunk {info.filename} holds {len(opened)} items but index.json says {info.chunk_size}"
                )
        return opened

    def __getitem__(self, index: int) -> Any:
        """Decode item ``index`` (negative counts from the end)."""
        number, within = self.locate(index)
        chunk = self.chunk(number)
        if self.tokens:
            if not isinstance(chunk, ClassicChunk):
                raise FormatError(f"chunk {chunk.name}: token datasets use the classic layout")
            return token_block(chunk.buffer, chunk.header_size, self._dtype, self.block_size, within).copy()
        assert self._decoder is not None
        return self._decoder.decode(chunk.item(within), chunk.name, within)

    def __iter__(self) -> Iterator[Any]:
        for i in range(len(self)):
            yield self[i]


def read_dataset(
    path: str | os.PathLike[str],
    *,
    allow_pickle: bool = False,
    verify: bool = False,
    block_size: int | None = None,
    encryption: Encryption | None = None,
) -> list[Any]:
    """All items of a local dataset in stored order (token blocks when ``block_size`` is given).

    Args:
        path: The dataset folder.
        allow_pickle: Whether pickled leaves may be unpickled.
        verify: Check every chunk file against its recorded checksum.
        block_size: Tokens per item, for a token dataset.
        encryption: The key for an encrypted dataset.

    Returns:
        The decoded items, all in memory: meant for small datasets and tests.
    """
    reader = DatasetReader(path, allow_pickle=allow_pickle, verify=verify, block_size=block_size, encryption=encryption)
    return list(reader)


__all__ = ["DatasetReader", "read_dataset"]
