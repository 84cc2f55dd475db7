"""A dataset's location: its store, its index, and how its chunks become local files.

``DatasetSource`` opens the store for ``input_dir`` (any URL litdata-storage knows),
reads ``index.json`` and decides where chunk files live locally: a plain local folder of
uncompressed chunks is read in place; everything else (cloud objects, ``local:`` network
drives, compressed chunks) goes through the node's :class:`ChunkCache`. Downloads are
checked against the index's checksums: a corrupted chunk is fetched once more, then
reported.
"""

from __future__ import annotations

import os
from typing import Any

from litdata_format import (
    CHECKSUM_ALGORITHM,
    INDEX_FILENAME,
    TOKENS_LOADER,
    ChecksumMismatchError,
    ChunkFormatError,
    Encryption,
    EncryptionLevel,
    Index,
    crc32_checksum,
    decompress,
    decompressed_filename,
    file_checksum,
    is_compressed_filename,
    resolve_encryption,
    write_file_atomic,
)
from litdata_storage import NotFoundError, Store, open_store

from .cache import ChunkCache, dataset_cache_dir, default_cache_root
from .index_location import read_index_at
from .profiler import TRACER
from .sources.base import in_place_file, reads_in_place


def _normalize_url(input_dir: str | os.PathLike[str]) -> str:
    url = os.fspath(input_dir)
    if "://" not in url and not url.startswith("local:"):
        url = os.path.abspath(os.path.expanduser(url))
    return url.rstrip("/") or "/"


def _matches(checksum: str, crc: int, path: str) -> bool:
    """Whether a downloaded chunk matches its ``index.json`` checksum (the CRC-32 the
    store computed while the bytes arrived; another algorithm reads the file again)."""
    if checksum.startswith(f"{CHECKSUM_ALGORITHM}:"):
        return checksum == crc32_checksum(crc)
    return file_checksum(path) == checksum


class DatasetSource:
    """Index and chunk files of one dataset, wherever it is stored."""

    def __init__(
        self,
        input_dir: str | os.PathLike[str],
        *,
        cache_dir: str | None = None,
        max_cache_bytes: int | None = None,
        storage_options: dict[str, Any] | None = None,
        encryption: Encryption | None = None,
        index_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.url = _normalize_url(input_dir)
        self.storage_options = dict(storage_options or {})
        self.store: Store = open_store(self.url, **self.storage_options)
        if index_path is not None:  # an index kept apart from the chunks
            text, index_source = read_index_at(index_path, self.storage_options)
        else:
            index_source = self.store.url(INDEX_FILENAME)
            try:
                text = self.store.get(INDEX_FILENAME)
            except NotFoundError:
                raise FileNotFoundError(
                    f"no {INDEX_FILENAME} at {index_source}: is {self.url} an optimized dataset?"
                ) from None
        self.index = Index.from_json(text, source=index_source)
        if self.index.config is None:
            raise ValueError(f"{index_source} lists no chunks: the dataset is empty")
        root = os.path.expanduser(cache_dir) if cache_dir else default_cache_root()
        self.cache = ChunkCache(dataset_cache_dir(root, self.url, self.index.updated_at), max_cache_bytes)
        self._in_place = reads_in_place(self.store)
        # Checked against the index here, so that a missing or mismatched key fails before
        # any download. Chunk-level ciphertext stays on disk (and in the cache) as it is:
        # OpenChunks decrypts it in memory.
        config = self.index.config
        encryption = resolve_encryption(
            config.encryption, encryption, self.url, tokens=config.item_loader == TOKENS_LOADER
        )
        level = None if encryption is None else encryption.level
        self.sample_encryption = encryption if level == EncryptionLevel.SAMPLE else None
        self.chunk_encryption = encryption if level == EncryptionLevel.CHUNK else None

    def local_name(self, number: int) -> str:
        """The local file name of chunk ``number`` (without any compression suffix)."""
        return decompressed_filename(self.index.chunk_filename(number))

    def reads_in_place(self, number: int) -> bool:
        """Whether chunk ``number`` is read where it is stored, without a copy in the cache.

        True for an uncompressed chunk of a dataset in a plain local folder.
        """
        return self._in_place and not is_compressed_filename(self.index.chunk_filename(number))

    def local_path(self, number: int) -> str:
        """The local file chunk ``number`` is read from: the stored file itself, or its cache copy."""
        if self.reads_in_place(number):
            return in_place_file(self.store, self.index.chunk_filename(number))
        return self.cache.path(self.local_name(number))

    def ensure_local(self, number: int, *, wait: bool = True) -> bool:
        """Download (and decompress) chunk ``number`` into the cache if it is not there."""
        if self.reads_in_place(number):
            return True
        info = self.index.chunks[number]
        # A compressed chunk briefly needs its compressed and its decompressed copy.
        room = info.chunk_bytes * (2 if is_compressed_filename(info.filename) else 1)
        return self.cache.ensure(self.local_name(number), room, lambda path: self._fetch(number, path), wait=wait)

    def _fetch(self, number: int, final: str) -> None:
        info = self.index.chunks[number]
        # A hidden name: the cache neither counts (the reservation covers it) nor evicts it.
        target = os.path.join(os.path.dirname(final), f".{os.path.basename(final)}.download")
        try:
            for attempt in (1, 2):
                with TRACER.span("download", chunk=info.filename):
                    _, crc = self.store.download_with_crc32(info.filename, target)
                if info.checksum is None or _matches(info.checksum, crc, target):
                    break
                os.unlink(target)
                if attempt == 2:
                    raise ChecksumMismatchError(
                        f"chunk {info.filename} of {self.url} is corrupted: its checksum does not match "
                        f"{INDEX_FILENAME} after two downloads"
                    )
            if is_compressed_filename(info.filename):
                with open(target, "rb") as f:
                    data = decompress(f.read(), info.filename)
                write_file_atomic(final, data)
            else:
                os.replace(target, final)
        finally:
            if os.path.exists(target):
                os.unlink(target)
        size = os.path.getsize(final)
        if size < 4:
            os.unlink(final)
            raise ChunkFormatError(f"chunk {info.filename} of {self.url} is truncated: {size} bytes")
