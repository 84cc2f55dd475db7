"""The keys sidecar of a dataset: names, key normalization and shard routing.

``optimize(..., key_fn=...)`` (ours and LitData 0.2.76's) stores, next to
``index.json``, a lookup table from an item's key to its position::

    keys/shard-00000.parquet       # one file per shard, rows sorted by ``key``
    index.json                     # {"keys": {"version": 1, "num_shards": 1, "sharding": "none"}, ...}

Columns: ``key`` (int64 when every key is an int, else UTF-8 strings: mixed keys are
stored as ``str(key)``), ``index`` (int64 global item index), ``chunk_index`` (int32,
position of the item's chunk in ``index.json``) and ``chunk_offset`` (int32; LitData
stores the *global* index here too, not the position inside the chunk). With several
shards a key lives in shard ``blake2b(str(key), 8 bytes) little-endian % num_shards``.
An older single file ``keys.parquet`` beside ``index.json`` is read as one shard.

This module holds only the layout facts shared by the writer and the reader; reading and
writing parquet is theirs (pyarrow, an optional extra).
"""

from __future__ import annotations

import hashlib
from typing import Any

KEYS_DIRNAME = "keys"
KEYS_SHARD_TEMPLATE = "shard-{:05d}.parquet"
LEGACY_KEYS_FILENAME = "keys.parquet"
KEYS_SECTION = "keys"
KEYS_VERSION = 1
COLUMNS = ("key", "index", "chunk_index", "chunk_offset")
#: Rows per parquet row group, as LitData writes them (one group up to a million rows).
ROW_GROUP_ROWS = 1_000_000


def normalize_key(key: Any) -> str | int:
    """``key`` as the sidecar stores it: an ``int`` or a ``str``.

    bytes are decoded as UTF-8 and numpy integers become ints; ``bool``, ``None`` and any
    other type raise ``TypeError`` (a bool would silently collide with 0 and 1).
    """
    if isinstance(key, bool) or key is None:
        raise TypeError(f"unsupported key type {type(key).__name__} ({key!r}): keys must be str or int")
    if isinstance(key, (int, str)):
        return int(key) if type(key) is not int and isinstance(key, int) else key
    if isinstance(key, (bytes, bytearray, memoryview)):
        return bytes(key).decode("utf-8")
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is always present beside torch
        np = None  # type: ignore[assignment]
    if np is not None and isinstance(key, np.integer):
        return int(key)
    raise TypeError(f"unsupported key type {type(key).__name__} ({key!r}): keys must be str or int")


def key_shard(key: str | int, num_shards: int) -> int:
    """The shard holding ``key`` (already normalized) among ``num_shards``."""
    if num_shards <= 1:
        return 0
    digest = hashlib.blake2b(str(key).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % num_shards


def shard_key(shard: int) -> str:
    """Object key (relative to the dataset root) of shard ``shard``."""
    return f"{KEYS_DIRNAME}/{KEYS_SHARD_TEMPLATE.format(shard)}"


def keys_section(num_shards: int) -> dict[str, Any]:
    """The ``keys`` entry of ``index.json`` describing the shard layout."""
    return {"version": KEYS_VERSION, "num_shards": int(num_shards), "sharding": "hash" if num_shards > 1 else "none"}


def section_num_shards(section: Any) -> int:
    """Shard count from an ``index.json`` ``keys`` entry (1 when absent or malformed)."""
    if isinstance(section, dict):
        value = section.get("num_shards", 1)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
    return 1
