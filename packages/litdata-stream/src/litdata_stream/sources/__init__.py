"""Data sources: the on-disk formats ``StreamingDataset`` reads, one module each.

A source (see :mod:`.base`) lists its chunks with their item counts; the epoch plan
does the rest (exactly-once epochs, shuffle, splits, resume, mixing), whatever the
format. :func:`open_source` picks the source for ``input_dir``:

- ``input_format="litdata"`` / ``"parquet"`` / ``"raw"`` (``source`` here): that one (:data:`SOURCES` lists the names);
- a URL ending in ``.parquet`` (one file, or a glob such as ``train-*.parquet``) or
  ``hf://datasets/...``: parquet (other globs: ``input_format="parquet"``); a URL ending
  in ``.tar`` or a brace pattern of them (``shard-{000..009}.tar``): webdataset;
- an ``index.json``: the LitData format, unless its ``config.item_loader`` is
  ``"ParquetLoader"`` (written by ``index_parquet_dataset``, ours or LitData's), or it
  is Mosaic's (``"version": 2`` with ``"shards"``): mds;
- no ``index.json``: parquet if the folder holds ``.parquet`` files, else webdataset if
  it holds ``.tar`` shards.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from typing import Any, cast

from litdata_format import IndexFormatError

from ..item_loaders import litdata_loader_columns
from .base import ChunkSource, PassThroughDecoder

#: Source name -> "module:class", imported when first used.
SOURCES = {
    "litdata": "litdata_stream.sources.litdata:LitDataSource",
    "parquet": "litdata_stream.sources.parquet:ParquetSource",
    "raw": "litdata_stream.sources.raw:RawFilesSource",
    "mds": "litdata_stream.sources.mds:MDSSource",
    "webdataset": "litdata_stream.sources.webdataset:WebDatasetSource",
}

__all__ = ["SOURCES", "ChunkSource", "PassThroughDecoder", "open_chunks", "open_source", "source_class",
           "split_item_loader"]


def source_class(name: str) -> type:
    """The class of the source called ``name``."""
    if name not in SOURCES:
        raise ValueError(f"unknown source {name!r}: one of {', '.join(sorted(SOURCES))}")
    module, _, cls = SOURCES[name].partition(":")
    return cast(type, getattr(importlib.import_module(module), cls))


def _guess_from_url(url: str) -> str | None:
    # A glob is recognised when it names parquet files ("*.parquet"); other globs need
    # input_format="parquet", so that a LitData folder named "run[1]" stays one.
    last = url.rstrip("/").rsplit("/", 1)[-1]
    if url.startswith("hf://") or last.endswith(".parquet"):
        return "parquet"
    from .webdataset import is_tar_url

    if is_tar_url(url):
        return "webdataset"
    return None


def split_item_loader(item_loader: Any, columns: list[str] | None) -> tuple[Any, list[str] | None, str | None]:
    """LitData's ``ParquetLoader(columns=...)`` means the parquet source: ``(None,
    columns, "parquet")``; any other loader passes through."""
    if item_loader is not None and type(item_loader).__name__ == "ParquetLoader":
        loader_columns = litdata_loader_columns(item_loader)
        return None, columns if columns is not None else loader_columns, "parquet"
    return item_loader, columns, None


def open_source(
    input_dir: str | os.PathLike[str],
    *,
    source: str | None = None,
    columns: list[str] | None = None,
    cache_dir: str,
    max_cache_bytes: int | None = None,
    storage_options: dict[str, Any] | None = None,
    encryption: Any = None,
    index_path: str | None = None,
    parquet_loader: bool = False,
    allow_pickle: bool = False,
) -> Any:
    """The source of ``input_dir`` (see the module docstring for how it is chosen).

    ``parquet_loader``: LitData's ``ParquetLoader`` was passed; it reads parquet files
    only, so a LitData-format dataset refuses it. ``allow_pickle``: MDS ``pkl`` columns
    may be unpickled.
    """
    from ..source import DatasetSource, _normalize_url
    from .parquet_index import PARQUET_LOADER

    url = _normalize_url(input_dir)
    missing_index = False
    kind = source if source is not None else _guess_from_url(url)
    if kind is not None:
        source_class(kind)  # an unknown name fails first
    if kind == "raw":  # every file an item: only by name (StreamingRawDataset, input_format="raw")
        if columns is not None or encryption is not None or index_path is not None:
            raise ValueError(f"{url}: columns, encryption and index_path do not apply to raw files")
        return source_class(kind)(url, cache_dir=cache_dir, max_cache_bytes=max_cache_bytes,
                                  storage_options=storage_options)
    foreign = dict(cache_dir=cache_dir, max_cache_bytes=max_cache_bytes, storage_options=storage_options)
    if kind in ("mds", "webdataset"):  # by URL (tar shards) or by name
        _no_parquet_options(url, kind, columns, encryption, index_path)
        return source_class(kind)(url, **foreign, **({"allow_pickle": allow_pickle} if kind == "mds" else {}))
    parquet_args: dict[str, Any] = dict(cache_dir=cache_dir, max_cache_bytes=max_cache_bytes,
                                        storage_options=storage_options, columns=columns)
    if kind in (None, "litdata"):
        try:
            opened = DatasetSource(input_dir, cache_dir=cache_dir, max_cache_bytes=max_cache_bytes,
                                   storage_options=storage_options, encryption=encryption, index_path=index_path)
        except IndexFormatError:
            text = None if kind == "litdata" or index_path is not None else _mds_index_text(url, storage_options)
            if text is None:
                raise
            _no_parquet_options(url, "mds", columns, encryption, index_path)
            return source_class("mds")(url, **foreign, index_text=text, allow_pickle=allow_pickle)
        except FileNotFoundError:
            if kind == "litdata" or index_path is not None:
                raise
            missing_index = True
            kind = "parquet"  # no index.json: a folder of parquet files, or an error naming what is there
            parquet_args["index_path"] = None
        else:
            if opened.index.config is not None and opened.index.config.item_loader == PARQUET_LOADER:
                kind = "parquet"
                text, _ = _index_text(opened, index_path)
                parquet_args["index_text"] = text
            else:
                if parquet_loader:
                    raise TypeError(f"item_loader must be a TokensLoader, a PyTreeLoader or None for {url}, a "
                                    "LitData-format dataset, got ParquetLoader (it reads parquet files)")
                if columns is not None:
                    raise ValueError(f"columns= selects parquet columns; {url} is a LitData-format dataset")
                return opened
    elif index_path is not None:
        parquet_args["index_path"] = index_path
    if encryption is not None:
        raise ValueError(f"{url}: encryption applies to LitData-format datasets, not to {kind} files")
    try:
        return source_class(kind)(url, **parquet_args)
    except FileNotFoundError:
        if missing_index:
            from litdata_format import INDEX_FILENAME

            with contextlib.suppress(FileNotFoundError):  # a folder of WebDataset shards
                _no_parquet_options(url, "webdataset", columns, None, None)
                return source_class("webdataset")(url, **foreign)
            raise FileNotFoundError(f"no {INDEX_FILENAME} at {url}/{INDEX_FILENAME} and no .parquet files under "
                                    f"{url} (nor .tar shards): is it an optimized dataset, a folder of parquet "
                                    "files or of WebDataset shards?") from None
        raise


def _no_parquet_options(url: str, kind: str, columns: Any, encryption: Any, index_path: Any) -> None:
    if columns is not None or encryption is not None or index_path is not None:
        raise ValueError(f"{url}: columns, encryption and index_path do not apply to {kind} datasets")


def _mds_index_text(url: str, storage_options: dict[str, Any] | None) -> bytes | None:
    """The text of ``url``'s ``index.json`` when it is a Mosaic MDS index, else None."""
    import json

    from litdata_format import INDEX_FILENAME
    from litdata_storage import open_store

    from .mds import is_mds_index

    text = open_store(url, **dict(storage_options or {})).get(INDEX_FILENAME)
    try:
        return text if is_mds_index(json.loads(text)) else None
    except ValueError:
        return None


def _index_text(opened: Any, index_path: str | None) -> tuple[bytes, str]:
    from litdata_format import INDEX_FILENAME

    from ..index_location import read_index_at

    if index_path is not None:
        return read_index_at(index_path, opened.storage_options)
    return opened.store.get(INDEX_FILENAME), opened.store.url(INDEX_FILENAME)


def open_chunks(source: Any) -> Any:
    """The open-chunk set of ``source``: its own, or the LitData format's ``OpenChunks``."""
    factory = getattr(source, "open_chunks", None)
    if factory is not None:
        return factory()
    from ..chunks import OpenChunks

    return OpenChunks(source)
