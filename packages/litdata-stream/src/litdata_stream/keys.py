"""The keys sidecar, read side: key -> global item index for ``dataset[key]``.

The sidecar (``keys/shard-*.parquet``, layout in :mod:`litdata_format.keys_layout`) is
written by our ``optimize(..., key_fn=...)`` or LitData's. A shard is loaded on the first
lookup that needs it, once per process: from a local dataset in place, from any other
store downloaded into the dataset's cache folder (keyed by ``updated_at``, so a rewritten
dataset never reuses an old sidecar). The ``key`` column stays an Arrow array, sorted
(shards are written sorted; an unsorted one is sorted once on load), and a lookup is a
binary search over it: O(log n), without building a Python dict of every key.

Reading parquet needs pyarrow, an optional extra (``pip install 'litdata-stream[keys]'``).
"""

from __future__ import annotations

import bisect
import io
import os
import threading
from typing import Any

import numpy as np

from litdata_format.atomic import write_file_atomic
from litdata_format.keys_layout import (
    KEYS_DIRNAME,
    KEYS_SECTION,
    LEGACY_KEYS_FILENAME,
    key_shard,
    normalize_key,
    section_num_shards,
    shard_key,
)
from litdata_storage import NotFoundError

from .source import DatasetSource
from .sources.base import in_place_file

__all__ = ["KeyLookup", "require_pyarrow"]


def require_pyarrow() -> Any:
    """``pyarrow.parquet``, or an ImportError that names the extra to install."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError(
            "looking items up by key (dataset[key], get_by_key) needs pyarrow: "
            "pip install 'litdata-stream[keys]' (or 'litdata[keys]')"
        ) from None
    return pq


class _Shard:
    """One loaded shard: sorted keys and the global index of each."""

    def __init__(self, table: Any) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        keys = table.column("key").combine_chunks()
        indices = table.column("index").combine_chunks()
        if pa.types.is_dictionary(keys.type):
            keys = keys.dictionary_decode()
        if len(keys) > 1 and not pc.all(pc.less_equal(keys[:-1], keys[1:])).as_py():
            order = pc.sort_indices(keys)
            keys, indices = keys.take(order), indices.take(order)
        self.is_int = pa.types.is_integer(keys.type)
        self.indices = indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
        if self.is_int:
            self.int_keys = keys.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
        else:
            self.str_keys = keys

    def find(self, key: str | int) -> int | None:
        if self.is_int:
            if not isinstance(key, int):
                return None
            pos = int(np.searchsorted(self.int_keys, key))
            found = pos < len(self.int_keys) and int(self.int_keys[pos]) == key
        else:
            if not isinstance(key, str):
                return None  # LitData stores str(key) only for mixed keys, never matching an int
            keys = self.str_keys
            pos = bisect.bisect_left(keys, key, key=lambda scalar: scalar.as_py())
            found = pos < len(keys) and keys[pos].as_py() == key
        return int(self.indices[pos]) if found else None


class KeyLookup:
    """Key -> global index of one dataset, shards loaded lazily (see the module docstring)."""

    def __init__(self, source: DatasetSource) -> None:
        self.source = source
        self._section = source.index.extra.get(KEYS_SECTION)
        self._names: list[str] | None = None
        self._shards: dict[int, _Shard] = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        # DataLoader workers get the layout, not the loaded arrays (they load on first use).
        return {"source": self.source}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["source"])  # type: ignore[misc]

    def _shard_names(self) -> list[str]:
        """Shard files in shard order: from ``index.json``'s ``keys`` entry; without one (an
        older sidecar) the ``keys/`` listing, else the legacy single ``keys.parquet``."""
        if self._names is None:
            if self._section is not None:
                self._names = [shard_key(i) for i in range(section_num_shards(self._section))]
            else:
                listed = [k for k in self.source.store.list(f"{KEYS_DIRNAME}/", recursive=False)
                          if k.startswith(f"{KEYS_DIRNAME}/shard-") and k.endswith(".parquet")]
                self._names = [shard_key(i) for i in range(len(listed))] or [LEGACY_KEYS_FILENAME]
        return self._names

    def _read(self, name: str) -> Any:
        pq = require_pyarrow()
        store = self.source.store
        if self.source._in_place:
            return pq.read_table(in_place_file(store, name), columns=["key", "index"])
        # A hidden folder: the chunk cache neither counts nor evicts it.
        path = os.path.join(self.source.cache.folder, ".keys", name.replace("/", "__"))
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            write_file_atomic(path, store.get(name))
        with open(path, "rb") as f:
            return pq.read_table(io.BytesIO(f.read()), columns=["key", "index"])

    def _load(self, number: int) -> _Shard:
        name = self._shard_names()[number]
        try:
            return _Shard(self._read(name))
        except (NotFoundError, FileNotFoundError):
            if self._section is None:
                raise KeyError(
                    f"{self.source.url} has no keys index ({shard_key(0)}): write it with "
                    "optimize(..., key_fn=...) or build_keys_index(input_dir, key_fn)"
                ) from None
            raise KeyError(
                f"{self.source.url}: index.json lists a keys index, but {self.source.store.url(name)} is missing"
            ) from None

    def index_of(self, key: Any) -> int:
        """The global index of the item with ``key``; ``KeyError(key)`` when there is none."""
        normalized = normalize_key(key)  # TypeError for a bool, None, float..., as LitData
        names = self._shard_names()
        number = key_shard(normalized, len(names))
        shard = self._shards.get(number)
        if shard is None:
            with self._lock:
                shard = self._shards.get(number)
                if shard is None:
                    shard = self._shards[number] = self._load(number)
        found = shard.find(normalized)
        if found is None:
            raise KeyError(key)
        return found
