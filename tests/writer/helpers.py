"""Reading a written dataset back, wherever it is stored."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from litdata_format import Index, read_dataset
from litdata_storage import open_store


def download_all(url: str, storage_options: dict[str, Any] | None = None, dest: str | None = None) -> str:
    """Copy every object under ``url`` into a local folder; return the folder."""
    store = open_store(url, **(storage_options or {}))
    dest = dest or tempfile.mkdtemp(prefix="writer-readback-")
    for key in store.list():
        store.download(key, os.path.join(dest, *key.split("/")))
    return dest


def read_back(url: str, storage_options: dict[str, Any] | None = None, **kwargs: Any) -> list[Any]:
    """All items of the dataset at ``url`` (downloaded first when it is remote)."""
    store = open_store(url, **(storage_options or {}))
    folder = (
        store.root if hasattr(store, "root") and not store.is_remote else download_all(url, storage_options)
    )
    return read_dataset(folder, verify=True, **kwargs)


def keys(url: str, storage_options: dict[str, Any] | None = None) -> list[str]:
    return sorted(open_store(url, **(storage_options or {})).list())


def index_of(url: str, storage_options: dict[str, Any] | None = None) -> Index:
    store = open_store(url, **(storage_options or {}))
    return Index.from_json(store.get("index.json"))
