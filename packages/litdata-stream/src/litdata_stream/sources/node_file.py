"""What one process of a node computes for a dataset and the others read: a listing, an index.

Foreign sources need something the plan can count (raw files' listing, parquet row
groups, tar member offsets) that costs requests or reads to build. Every rank and worker
of a node opens the dataset, so the first process builds it under an exclusive lock and
keeps it as JSON in the dataset's cache folder (whose name carries the data's version);
the others wait on the lock and read the file.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable
from typing import Any

from litdata_format import write_file_atomic


def built_once(folder: str, name: str, build: Callable[[], Any], *, rebuild: bool = False) -> Any:
    """The JSON kept as ``folder/name``: read when it is there (and ``rebuild`` is False),
    else made by ``build()`` and written atomically (a temporary name, then a rename).

    Args:
        folder: the dataset's cache folder of this node.
        name: the file's name in it; its lock is ``.<name>.lock`` beside it.
        build: makes the data (anything ``json`` can write); called by one process at a time.
        rebuild: build again even when the file exists (e.g. the data was changed in place).

    Returns:
        What ``build()`` made, or the file's data as ``json`` reads it (tuples as lists):
        callers read both alike.
    """
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    fd = os.open(os.path.join(folder, f".{name.lstrip('.')}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if not rebuild and os.path.isfile(path):
            with open(path) as f:
                return json.load(f)
        data = build()
        write_file_atomic(path, json.dumps(data).encode())
        return data
    finally:
        os.close(fd)
