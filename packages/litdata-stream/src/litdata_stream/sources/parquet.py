"""Parquet files as a source: one chunk per row group, one item per row.

What is read when (see ``SOURCES.md``):

- construction: the listing (or ``index.json``) and, once per node, every footer
  (:mod:`.parquet_index`); nothing else.
- a chunk (row group) of a local file is read in place with pyarrow, only the selected
  ``columns``.
- a remote file of at most :data:`SMALL_FILE_BYTES` is downloaded whole into the
  node's chunk cache (all its row groups are then read from that copy); the row group
  of a bigger file is fetched with one ranged GET of its byte range (plus the footer,
  once per process and file) and kept in the cache as an Arrow IPC file of the
  selected columns. Both count against ``max_cache_size`` and are evicted like chunks.

pyarrow is used single-threaded (``use_threads=False``, no pre-buffering), so that no
pyarrow thread pool runs in a process that forks DataLoader workers.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from typing import Any

from litdata_format import INDEX_FILENAME, ChunkFormatError, ChunkInfo, Index, IndexConfig
from litdata_storage import Store, open_store

from ..cache import ChunkCache, dataset_cache_dir
from ..index_location import read_index_at
from .base import PassThroughDecoder, in_place_file, reads_in_place
from .held_chunks import OpenSourceChunks
from .parquet_index import (
    FOOTER_READ_BYTES,
    PARQUET_LOADER,
    ParquetFileInfo,
    _pyarrow,
    cached_infos,
    infos_from_index,
    list_parquet_files,
    listing_version,
)
from .ranged_file import RangedFile

#: Remote files up to this size are downloaded whole rather than by row group.
SMALL_FILE_BYTES = 8 * 1024 * 1024

_GLOB = "*?["


def split_parquet_url(url: str) -> tuple[str, str | None]:
    """``(root, pattern)`` of a parquet ``input_dir``: a folder (pattern None), one
    ``.parquet`` file, or a glob such as ``s3://b/data/*.parquet`` (pattern relative to root)."""
    if url.startswith("hf://"):
        check_hf_url(url)
    parts = url.rstrip("/").split("/")
    first_glob = next((i for i, p in enumerate(parts) if any(ch in p for ch in _GLOB)), None)
    if first_glob is not None:
        return "/".join(parts[:first_glob]) or "/", "/".join(parts[first_glob:])
    if parts[-1].endswith(".parquet") and len(parts) > 1:
        return "/".join(parts[:-1]) or "/", parts[-1]
    return url.rstrip("/"), None


def check_hf_url(url: str) -> None:
    """``hf://datasets/<owner>/<name>[@revision][/path]``, read through fsspec's
    ``HfFileSystem`` (needs ``huggingface_hub``)."""
    rest = url[len("hf://"):]
    parts = [p for p in rest.split("/") if p]
    if len(parts) < 3 or parts[0] != "datasets":
        raise ValueError(f"{url!r}: a Hugging Face dataset URL reads hf://datasets/<owner>/<name>[/path]")


def require_hf(url: str) -> None:
    """fsspec resolves ``hf://`` with ``huggingface_hub``'s ``HfFileSystem``: check it is there."""
    import importlib.util

    if not url.startswith("hf://"):
        return
    if importlib.util.find_spec("huggingface_hub") is None or importlib.util.find_spec("fsspec") is None:
        raise ImportError(f"{url}: reading hf:// datasets needs huggingface_hub and fsspec: "
                          "pip install huggingface_hub fsspec")


def _column_signature(columns: list[str] | None) -> str:
    if columns is None:
        return "all"
    return hashlib.sha256(json.dumps(columns).encode()).hexdigest()[:12]


class RowGroupChunk:
    """One row group as Python rows: ``item(k)`` is row ``k`` as a dict of columns.

    The rows are materialized once per row group (pyarrow's ``to_pylist`` builds them in
    C, several times faster than assembling dicts per item); each read hands out a
    shallow copy, so a transform that edits its item never changes a later read.
    """

    __slots__ = ("name", "_rows")

    def __init__(self, table: Any, name: str) -> None:
        self.name = name
        self._rows: list[dict[str, Any]] = table.to_pylist()  # pyarrow: one dict per row

    def __len__(self) -> int:
        return len(self._rows)

    def item(self, k: int) -> dict[str, Any]:
        """Row ``k`` as a dict of column values (a fresh shallow copy each time)."""
        return self._rows[k].copy()


class ParquetSource:
    """The row groups of a folder, file or glob of parquet files, wherever stored."""

    kind = "parquet"

    def __init__(
        self,
        input_dir: str,
        *,
        cache_dir: str,
        max_cache_bytes: int | None = None,
        storage_options: dict[str, Any] | None = None,
        columns: list[str] | None = None,
        index_path: str | os.PathLike[str] | None = None,
        index_text: bytes | str | None = None,
        num_workers: int = 4,
    ) -> None:
        _pyarrow()
        self.url = input_dir
        root, pattern = split_parquet_url(input_dir)
        require_hf(root)
        self.storage_options = dict(storage_options or {})
        self.store: Store = open_store(root, **self.storage_options)
        if columns is not None:
            if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
                raise TypeError(f"columns must be a list of column names, got {columns!r}")
            columns = list(columns)
        self.columns = columns
        if index_path is not None:
            index_text, _ = read_index_at(index_path, self.storage_options)
        elif index_text is None and root.startswith("hf://") and os.path.isfile(os.path.join(cache_dir, INDEX_FILENAME)):
            with open(os.path.join(cache_dir, INDEX_FILENAME), "rb") as f:  # LitData's hf layout
                index_text = f.read()
        if index_text is not None:
            infos = infos_from_index(json.loads(index_text), self.store, num_workers)
            version = listing_version([(i.key, i.size) for i in infos])
        else:
            files = list_parquet_files(self.store, pattern)
            version = listing_version(files)
            folder = dataset_cache_dir(cache_dir, self.url, version)
            infos = cached_infos(self.store, files, folder, num_workers)
        self.files = infos
        self.cache = ChunkCache(dataset_cache_dir(cache_dir, self.url, version), max_cache_bytes)
        self._in_place = reads_in_place(self.store)
        self.sample_encryption = self.chunk_encryption = None
        self.item_decoder = PassThroughDecoder()
        if columns is not None:
            for info in infos:
                missing = [c for c in columns if info.columns and c not in info.columns]
                if missing:
                    raise ValueError(f"column {missing[0]!r} is not in {self.store.url(info.key)} "
                                     f"(its columns: {', '.join(info.columns)})")
        self._where: list[tuple[int, int]] = []
        chunks = []
        signature = _column_signature(columns)
        self._names: list[str] = []
        for file_number, info in enumerate(infos):
            groups = sum(1 for g in info.row_groups if g[0] > 0)
            for g, (rows, start, end, raw) in enumerate(info.row_groups):
                if rows == 0:
                    continue
                self._where.append((file_number, g))
                small = info.size <= SMALL_FILE_BYTES
                self._names.append(f"files/{info.key}" if small else f"rowgroups/{info.key}.rg{g}.{signature}.arrow")
                # A small file's row groups share one cached copy: each counts its share
                # (the shuffle block sizes itself on this); the download reserves it all.
                nbytes = max(info.size // groups, 1) if small else max(raw, end - start)
                chunks.append(ChunkInfo(filename=f"{info.key}#{g}", chunk_size=rows, chunk_bytes=nbytes))
        if not chunks:
            raise ValueError(f"{self.url}: the parquet files hold no rows")
        types = infos[0].types if infos and infos[0].types else []
        self.index = Index(chunks=chunks, config=IndexConfig(data_format=types, data_spec=None,
                                                             item_loader=PARQUET_LOADER), updated_at=version)
        self._tails: dict[str, bytes] = {}
        self._tails_lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_tails"], state["_tails_lock"] = {}, None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._tails_lock = threading.Lock()

    # -- the source interface --------------------------------------------------------
    def describe(self, number: int) -> str:
        """A readable name of chunk ``number`` for error messages (row group and file)."""
        f, g = self._where[number]
        return f"row group {g} of {self.store.url(self.files[f].key)}"

    def local_name(self, number: int) -> str:
        """The cache file name of row group ``number``."""
        return self._names[number]

    def reads_in_place(self, number: int) -> bool:
        """Whether the files are read where they are stored (a local folder), for every row group."""
        return self._in_place

    def local_path(self, number: int) -> str:
        """The local file row group ``number`` is read from: the parquet file itself, or its cache copy."""
        if self._in_place:
            path = in_place_file(self.store, self.files[self._where[number][0]].key)
            return path
        return self.cache.path(self._names[number])

    def ensure_local(self, number: int, *, wait: bool = True) -> bool:
        """Make row group ``number`` local, unless the files are read in place.

        A small file is downloaded whole; from a larger one only the footer and the row group's
        bytes are fetched, by ranged reads, and the rows are kept in the cache as an Arrow file.
        Returns False only when ``wait`` is False and it is not local yet.
        """
        if self._in_place:
            return True
        info = self.files[self._where[number][0]]
        if info.size <= SMALL_FILE_BYTES:
            return self.cache.ensure(self._names[number], info.size, lambda p: self._fetch_file(info, p), wait=wait)
        room = self.index.chunks[number].chunk_bytes * 2
        return self.cache.ensure(self._names[number], room, lambda p: self._fetch_row_group(number, p), wait=wait)

    def open_chunks(self) -> OpenSourceChunks[RowGroupChunk]:
        """A fresh set of open row groups for this process."""
        return OpenSourceChunks(self)

    # -- fetching ------------------------------------------------------------------------
    def _fetch_file(self, info: ParquetFileInfo, final: str) -> None:
        tmp = os.path.join(os.path.dirname(final), f".{os.path.basename(final)}.download")
        try:
            size = self.store.download(info.key, tmp)
            if size != info.size:
                raise ChunkFormatError(f"{self.store.url(info.key)} has {size} bytes, the index says {info.size}: "
                                       "the file changed since it was indexed")
            os.replace(tmp, final)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _tail(self, info: ParquetFileInfo) -> tuple[int, bytes]:
        with self._tails_lock:
            tail = self._tails.get(info.key)
        if tail is None:
            tail = self.store.get_range(info.key, max(info.size - FOOTER_READ_BYTES, 0), info.size)
            with self._tails_lock:
                if len(self._tails) >= 64:
                    self._tails.pop(next(iter(self._tails)))
                self._tails[info.key] = tail
        return info.size - len(tail), tail

    def _fetch_row_group(self, number: int, final: str) -> None:
        pa = _pyarrow()
        f, g = self._where[number]
        info = self.files[f]
        _, start, end, _ = info.row_groups[g]
        source = RangedFile(self.store, info.key, info.size, dict([self._tail(info)]))
        if end > start:
            source.add_segment(start, self.store.get_range(info.key, start, end))
        table = self._read_table(source, g, number)
        tmp = os.path.join(os.path.dirname(final), f".{os.path.basename(final)}.download")
        try:
            options = pa.ipc.IpcWriteOptions(use_threads=False)
            with pa.OSFile(tmp, "wb") as sink, pa.ipc.new_file(sink, table.schema, options=options) as writer:
                writer.write_table(table)
            os.replace(tmp, final)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    # -- reading ---------------------------------------------------------------------
    def _read_table(self, file: Any, group: int, number: int) -> Any:
        pa = _pyarrow()
        try:
            parquet = pa.parquet.ParquetFile(file, pre_buffer=False)
            names = parquet.schema_arrow.names
            for c in self.columns or ():
                if c not in names:
                    raise ValueError(f"column {c!r} is not in {self.store.url(self.files[self._where[number][0]].key)} "
                                     f"(its columns: {', '.join(names)})")
            return parquet.read_row_group(group, columns=self.columns, use_threads=False)
        except (OSError, pa.ArrowException) as exc:
            raise ChunkFormatError(f"{self.describe(number)} cannot be read: {exc}") from None

    def read_chunk(self, number: int) -> RowGroupChunk:
        """Row group ``number`` from its local copy (``ensure_local`` first)."""
        pa = _pyarrow()
        path = self.local_path(number)
        f, g = self._where[number]
        if self._in_place or self.files[f].size <= SMALL_FILE_BYTES:
            table = self._read_table(path, g, number)
        else:
            try:
                options = pa.ipc.IpcReadOptions(use_threads=False)  # no Arrow thread pool in a worker
                table = pa.ipc.open_file(pa.memory_map(path), options=options).read_all()
            except (OSError, pa.ArrowException) as exc:
                raise ChunkFormatError(f"the cached copy of {self.describe(number)} cannot be read: {exc}") from None
        chunk = RowGroupChunk(table, self.index.chunks[number].filename)
        if len(chunk) != self.index.chunks[number].chunk_size:
            raise ChunkFormatError(f"{self.describe(number)} holds {len(chunk)} rows, the index says "
                                   f"{self.index.chunks[number].chunk_size}: the file changed since it was indexed")
        return chunk


def index_parquet_dataset(
    pq_dir_url: str,
    cache_dir: str | None = None,
    storage_options: dict[str, Any] | None = None,
    num_workers: int = 4,
) -> str:
    """Write the ``index.json`` of the parquet files under ``pq_dir_url`` (a folder, file
    or glob; local, ``s3://``, ``gs://``, ``azure://``, ``hf://datasets/...``).

    Never required: ``StreamingDataset`` indexes a parquet dataset by itself (once per
    node, cached). Precomputing saves every node that work. The index goes to
    ``cache_dir`` when given (LitData's layout for ``hf://`` datasets: pass the same
    folder as ``index_path``), else next to the data.

    Args:
        pq_dir_url: the parquet dataset: a folder, one ``.parquet`` file or a glob.
        cache_dir: a local folder to write the index to; required for a file or glob.
        storage_options: passed to the storage backend (endpoint, credentials, ...).
        num_workers: threads reading the files' footers at once.

    Returns:
        Where the index was written.

    Raises:
        ValueError: for a file or glob without ``cache_dir``.
    """
    from .parquet_index import build_infos, write_index

    _pyarrow()
    url = pq_dir_url if "://" in pq_dir_url else os.path.abspath(os.path.expanduser(pq_dir_url))
    root, pattern = split_parquet_url(url)
    require_hf(root)
    store = open_store(root, **dict(storage_options or {}))
    infos = build_infos(store, list_parquet_files(store, pattern), max(int(num_workers), 1))
    if cache_dir is None and pattern is not None:
        raise ValueError(f"{pq_dir_url}: pass cache_dir to index a file or glob (an {INDEX_FILENAME} next to the "
                         "data would describe the whole folder)")
    return write_index(store, infos, cache_dir)


def index_hf_dataset(dataset_url: str, cache_dir: str | None = None, storage_options: dict[str, Any] | None = None) -> str:
    """Index the parquet files of a Hugging Face dataset (``hf://datasets/<owner>/<name>``)
    and return the folder holding its ``index.json`` (pass it as ``index_path``).

    As in LitData, ``{cache_dir}/index.json`` is reused when present, else the index is
    written once to ``{cache_dir}/hf-index/<hash of the URL>/``. ``cache_dir`` defaults
    to the user cache (``$LITDATA_CACHE_DIR``). Not required either: ``StreamingDataset``
    indexes an ``hf://`` URL by itself.

    Args:
        dataset_url: ``hf://datasets/<owner>/<name>`` (optionally a folder within it).
        cache_dir: the folder to reuse or write the index under (default: the user cache).
        storage_options: passed to the storage backend (for example a token).

    Returns:
        The folder holding the ``index.json``.

    Raises:
        ValueError: if ``dataset_url`` is not an ``hf://`` URL.
    """
    from ..cache import default_cache_root

    if not dataset_url.startswith("hf://"):
        raise ValueError(f"Invalid Hugging Face dataset URL: {dataset_url}: URLs must start with 'hf://'")
    check_hf_url(dataset_url)
    root = os.path.expanduser(cache_dir) if cache_dir else default_cache_root()
    if os.path.isfile(os.path.join(root, INDEX_FILENAME)):
        return root
    dest = os.path.join(root, "hf-index", hashlib.sha256(dataset_url.encode()).hexdigest()[:16])
    if not os.path.isfile(os.path.join(dest, INDEX_FILENAME)):
        index_parquet_dataset(dataset_url, cache_dir=dest, storage_options=storage_options,
                              num_workers=os.cpu_count() or 4)
    return dest
