"""The index of a parquet dataset: its files, their row groups and the rows of each.

Parquet keeps row counts in each file's footer, so listing a dataset's chunks means
reading every footer once (a ranged GET of the file's tail on a remote store). That
is done once per node: the first process builds the index under a lock in the
dataset's cache folder and the others read it. ``index_parquet_dataset`` builds it
ahead of time and stores it next to the data (or in ``cache_dir``), as LitData does.

The index file is LitData's ``index.json`` for parquet (``config.item_loader`` is
``"ParquetLoader"``, one chunk entry per file with its rows and size), so LitData can
read ours; each entry also lists its row groups as ``[rows, start, end, bytes]``
(``start``/``end``: the byte range of the row group's column chunks; ``bytes``: its
uncompressed size). An index written by LitData lacks them: they are read from the
footers then.
"""

from __future__ import annotations

import fnmatch
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from litdata_format import INDEX_FILENAME, ChunkFormatError, write_file_atomic
from litdata_storage import Store

from .node_file import built_once

PARQUET_LOADER = "ParquetLoader"

#: The tail first fetched from a remote file: most footers fit.
FOOTER_READ_BYTES = 64 * 1024

_HIDDEN_INDEX = ".parquet_index.json"


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise ImportError(
            "reading parquet datasets needs pyarrow: pip install 'litdata-stream[parquet]'"
        ) from None
    return pyarrow


@dataclass
class ParquetFileInfo:
    """One parquet file: its size, schema and row groups."""

    key: str
    size: int
    num_rows: int
    row_groups: list[tuple[int, int, int, int]]  # rows, byte start, byte end, uncompressed bytes
    columns: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)

    def to_chunk(self) -> dict[str, Any]:
        """This file as a chunk entry of the index JSON, with its row groups and columns."""
        return {"chunk_bytes": self.size, "chunk_size": self.num_rows, "dim": None, "filename": self.key,
                "row_groups": [list(g) for g in self.row_groups], "columns": self.columns}


def footer_info(metadata: Any, key: str, size: int) -> ParquetFileInfo:
    """What the index keeps of a file's footer (a ``pyarrow.parquet.FileMetaData``)."""
    groups = []
    for g in range(metadata.num_row_groups):
        rg = metadata.row_group(g)
        start, end = size, 0
        for c in range(rg.num_columns):
            col = rg.column(c)
            first = col.data_page_offset
            if col.has_dictionary_page and col.dictionary_page_offset and col.dictionary_page_offset > 0:
                first = min(first, col.dictionary_page_offset)
            start, end = min(start, first), max(end, first + col.total_compressed_size)
        groups.append((rg.num_rows, min(start, end), end, rg.total_byte_size))
    schema = metadata.schema.to_arrow_schema()
    return ParquetFileInfo(key, size, metadata.num_rows, groups, list(schema.names), [str(t) for t in schema.types])


def read_footer(store: Store, key: str, size: int) -> ParquetFileInfo:
    """Read the footer of ``key`` (the file's tail only). Raises ``ChunkFormatError``
    naming the file for anything that is not a complete parquet file."""
    pa = _pyarrow()
    where = store.url(key)
    if size < 12:
        raise ChunkFormatError(f"{where} is not a parquet file: {size} bytes (truncated?)")
    tail = store.get_range(key, max(size - FOOTER_READ_BYTES, 0), size)
    if tail[-4:] != b"PAR1":
        raise ChunkFormatError(f"{where} is not a parquet file or is truncated: it does not end with PAR1")
    footer_len = int.from_bytes(tail[-8:-4], "little")
    if footer_len + 8 > size - 4:
        raise ChunkFormatError(f"{where} has a corrupt parquet footer (length {footer_len} > file size {size})")
    if footer_len + 8 > len(tail):
        tail = store.get_range(key, size - footer_len - 8, size)
    try:
        metadata = pa.parquet.read_metadata(pa.BufferReader(tail))
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise ChunkFormatError(f"{where} has a corrupt parquet footer: {exc}") from None
    return footer_info(metadata, key, size)


def list_parquet_files(store: Store, pattern: str | None = None) -> list[tuple[str, int]]:
    """``(key, size)`` of the dataset's ``.parquet`` files (or those matching the glob
    ``pattern``), sorted by key; a folder mixing parquet with other data files is refused."""
    keys = [k for k in store.list("") if not os.path.basename(k).startswith((".", "_"))]
    if pattern is not None:
        chosen = [k for k in keys if fnmatch.fnmatchcase(k, pattern)]
    else:
        chosen = [k for k in keys if k.endswith(".parquet")]
        others = [k for k in keys if k.rsplit(".", 1)[-1].lower() in _OTHER_DATA]
        if chosen and others:
            raise ValueError(
                f"{store.url()} mixes formats: parquet files ({chosen[0]}, ...) and other data files "
                f"({others[0]}, ...); point input_dir at one of them (a glob such as '*.parquet' selects files)"
            )
    if not chosen:
        what = f"no file matching {pattern!r}" if pattern else "no .parquet file"
        raise FileNotFoundError(f"{what} under {store.url()}")
    return [(k, store.size(k)) for k in sorted(chosen)]


#: File kinds that are data of another format, never parquet.
_OTHER_DATA = {"bin", "tar", "mds", "jsonl", "csv", "arrow", "feather", "zstd", "npy"}


def listing_version(files: list[tuple[str, int]]) -> str:
    """A version stamp of a listing (names and sizes): a rewritten file gets a new cache folder."""
    import hashlib

    digest = hashlib.sha256(json.dumps(files).encode()).hexdigest()
    return f"parquet-{digest[:16]}"


def build_infos(store: Store, files: list[tuple[str, int]], num_workers: int = 4) -> list[ParquetFileInfo]:
    """Read every footer, ``num_workers`` at a time (threads, ended before returning)."""
    if num_workers <= 1 or len(files) <= 1:
        return [read_footer(store, key, size) for key, size in files]
    with ThreadPoolExecutor(max_workers=num_workers, thread_name_prefix="litdata-parquet-index") as pool:
        return list(pool.map(lambda f: read_footer(store, *f), files))


def index_dict(infos: list[ParquetFileInfo]) -> dict[str, Any]:
    """LitData's parquet ``index.json`` layout, with our row-group lists."""
    types = infos[0].types if infos else []
    return {
        "chunks": [i.to_chunk() for i in infos],
        "config": {"chunk_bytes": None, "chunk_size": None, "compression": None, "data_format": types,
                   "data_spec": None, "encryption": None, "item_loader": PARQUET_LOADER},
        "updated_at": str(time.time()),
    }


def infos_from_index(data: dict[str, Any], store: Store, num_workers: int = 4) -> list[ParquetFileInfo]:
    """The files of a parquet ``index.json``; entries without row groups (LitData's) are
    completed from their footers."""
    entries = data.get("chunks") or []
    missing = [(e["filename"], int(e["chunk_bytes"])) for e in entries if "row_groups" not in e]
    read = {i.key: i for i in build_infos(store, missing, num_workers)} if missing else {}
    infos = []
    for e in entries:
        if "row_groups" not in e:
            infos.append(read[e["filename"]])
            continue
        infos.append(ParquetFileInfo(e["filename"], int(e["chunk_bytes"]), int(e["chunk_size"]),
                                     [tuple(int(v) for v in g) for g in e["row_groups"]],  # type: ignore[misc]
                                     list(e.get("columns") or [])))
    return infos


def cached_infos(store: Store, files: list[tuple[str, int]], folder: str, num_workers: int = 4) -> list[ParquetFileInfo]:
    """The index of ``files`` kept in ``folder`` (the dataset's cache folder, whose name
    carries the listing's version): built by the first process of the node, read by the rest."""
    data = built_once(folder, _HIDDEN_INDEX, lambda: index_dict(build_infos(store, files, num_workers)))
    return infos_from_index(data, store, num_workers)


def write_index(store: Store, infos: list[ParquetFileInfo], cache_dir: str | None) -> str:
    """Store the index as ``index.json`` in ``cache_dir`` (if given) or next to the data."""
    text = json.dumps(index_dict(infos), sort_keys=True)
    if cache_dir:
        os.makedirs(cache_dir, exist_ok=True)
        path = os.path.join(cache_dir, INDEX_FILENAME)
        write_file_atomic(path, text.encode())
        return path
    store.put(INDEX_FILENAME, text.encode())
    return store.url(INDEX_FILENAME)
