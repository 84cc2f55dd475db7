"""Where results go: the output store, and the local folder files are written in first.

A local output (a plain path, ``file://`` or ``local:``) is written in place: chunks are
created directly in the output folder, atomically, and nothing is copied. A cloud output
is staged: each worker writes into its own folder under a temporary staging root (set
``DATA_OPTIMIZER_CACHE_FOLDER`` to choose the disk), and its uploader moves each file to
the store as soon as it is complete, deleting the staged copy.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from litdata_storage import Store, open_store

STAGING_ENV = "DATA_OPTIMIZER_CACHE_FOLDER"


def open_output(url: str | os.PathLike[str], storage_options: dict[str, Any] | None) -> Store:
    """Open the store of ``output_dir``; ValueError for anything that is not a non-empty path or URL."""
    if not isinstance(url, (str, os.PathLike)) or not os.fspath(url):
        raise ValueError(f"output_dir must be a path or a URL (s3://, gs://, azure://, local:), got {url!r}")
    return open_store(url, **(storage_options or {}))


def local_folder(store: Store) -> str | None:
    """The folder to write into directly, or None when files must be staged and uploaded."""
    return store.local_folder


def make_staging_root(what: str) -> str:
    """Create a fresh temporary folder for staged files; ``what`` goes into its name.

    It is made under ``DATA_OPTIMIZER_CACHE_FOLDER`` when that is set, else in the system's temp folder.
    """
    base = os.environ.get(STAGING_ENV) or None
    if base:
        os.makedirs(base, exist_ok=True)
    return tempfile.mkdtemp(prefix=f"litdata-{what}-", dir=base)


def remove_staging_root(path: str | None) -> None:
    """Delete a staging root and everything in it; None (a local output has none) does nothing."""
    if path:
        shutil.rmtree(path, ignore_errors=True)
