"""Mosaic MDS datasets (written by ``mosaicml-streaming``'s ``MDSWriter``) as a source.

``index.json`` (``"version": 2``, ``"shards"``) lists the shards; each shard is one chunk
of the plan and each of its samples one item, a ``dict`` of column -> value decoded as
Mosaic decodes it (:mod:`.mds_encodings`). A shard file is ``uint32 samples``, then
``samples + 1`` uint32 byte offsets (absolute, into the file), then the samples.

What is read when: construction reads ``index.json`` only (and stats local shards,
so a size that disagrees with the index fails at once); a local uncompressed shard
is read in place (memory-mapped); a remote or compressed shard (``zip_data``: zstd,
gz, bz2) is downloaded whole into the node's chunk cache and inflated there, within
``max_cache_size``.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import mmap
import os
from typing import Any, cast

import numpy as np

from litdata_format import INDEX_FILENAME, ChunkFormatError, ChunkInfo, Index, IndexConfig
from litdata_format.serializers import pickle_allowed_by_env
from litdata_storage import Store, open_store

from ..cache import ChunkCache, dataset_cache_dir
from .base import PassThroughDecoder, in_place_file, reads_in_place
from .held_chunks import OpenSourceChunks
from .mds_encodings import UNSAFE, SampleDecoder

MDS_LOADER = "MDS"


def is_mds_index(data: Any) -> bool:
    """Whether a parsed ``index.json`` is Mosaic's (``version`` 2 with ``shards``)."""
    return isinstance(data, dict) and "shards" in data and data.get("version") == 2


def _inflate(codec: str, data: bytes) -> bytes:
    name = codec.partition(":")[0]
    if name == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    if name == "gz":
        return gzip.decompress(data)
    if name == "bz2":
        return bz2.decompress(data)
    raise ValueError(f"MDS compression {codec!r} is not supported (zstd, gz and bz2 are)")


class MDSShard:
    """One open shard: ``item(k)`` is sample ``k`` decoded."""

    def __init__(self, path: str, name: str, decoder: SampleDecoder, samples: int, url: str) -> None:
        self.name = name
        self._decoder = decoder
        self._url = url
        with open(path, "rb") as f:
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        count = int(np.frombuffer(self._map, np.uint32, 1)[0]) if len(self._map) >= 4 else -1
        if count != samples or len(self._map) < 4 * (samples + 2):
            raise ChunkFormatError(f"{url} holds {count} samples, {INDEX_FILENAME} says {samples}")
        self._offsets = np.frombuffer(self._map, np.uint32, samples + 1, 4).astype(np.int64)
        if self._offsets[-1] > len(self._map) or np.any(np.diff(self._offsets) < 0):
            raise ChunkFormatError(f"{url}: its sample offsets run past the end of the file (truncated?)")

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def item(self, k: int) -> dict[str, Any]:
        """Decode sample ``k`` of the shard into a dict of its columns.

        Raises:
            ChunkFormatError: if its bytes cannot be decoded (naming the shard and sample).
        """
        data = self._map[int(self._offsets[k]):int(self._offsets[k + 1])]
        try:
            return self._decoder.decode(data)
        except (ValueError, KeyError, IndexError, UnicodeDecodeError, OSError, EOFError) as exc:
            raise ChunkFormatError(f"{self._url}, sample {k} cannot be decoded: {exc}") from None


class MDSSource:
    """The shards of an MDS dataset, local or on any store."""

    kind = "mds"

    def __init__(
        self,
        input_dir: str,
        *,
        cache_dir: str,
        max_cache_bytes: int | None = None,
        storage_options: dict[str, Any] | None = None,
        index_text: bytes | None = None,
        allow_pickle: bool = False,
    ) -> None:
        self.url = input_dir
        self.storage_options = dict(storage_options or {})
        self.store: Store = open_store(input_dir, **self.storage_options)
        if index_text is None:
            index_text = self.store.get(INDEX_FILENAME)
        data = json.loads(index_text)
        if not is_mds_index(data):
            raise ValueError(f"{self.store.url(INDEX_FILENAME)} is not a Mosaic MDS index (version 2 with shards)")
        self.shards: list[dict[str, Any]] = []
        self._decoders: list[SampleDecoder] = []
        for shard in data["shards"]:
            where = shard.get("raw_data", {}).get("basename", "?")
            if shard.get("format") != "mds":
                raise ValueError(f"{self.store.url(where)}: shard format {shard.get('format')!r} is not supported "
                                 "(only 'mds')")
            unsafe = [n for n, e in zip(shard["column_names"], shard["column_encodings"]) if e.partition(":")[0] in UNSAFE]
            if unsafe and not (allow_pickle or pickle_allowed_by_env()):
                raise ValueError(f"column {unsafe[0]!r} of {self.store.url(INDEX_FILENAME)} is pickled (encoding "
                                 "'pkl'): pass allow_pickle=True (or set LITDATA_ALLOW_PICKLE=1) to unpickle it "
                                 "(unpickling can run code)")
            if int(shard["samples"]) == 0:
                continue
            self.shards.append(shard)
            self._decoders.append(SampleDecoder(list(shard["column_names"]), list(shard["column_encodings"]),
                                                list(shard["column_sizes"])))
        if not self.shards:
            raise ValueError(f"{self.store.url(INDEX_FILENAME)} lists no samples: the dataset is empty")
        version = "mds-" + hashlib.sha256(index_text if isinstance(index_text, bytes) else index_text.encode()).hexdigest()[:16]
        self.cache = ChunkCache(dataset_cache_dir(cache_dir, self.url, version), max_cache_bytes)
        local = reads_in_place(self.store)
        self._in_place = [local and not s.get("zip_data") for s in self.shards]
        self.sample_encryption = self.chunk_encryption = None
        self.item_decoder = PassThroughDecoder()
        chunks = [ChunkInfo(filename=s["raw_data"]["basename"], chunk_size=int(s["samples"]),
                            chunk_bytes=int(s["raw_data"]["bytes"])) for s in self.shards]
        self.index = Index(chunks=chunks, config=IndexConfig(data_format=list(self.shards[0]["column_encodings"]),
                                                             data_spec=None, item_loader=MDS_LOADER),
                           updated_at=version)
        for number, in_place in enumerate(self._in_place):
            if in_place:
                self._check_size(number, in_place_file(self.store, self._stored(number)[0]))

    # -- the source interface --------------------------------------------------------
    def _stored(self, number: int) -> tuple[str, int]:
        """The stored file of shard ``number`` (compressed, if it is) and its size per the index."""
        shard = self.shards[number]
        info = shard.get("zip_data") or shard["raw_data"]
        return info["basename"], int(info["bytes"])

    def _check_size(self, number: int, path: str) -> None:
        key, expected = self._stored(number)
        try:
            size = os.path.getsize(path)
        except FileNotFoundError:
            raise FileNotFoundError(f"{self.store.url(key)}: shard listed in {INDEX_FILENAME} is missing") from None
        if size != expected:
            raise ChunkFormatError(f"{self.store.url(key)} has {size} bytes, {INDEX_FILENAME} says {expected}: "
                                   "the shard is truncated or was rewritten")

    def describe(self, number: int) -> str:
        """A readable name of shard ``number`` for error messages (its URL)."""
        return f"shard {self.store.url(self._stored(number)[0])}"

    def local_name(self, number: int) -> str:
        """The cache file name of shard ``number`` (its uncompressed basename)."""
        return cast(str, self.shards[number]["raw_data"]["basename"])  # from Mosaic's index.json

    def reads_in_place(self, number: int) -> bool:
        """Whether shard ``number`` is read where it is stored (a local, uncompressed shard)."""
        return self._in_place[number]

    def local_path(self, number: int) -> str:
        """The local file shard ``number`` is read from: the stored shard, or its cache copy."""
        if self._in_place[number]:
            path = in_place_file(self.store, self.local_name(number))
            return path
        return self.cache.path(self.local_name(number))

    def ensure_local(self, number: int, *, wait: bool = True) -> bool:
        """Download shard ``number`` into the cache (inflating it if compressed) unless it is there.

        Reserves room for the compressed and the inflated copy, which exist together for a
        moment. Returns False only when ``wait`` is False and the shard is not local yet.
        """
        if self._in_place[number]:
            return True
        room = self.index.chunks[number].chunk_bytes + self._stored(number)[1]
        return self.cache.ensure(self.local_name(number), room, lambda p: self._fetch(number, p), wait=wait)

    def _fetch(self, number: int, final: str) -> None:
        key, _ = self._stored(number)
        shard = self.shards[number]
        tmp = os.path.join(os.path.dirname(final), f".{os.path.basename(final)}.download")
        try:
            self.store.download(key, tmp)
            self._check_size(number, tmp)
            if shard.get("zip_data"):
                with open(tmp, "rb") as f:
                    try:
                        raw = _inflate(shard["compression"], f.read())
                    except ValueError:
                        raise
                    except Exception as exc:  # each codec has its own error type
                        raise ChunkFormatError(f"{self.store.url(key)} cannot be decompressed: {exc}") from None
                expected = int(shard["raw_data"]["bytes"])
                if len(raw) != expected:
                    raise ChunkFormatError(f"{self.store.url(key)} inflates to {len(raw)} bytes, {INDEX_FILENAME} "
                                           f"says {expected}")
                with open(tmp, "wb") as f:
                    f.write(raw)
            os.replace(tmp, final)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def open_chunks(self) -> OpenSourceChunks[MDSShard]:
        """A fresh set of open shards for this process."""
        return OpenSourceChunks(self)

    def read_chunk(self, number: int) -> MDSShard:
        """Shard ``number`` from its local copy (``ensure_local`` first)."""
        return MDSShard(self.local_path(number), self.index.chunks[number].filename, self._decoders[number],
                        int(self.shards[number]["samples"]), self.store.url(self._stored(number)[0]))
