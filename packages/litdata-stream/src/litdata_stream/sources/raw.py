"""A folder or prefix of plain files as a source: every file is an item.

Small objects (images, audio clips, JSON records) are latency bound: one GET at a time
would spend nearly all its time waiting. So the plan's "chunks" here are *groups* of
consecutive files (in sorted key order, up to :data:`FILES_PER_CHUNK` files or
:data:`CHUNK_BYTES` bytes), and a group is fetched with up to :data:`CONCURRENT_GETS`
GETs in flight, by a thread pool created for that one download inside the process that
reads (a DataLoader worker, after its fork) and ended before it returns. The
:class:`~litdata_stream.chunks.Prefetcher` fetches the next groups while the current one
is read, so the downloads run ahead of need.

What is read when:

- construction: the listing (keys and sizes). On local disk it is taken each time; on a
  remote store, once per node: the first process takes a lock in the cache folder, lists
  the prefix, asks every object's size (:data:`CONCURRENT_GETS` at a time) and writes
  ``raw_listing.json``; the others read it (``recompute_index=True`` lists again).
- local files (a plain folder): read in place; nothing is copied.
- remote files, ``item_type="bytes"``: a group is downloaded into one *pack* file of the
  node's chunk cache (offsets, then the files' bytes), counted against
  ``max_cache_size`` and evicted like a chunk.
- remote files, ``item_type="path"``: each file of a group is downloaded under
  ``<cache>/raw-files/<key>`` (kept, as LitData's ``cache_files=True`` keeps them: a path
  handed out stays valid), and a small marker file in the chunk cache records that the
  group is complete.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import struct
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from litdata_format import ChunkFormatError, ChunkInfo, Index, IndexConfig, write_file_atomic
from litdata_storage import Store, open_store

from ..cache import ChunkCache, dataset_cache_dir
from ..raw_items import ItemLayout
from .base import PassThroughDecoder, in_place_file, reads_in_place
from .held_chunks import OpenSourceChunks
from .node_file import built_once

#: A group (one chunk of the plan) closes at this many files ...
FILES_PER_CHUNK = 64
#: ... or once it holds this many bytes (a bigger file is a group of its own).
CHUNK_BYTES = 64 * 1024 * 1024
#: GETs in flight while one group downloads (and HEADs while a remote prefix is listed).
CONCURRENT_GETS = 32
#: ``item_type`` values, as in LitData's ``StreamingRawDataset``.
ITEM_TYPES = ("bytes", "path")
#: The item loader name this source reports in its index config.
RAW_LOADER = "RawFiles"

_LISTING = "raw_listing.json"
_COUNT = struct.Struct("<Q")


#: The file list LitData's ``StreamingRawDataset`` caches inside ``input_dir``: not an item.
LITDATA_RAW_INDEX = "index.json.zstd"


#: Guards making a process's GET pool (made again in a forked child, where no thread holds it).
_POOL_LOCK = threading.Lock()
os.register_at_fork(after_in_child=lambda: globals().__setitem__("_POOL_LOCK", threading.Lock()))


class NoFilesError(FileNotFoundError, ValueError):
    """An ``input_dir`` with no file to stream (a ``ValueError`` too, as LitData raises)."""


def list_raw_files(store: Store, extensions: list[str] | None = None,
                   max_depth: int | None = None) -> list[tuple[str, int]]:
    """``(key, size)`` of every file under the store's root, sorted by key.

    Sizes come with the listing pages (``Store.list_sizes``): no request per file.
    Hidden files (a name starting with ".") and LitData's cached file list
    (``index.json.zstd``, which LitData uploads into the folder it lists) are skipped;
    ``extensions`` (lower case, such as ``".jpg"``) keep only those suffixes,
    ``max_depth`` only keys at most that many levels deep (1: the top level). An empty
    result is a :class:`NoFilesError` naming the prefix.
    """
    files = sorted(
        (k, int(size)) for k, size in store.list_sizes("")
        if not os.path.basename(k).startswith(".") and os.path.basename(k) != LITDATA_RAW_INDEX
        and (not extensions or k.lower().endswith(tuple(extensions)))
        and (max_depth is None or k.count("/") < max_depth)
    )
    if not files:
        what = f" with an extension in {extensions}" if extensions else ""
        raise NoFilesError(f"No files found under {store.url()}{what}: StreamingRawDataset needs at least one file")
    return files


def cached_listing(store: Store, folder: str, recompute: bool, **filters: Any) -> list[tuple[str, int]]:
    """The listing of ``store``, built by the node's first process and read by the others."""
    files = built_once(folder, _LISTING, lambda: list_raw_files(store, **filters), rebuild=recompute)
    return [(k, int(s)) for k, s in files]


def group_items(sizes: list[int], files_per_chunk: int, chunk_bytes: int) -> list[list[int]]:
    """Consecutive items (of ``sizes`` bytes) in groups of at most ``files_per_chunk`` items
    and ``chunk_bytes`` bytes (a bigger item is a group of its own)."""
    groups: list[list[int]] = []
    current: list[int] = []
    size = 0
    for i, nbytes in enumerate(sizes):
        if current and (len(current) >= files_per_chunk or size + nbytes > chunk_bytes):
            groups.append(current)
            current, size = [], 0
        current.append(i)
        size += nbytes
    if current:
        groups.append(current)
    return groups


class PackChunk:
    """A downloaded group: item ``k`` is the bytes of its ``k``-th file (a memory map)."""

    __slots__ = ("name", "_map", "_offsets")

    def __init__(self, path: str, name: str) -> None:
        self.name = name
        with open(path, "rb") as f:
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        (count,) = _COUNT.unpack_from(self._map, 0)
        self._offsets = struct.unpack_from(f"<{count + 1}Q", self._map, _COUNT.size)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def item(self, k: int) -> bytes:
        """The bytes of the group's ``k``-th file (a slice of the memory map)."""
        return self._map[self._offsets[k]:self._offsets[k + 1]]


class FileChunk:
    """A group read from files on local disk: their bytes, or their paths."""

    __slots__ = ("name", "_paths", "_as_path")

    def __init__(self, paths: list[str], name: str, as_path: bool) -> None:
        self.name = name
        self._paths = paths
        self._as_path = as_path

    def __len__(self) -> int:
        return len(self._paths)

    def item(self, k: int) -> str | bytes:
        """The ``k``-th file of the group: its path, or its bytes read now."""
        if self._as_path:
            return self._paths[k]
        with open(self._paths[k], "rb") as f:
            return f.read()


class ItemsChunk:
    """A group whose items are not one file each (a ``setup()`` override): item ``k`` is
    its run of files, one file's bytes or path, or a list of them for a grouped item."""

    __slots__ = ("name", "_files", "_bounds", "_grouped", "_errors")

    def __init__(self, files: PackChunk | FileChunk, bounds: list[int], grouped: list[bool],
                 errors: dict[int, str]) -> None:
        self.name = files.name
        self._files = files
        self._bounds = bounds
        self._grouped = grouped
        self._errors = errors

    def __len__(self) -> int:
        return len(self._bounds) - 1

    def item(self, k: int) -> Any:
        """Item ``k``: a file's bytes or path, or the list of them; a bad item's ``TypeError``."""
        if k in self._errors:
            raise TypeError(self._errors[k])
        start, end = self._bounds[k], self._bounds[k + 1]
        if self._grouped[k]:
            return [self._files.item(j) for j in range(start, end)]
        return self._files.item(start)


class RawFilesSource:
    """Every file under ``input_dir`` (local, ``s3://``, ``gs://``, ``azure://``) as an item."""

    kind = "raw"

    def __init__(
        self,
        input_dir: str,
        *,
        cache_dir: str,
        max_cache_bytes: int | None = None,
        storage_options: dict[str, Any] | None = None,
        item_type: str = "bytes",
        recompute_index: bool = False,
        files_per_chunk: int = FILES_PER_CHUNK,
        chunk_bytes: int = CHUNK_BYTES,
        concurrent_gets: int = CONCURRENT_GETS,
        extensions: list[str] | None = None,
        max_depth: int | None = None,
        layout: Callable[[RawFilesSource], ItemLayout] | None = None,
    ) -> None:
        if item_type not in ITEM_TYPES:
            raise ValueError(f"item_type must be 'bytes' or 'path', got {item_type!r}")
        if int(files_per_chunk) < 1 or int(chunk_bytes) < 1 or int(concurrent_gets) < 1:
            raise ValueError("files_per_chunk, chunk_bytes and concurrent_gets must be positive")
        self.url = input_dir.rstrip("/")
        self.item_type = item_type
        self.concurrent_gets = int(concurrent_gets)
        self.storage_options = dict(storage_options or {})
        self.store: Store = open_store(self.url, **self.storage_options)
        self._in_place = reads_in_place(self.store)
        filters: dict[str, Any] = {"extensions": extensions, "max_depth": max_depth}
        if self._in_place:
            files = list_raw_files(self.store, **filters)
        else:
            tag = hashlib.sha256(json.dumps(filters, sort_keys=True).encode()).hexdigest()[:8]
            files = cached_listing(self.store, dataset_cache_dir(cache_dir, self.url, f"raw-listing-{tag}"),
                                   bool(recompute_index), **filters)
        self.files = files
        self._cache_root = cache_dir
        self._max_cache_bytes = max_cache_bytes
        self._files_per_chunk = int(files_per_chunk)
        self._chunk_bytes = int(chunk_bytes)
        self.sample_encryption = self.chunk_encryption = None
        self.item_decoder = PassThroughDecoder()
        self.arrange(layout(self) if layout is not None else ItemLayout.one_per_file(len(files)))

    def file_path(self, number: int) -> str:
        """The full path or URL of listed file ``number`` (a local path, or ``s3://...``)."""
        return self.store.url(self.files[number][0])

    def add_file(self, path: str, size: int) -> int:
        """List one more file under ``input_dir`` (a ``setup()`` item naming a file the listing
        skipped, such as a hidden one) and return its number; ``ValueError`` outside it."""
        root = self.store.url().rstrip("/") + "/"
        if not path.startswith(root):
            raise ValueError(f"{path} is not under {self.url}: a StreamingRawDataset item must name a file of its "
                             "input_dir")
        self.files.append((path[len(root):], int(size)))
        return len(self.files) - 1

    def arrange(self, layout: ItemLayout) -> None:
        """Plan the groups (the chunks of the epoch plan) over ``layout``'s items."""
        files = self.files
        sizes = [size for _, size in files]
        trivial = layout.is_trivial() and len(layout.files) == len(files)
        digest = hashlib.sha256(json.dumps([files, self._files_per_chunk, self._chunk_bytes]
                                           + ([] if trivial else [layout.digest_parts()])).encode()).hexdigest()
        version = f"raw-{digest[:16]}"
        folder = dataset_cache_dir(self._cache_root, self.url, version)
        self.cache = ChunkCache(folder, self._max_cache_bytes)
        self._files_folder = os.path.join(folder, "raw-files")
        item_groups = group_items([layout.item_size(i, sizes) for i in range(len(layout.files))],
                                  self._files_per_chunk, self._chunk_bytes)
        self.layout = None if trivial else layout
        self.groups: list[list[int]] = []
        self._bounds: list[list[int]] = []
        for group in item_groups:
            flat: list[int] = []
            bounds = [0]
            for i in group:
                flat.extend(layout.files[i] or ())
                bounds.append(len(flat))
            self.groups.append(flat)
            self._bounds.append(bounds)
        self._item_groups = item_groups
        chunks = []
        for n, (group, flat) in enumerate(zip(item_groups, self.groups)):
            nbytes = sum(files[i][1] for i in flat)
            local = 256 if self.item_type == "path" else _COUNT.size * (len(flat) + 2) + nbytes
            chunks.append(ChunkInfo(filename=f"files-{n}", chunk_size=len(group), chunk_bytes=local))
        self.index = Index(chunks=chunks, config=IndexConfig(data_format=["bytes"], data_spec=None,
                                                             item_loader=RAW_LOADER), updated_at=version)

    # -- the source interface --------------------------------------------------------
    def describe(self, number: int) -> str:
        """A readable name of group ``number`` for error messages (its first and last file)."""
        group = self.groups[number]
        if not group:
            return f"items {self._item_groups[number][0]} .. {self._item_groups[number][-1]} of {self.url}"
        return f"files {self.files[group[0]][0]} .. {self.files[group[-1]][0]} of {self.url}"

    def local_name(self, number: int) -> str:
        """The cache name of group ``number`` (under ``paths/`` or ``packs/`` by item type)."""
        return f"{'paths' if self.item_type == 'path' else 'packs'}/{number}"

    def reads_in_place(self, number: int) -> bool:
        """Whether the files are read where they are stored (a local folder), for every group."""
        return self._in_place

    def local_path(self, number: int) -> str:
        """The cache file of group ``number`` (a group read in place has none: see :meth:`read_chunk`)."""
        return self.cache.path(self.local_name(number))

    def ensure_local(self, number: int, *, wait: bool = True) -> bool:
        """Download group ``number`` into the cache (its files, or their paths), unless read in place.

        Returns False only when ``wait`` is False and the group is not local yet.
        """
        if self._in_place:
            return True
        fetch = self._fetch_paths if self.item_type == "path" else self._fetch_pack
        return self.cache.ensure(self.local_name(number), self.index.chunks[number].chunk_bytes,
                                 lambda final: fetch(number, final), wait=wait)

    def open_chunks(self) -> OpenSourceChunks[PackChunk | FileChunk | ItemsChunk]:
        """A fresh set of open groups for this process."""
        return OpenSourceChunks(self)

    # -- fetching ------------------------------------------------------------------------
    def _pool(self) -> ThreadPoolExecutor:
        """This process's ``concurrent_gets`` threads for GETs, kept between groups.

        Starting threads per group cost more than the GETs of small files (about 13 ms a
        thread while others run), and a process that forks while one of its threads is
        ending can leave the child stuck in CPython's fork handling; idle threads of a kept
        pool are safe to fork around. A forked or unpickled copy makes its own.
        """
        pool, pid = self.__dict__.get("_pool_obj"), os.getpid()
        if pool is None or self.__dict__.get("_pool_pid") != pid:
            with _POOL_LOCK:
                pool = self.__dict__.get("_pool_obj")
                if pool is None or self.__dict__.get("_pool_pid") != pid:
                    pool = ThreadPoolExecutor(max_workers=self.concurrent_gets, thread_name_prefix="litdata-raw-get")
                    self._pool_obj, self._pool_pid = pool, pid
        return pool

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_pool_obj", "_pool_pid")}

    def _checked(self, i: int, data: bytes) -> bytes:
        key, size = self.files[i]
        if len(data) != size:
            raise ChunkFormatError(f"{self.store.url(key)} has {len(data)} bytes, the listing says {size}: the file "
                                   "changed since it was listed (pass recompute_index=True)")
        return data

    def _fetch_pack(self, number: int, final: str) -> None:
        group = self.groups[number]
        datas = list(self._pool().map(lambda i: self._checked(i, self.store.get(self.files[i][0])), group))
        offsets = [_COUNT.size * (len(group) + 2)]
        for data in datas:
            offsets.append(offsets[-1] + len(data))
        write_file_atomic(final, [_COUNT.pack(len(group)), struct.pack(f"<{len(group) + 1}Q", *offsets), *datas])

    def _file_path(self, i: int) -> str:
        return os.path.join(self._files_folder, *self.files[i][0].split("/"))

    def _fetch_paths(self, number: int, final: str) -> None:
        group = self.groups[number]

        def one(i: int) -> None:
            path = self._file_path(i)
            if os.path.isfile(path) and os.path.getsize(path) == self.files[i][1]:
                return
            os.makedirs(os.path.dirname(path), exist_ok=True)
            size = self.store.download(self.files[i][0], path)
            if size != self.files[i][1]:
                os.unlink(path)
                raise ChunkFormatError(f"{self.store.url(self.files[i][0])} has {size} bytes, the listing says "
                                       f"{self.files[i][1]}: the file changed since it was listed "
                                       "(pass recompute_index=True)")

        list(self._pool().map(one, group))
        write_file_atomic(final, str(len(group)).encode())

    # -- reading ---------------------------------------------------------------------
    def read_chunk(self, number: int) -> PackChunk | FileChunk | ItemsChunk:
        """Group ``number`` from its local copy (``ensure_local`` first)."""
        files = self._read_files(number)
        if self.layout is None:
            return files
        group = self._item_groups[number]
        errors = {k: self.layout.errors[i] for k, i in enumerate(group) if i in self.layout.errors}
        return ItemsChunk(files, self._bounds[number], [self.layout.grouped[i] for i in group], errors)

    def _read_files(self, number: int) -> PackChunk | FileChunk:
        name = self.index.chunks[number].filename
        group = self.groups[number]
        if self._in_place:
            paths = [in_place_file(self.store, self.files[i][0]) for i in group]
            return FileChunk(paths, name, self.item_type == "path")
        if self.item_type == "path":
            return FileChunk([self._file_path(i) for i in group], name, True)
        chunk = PackChunk(self.local_path(number), name)
        if len(chunk) != len(group):
            raise ChunkFormatError(f"the cached copy of {self.describe(number)} holds {len(chunk)} files, "
                                   f"expected {len(group)}")
        return chunk
