"""``StreamingDataset(index_path=...)``: a dataset's ``index.json`` kept somewhere else.

LitData lets the index live apart from the chunks (an index written for a read-only
bucket, or for files that were indexed rather than optimized): ``index_path`` is the
``index.json`` file itself, or a folder holding one. It may be a local path or, here, any
URL litdata-storage opens (read with the dataset's ``storage_options``). The chunks are
still read from ``input_dir``, and nothing is written next to them.

One difference: LitData reads ``index_path`` only when it finds no ``index.json`` of
``input_dir`` (locally, or in its cache); here the index named by ``index_path`` is
always the one read, so that which index is used never depends on the cache's state.
"""

from __future__ import annotations

import os
from typing import Any

from litdata_format import INDEX_FILENAME
from litdata_storage import NotFoundError, open_store


def _is_url(path: str) -> bool:
    return "://" in path or path.startswith("local:")


def read_index_at(index_path: str | os.PathLike[str], storage_options: dict[str, Any]) -> tuple[bytes, str]:
    """(the text of the index named by ``index_path``, where it was read from)."""
    path = os.fspath(index_path)
    if not isinstance(path, str) or not path:
        raise ValueError(f"index_path must be a path or URL of an {INDEX_FILENAME}, got {index_path!r}")
    if not _is_url(path):
        path = os.path.abspath(os.path.expanduser(path))
        if os.path.isdir(path):
            path = os.path.join(path, INDEX_FILENAME)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Index file not found: {path} (index_path={os.fspath(index_path)!r})")
        with open(path, "rb") as f:
            return f.read(), path
    stripped = path.rstrip("/")
    if stripped.endswith(".json"):
        folder, _, name = stripped.rpartition("/")
    else:
        folder, name = stripped, INDEX_FILENAME
    store = open_store(folder, **storage_options)
    try:
        text = store.get(name)
    except NotFoundError:
        raise FileNotFoundError(f"Index file not found: {store.url(name)} (index_path={path!r})") from None
    return text, store.url(name)
