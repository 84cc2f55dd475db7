"""The keys sidecar, written side: ``optimize(..., key_fn=...)`` and ``build_keys_index``.

Each writer rank calls ``key_fn`` on every item it stores and keeps the keys, in writing
order, in its partial index (``RankKeys``): the rank knows neither its items' global
indexes nor the final chunk list, the merge does. At the merge, the keys of all ranks in
rank order (after the old dataset's keys when appending) get their global index and
chunk position from the merged chunk list, are checked for duplicates and written as
``keys/shard-*.parquet`` *before* ``index.json`` names them, so a refused sidecar leaves
no new index behind. The layout (see :mod:`litdata_format.keys_layout`) is LitData
0.2.76's, so either library reads the other's keys.

Parquet needs pyarrow, an optional extra (``pip install 'litdata-writer[keys]'``).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from litdata_format import (
    INDEX_FILENAME,
    TOKENS_LOADER,
    ChunkInfo,
    EncryptionLevel,
    Index,
    IndexConfig,
    ItemDecoder,
    decompress,
    decrypt_chunk,
    is_compressed_filename,
    open_chunk_bytes,
    resolve_encryption,
    sample_compressed,
)
from litdata_format.keys_layout import (
    KEYS_DIRNAME,
    KEYS_SECTION,
    LEGACY_KEYS_FILENAME,
    ROW_GROUP_ROWS,
    key_shard,
    keys_section,
    normalize_key,
    section_num_shards,
    shard_key,
)
from litdata_storage import NotFoundError, Store, open_store

#: Field of a partial index (``{rank}.index.json``) holding the rank's keys in item order.
PARTIAL_FIELD = "item_keys"

__all__ = ["PARTIAL_FIELD", "RankKeys", "build_keys_index", "check_key_fn", "prepare_keys", "require_pyarrow"]


def require_pyarrow() -> Any:
    """``pyarrow.parquet``, or an ImportError that names the extra to install."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError(
            "writing a keys index (optimize(key_fn=...), build_keys_index) needs pyarrow: "
            "pip install 'litdata-writer[keys]' (or 'litdata[keys]')"
        ) from None
    return pq


def check_key_fn(key_fn: Any, item_loader: str | None) -> None:
    """Refuse a ``key_fn`` that cannot work, before any worker starts."""
    if key_fn is None:
        return
    if not callable(key_fn):
        raise TypeError(f"key_fn must be callable (item -> str or int key), got {type(key_fn).__name__}")
    if item_loader == TOKENS_LOADER:
        raise ValueError(
            "key_fn cannot be used with item_loader=TokensLoader: a token dataset is read in blocks of "
            "tokens, not by the items fn returned, so an item key would point at no readable item"
        )
    require_pyarrow()


class RankKeys:
    """The keys of one rank's items, in the order the rank stores them."""

    def __init__(self, key_fn: Callable[[Any], Any]) -> None:
        self.key_fn = key_fn
        self.keys: list[str | int] = []

    def add(self, item: Any) -> None:
        """Record the key of an item about to be stored (``key_fn``'s value, normalized)."""
        self.keys.append(normalize_key(self.key_fn(item)))

    def add_stored(
        self, store: Store, chunks: Sequence[ChunkInfo], config: IndexConfig | None, encryption: Any = None
    ) -> None:
        """Keys of items already stored (a resumed rank's earlier chunks): read them back."""
        if chunks and config is not None:
            items = iter_stored_items(store, chunks, config, encryption)
            self.keys.extend(normalize_key(self.key_fn(item)) for item in items)

    def partial_extra(self) -> dict[str, Any]:
        """The field of the rank's partial index that carries these keys to the merge."""
        return {PARTIAL_FIELD: list(self.keys)}


def iter_stored_items(
    store: Store, chunks: Sequence[ChunkInfo], config: IndexConfig, encryption: Any = None
) -> Iterator[Any]:
    """Decode the items of ``chunks`` (one chunk in memory at a time), in stored order.

    Pickled leaves are allowed: this reads a dataset the caller wrote or asked to index.
    An encrypted dataset needs its ``encryption`` (checked against the index, as readers
    do); items go through the format's one decoder (decrypt, decompress, decode).
    """
    if config.item_loader == TOKENS_LOADER:
        raise ValueError("a token dataset has no items to key: it is read in blocks of tokens")
    encryption = resolve_encryption(config.encryption, encryption, store.url())
    chunk_level = encryption is not None and encryption.level == EncryptionLevel.CHUNK
    decoder = ItemDecoder(config.data_format, config.data_spec, allow_pickle=True,
                          sample_encryption=None if chunk_level else encryption,
                          per_sample=sample_compressed(config.extra))
    for info in chunks:
        data: Any = store.get(info.filename)
        if is_compressed_filename(info.filename):
            data = decompress(data, info.filename)
        if chunk_level:
            data = decrypt_chunk(encryption, data, store.url(info.filename))
        chunk = open_chunk_bytes(data, info.filename)
        for within in range(len(chunk)):
            yield decoder.decode(chunk.item(within), info.filename, within, store.url())


@dataclass
class KeyRows:
    """Rows of a keys sidecar before they are written: keys and their global indexes."""

    keys: list[str | int]
    indices: list[int]

    def check_unique(self, where: str) -> None:
        """Raise ValueError when one key belongs to two different items; ``where`` names the dataset."""
        seen: dict[str | int, int] = {}
        for key, index in zip(self.keys, self.indices):
            first = seen.setdefault(key, index)
            if first != index:
                raise ValueError(
                    f"duplicate keys are not allowed in the keys sidecar of {where}: key {key!r} is the key of "
                    f"items {first} and {index}; key_fn must give every item its own key"
                )

    def table(self, chunk_sizes: Sequence[int]) -> Any:
        """The pyarrow table LitData writes: typed columns, sorted by key."""
        require_pyarrow()
        import pyarrow as pa

        if all(isinstance(k, int) for k in self.keys) and self.keys:
            key_array = pa.array(self.keys, type=pa.int64())
        else:
            key_array = pa.array([str(k) for k in self.keys], type=pa.large_string())
        starts = np.zeros(len(chunk_sizes) + 1, dtype=np.int64)
        np.cumsum(np.asarray(chunk_sizes, dtype=np.int64), out=starts[1:])
        indices = np.asarray(self.indices, dtype=np.int64)
        if len(indices) and (indices.min() < 0 or indices.max() >= starts[-1]):
            raise ValueError(f"a key points past the dataset's {int(starts[-1])} items")
        chunk_index = np.searchsorted(starts, indices, side="right") - 1
        table = pa.table(
            {
                "key": key_array,
                "index": pa.array(indices, type=pa.int64()),
                "chunk_index": pa.array(chunk_index.astype(np.int32), type=pa.int32()),
                # LitData stores the global index as the offset (what its reader passes on).
                "chunk_offset": pa.array(indices.astype(np.int32), type=pa.int32()),
            }
        )
        return table.sort_by("key") if table.num_rows else table


def _parquet_bytes(table: Any) -> bytes:
    pq = require_pyarrow()
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", row_group_size=min(ROW_GROUP_ROWS, max(table.num_rows, 1)))
    return sink.getvalue()


def write_shards(store: Store, rows: KeyRows, chunk_sizes: Sequence[int], num_shards: int) -> dict[str, Any]:
    """Put ``keys/shard-*.parquet`` (every shard, empty ones too); return the ``keys`` section."""
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    table = rows.table(chunk_sizes)
    if num_shards == 1:
        parts = [table]
    else:
        import pyarrow as pa

        shard_of = np.fromiter(
            (key_shard(k, num_shards) for k in table.column("key").to_pylist()), dtype=np.int32, count=table.num_rows
        )
        parts = [table.filter(pa.array(shard_of == s)) for s in range(num_shards)]
    for number, part in enumerate(parts):
        store.put(shard_key(number), _parquet_bytes(part))
    # Shards beyond the new count (a sidecar rebuilt with fewer shards) would mislead readers.
    stale = {k for k in store.list(f"{KEYS_DIRNAME}/", recursive=False)} - {shard_key(i) for i in range(num_shards)}
    for key in sorted(stale):
        if key.endswith(".parquet"):
            store.delete(key)
    store.delete(LEGACY_KEYS_FILENAME)
    return keys_section(num_shards)


def read_rows(store: Store, index: Index) -> KeyRows | None:
    """The keys and global indexes of an existing sidecar, or None when there is none."""
    pq = require_pyarrow()
    num_shards = section_num_shards(index.extra.get(KEYS_SECTION))
    names = [shard_key(i) for i in range(num_shards)]
    if not store.exists(names[0]):
        if not store.exists(LEGACY_KEYS_FILENAME):
            return None
        names = [LEGACY_KEYS_FILENAME]
    rows = KeyRows([], [])
    for name in names:
        try:
            table = pq.read_table(io.BytesIO(store.get(name)), columns=["key", "index"])
        except NotFoundError:
            continue
        rows.keys.extend(table.column("key").to_pylist())
        rows.indices.extend(int(i) for i in table.column("index").to_pylist())
    return rows


@dataclass
class PreparedKeys:
    """A merge's sidecar, checked and ready to write once the merge may publish."""

    rows: KeyRows
    chunk_sizes: list[int]
    num_shards: int

    def write(self, store: Store) -> dict[str, Any]:
        """Put the shards; return the ``keys`` section for ``index.json``."""
        return write_shards(store, self.rows, self.chunk_sizes, self.num_shards)


def prepare_keys(store: Store, parts: Sequence[Index], old_index: Index | None, merged: Index) -> PreparedKeys | None:
    """The sidecar of a merge (None: the run had no ``key_fn``), not yet written.

    ``parts`` are the partial indexes in rank order, ``merged`` the index about to be
    published (old chunks first when appending; their keys, if any, come first too).
    Raises ValueError when two items share a key.
    """
    if not any(PARTIAL_FIELD in part.extra for part in parts):
        return None
    base = old_index.num_items if old_index is not None else 0
    rows = KeyRows([], [])
    num_shards = 1
    if old_index is not None:
        old = read_rows(store, old_index)
        if old is not None:
            rows = old
            num_shards = section_num_shards(old_index.extra.get(KEYS_SECTION))
    position = base
    for rank, part in enumerate(parts):
        keys = part.extra.get(PARTIAL_FIELD, [])
        if len(keys) != part.num_items:
            raise ValueError(f"the partial index of writer part {rank} lists {len(keys)} keys for {part.num_items} items")
        rows.keys.extend(normalize_key(k) for k in keys)
        rows.indices.extend(range(position, position + len(keys)))
        position += part.num_items
    rows.check_unique(store.url())
    return PreparedKeys(rows, [c.chunk_size for c in merged.chunks], num_shards)


def build_keys_index(
    input_dir: str,
    key_fn: Callable[[Any], Any],
    *,
    output_dir: str | None = None,
    overwrite: bool = False,
    verbose: bool = True,
    num_shards: int = 1,
    storage_options: dict[str, Any] | None = None,
    encryption: Any = None,
) -> str:
    """Scan an optimized dataset with ``key_fn`` and write its ``keys/`` sidecar.

    For datasets written without ``optimize(..., key_fn=...)``. ``input_dir`` may be any
    URL our storage reads (LitData's takes local folders); the sidecar goes next to it,
    or to ``output_dir`` (whose ``index.json``, if any, gets the ``keys`` section).
    An existing sidecar raises FileExistsError unless ``overwrite``. ``index.json`` is
    rewritten with a new ``updated_at`` so that readers' caches drop an older sidecar.
    An encrypted dataset needs ``encryption`` (its key), as reading it does.
    Returns the location of the ``keys/`` folder.
    """
    check_key_fn(key_fn, None)
    options = dict(storage_options or {})
    source = open_store(str(input_dir), **options)
    try:
        index = Index.from_json(source.get(INDEX_FILENAME), source.url(INDEX_FILENAME))
    except NotFoundError:
        raise FileNotFoundError(f"no {INDEX_FILENAME} at {source.url()}: is it an optimized dataset?") from None
    if index.config is None:
        raise ValueError(f"{source.url(INDEX_FILENAME)} lists no chunks: nothing to index")
    target = source if output_dir is None else open_store(str(output_dir), **options)
    if not overwrite and (target.exists(shard_key(0)) or target.exists(LEGACY_KEYS_FILENAME)):
        raise FileExistsError(f"{target.url(KEYS_DIRNAME)} already holds a keys index; pass overwrite=True to replace it")
    started = time.monotonic()
    keys = [normalize_key(key_fn(item)) for item in iter_stored_items(source, index.chunks, index.config, encryption)]
    rows = KeyRows(keys, list(range(len(keys))))
    rows.check_unique(source.url())
    section = write_shards(target, rows, [c.chunk_size for c in index.chunks], num_shards)
    target_index = index if output_dir is None else _read_index(target)
    if target_index is not None:
        target_index.extra[KEYS_SECTION] = section
        target_index.updated_at = str(time.time())
        target.put(INDEX_FILENAME, target_index.to_json().encode())
    if verbose:
        print(f"build_keys_index: {len(keys)} keys written to {target.url(KEYS_DIRNAME)} "
              f"in {time.monotonic() - started:.1f}s", flush=True)
    return target.url(KEYS_DIRNAME)


def _read_index(store: Store) -> Index | None:
    try:
        return Index.from_json(store.get(INDEX_FILENAME), store.url(INDEX_FILENAME))
    except NotFoundError:
        return None
