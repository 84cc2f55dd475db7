"""Fetching single raw files with asyncio: ``StreamingRawDataset.cache_manager``.

Streaming reads whole groups of files (see :mod:`litdata_stream.sources.raw`); random
access (``dataset[i]``, ``__getitems__``, a plain DataLoader with a sampler) needs one
file at a time, many at once. :class:`RawFileFetcher` does that, as LitData's
``CacheManager`` does: ``download_file_async(path)`` returns a file's bytes,
``ensure_file_async(path)`` a local path to it. The blocking storage calls run on a
thread pool of the running loop, at most ``max_concurrent_downloads`` at once per
process (a semaphore made per loop, so it is never shared across a fork).

Local folders are read in place. A remote file is kept on local disk under the cache
folder when ``cache_files=True`` (later reads use the copy) or when a path is asked for;
a copy is written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

from litdata_storage import Store

from .sources.base import in_place_file, reads_in_place

#: Downloads in flight per process when ``max_concurrent_downloads`` is not given.
DEFAULT_CONCURRENCY = 32


class RawFileFetcher:
    """Per-file async access to the files of one ``input_dir`` (LitData's ``CacheManager``)."""

    def __init__(self, store: Store, cache_dir: str, *, cache_files: bool,
                 max_concurrent_downloads: int | None = None) -> None:
        self.store = store
        self.input_dir = store.url().rstrip("/")
        self.cache_dir = cache_dir
        self.cache_files = bool(cache_files)
        self.max_concurrent_downloads = int(max_concurrent_downloads or DEFAULT_CONCURRENCY)
        if self.max_concurrent_downloads < 1:
            raise ValueError(f"max_concurrent_downloads must be positive, got {max_concurrent_downloads!r}")
        self._in_place = reads_in_place(store)
        self._semaphores: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Semaphore]] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_semaphores"] = {}  # bound to this process's loops
        return state

    def key_of(self, file_path: str) -> str:
        """The storage key of ``file_path`` (a path or URL under ``input_dir``)."""
        root = self.input_dir + "/"
        if not file_path.startswith(root):
            raise ValueError(f"File path {file_path} does not start with input dir {self.input_dir}")
        return file_path[len(root):]

    def get_local_path(self, file_path: str) -> str:
        """Where ``file_path`` is (in place) or would be kept (a remote file) on local disk."""
        key = self.key_of(file_path)
        if self._in_place:
            path = in_place_file(self.store, key)
            return path
        return os.path.join(self.cache_dir, "raw-files", *key.split("/"))

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        held = self._semaphores.get(id(loop))
        if held is None or held[0] is not loop:
            held = (loop, asyncio.Semaphore(self.max_concurrent_downloads))
            self._semaphores[id(loop)] = held
        return held[1]

    async def download_file_async(self, file_path: str, size: int | None = None) -> bytes:
        """The bytes of ``file_path`` (a local read, a cached copy, or a GET)."""
        if self._in_place or (self.cache_files and os.path.isfile(self.get_local_path(file_path))):
            return await asyncio.to_thread(_read, self.get_local_path(file_path))
        if self.cache_files:
            return await asyncio.to_thread(_read, await self.ensure_file_async(file_path, size))
        async with self._semaphore():
            data = await asyncio.to_thread(self.store.get, self.key_of(file_path))
        _check_size(file_path, len(data), size)
        return data

    async def ensure_file_async(self, file_path: str, size: int | None = None) -> str:
        """A local path holding ``file_path``'s bytes (downloaded once, then reused)."""
        local = self.get_local_path(file_path)
        if self._in_place:
            return local
        if os.path.isfile(local) and (size is None or os.path.getsize(local) == size):
            return local
        async with self._semaphore():
            await asyncio.to_thread(self._download, file_path, local, size)
        return local

    def _download(self, file_path: str, local: str, size: int | None) -> None:
        os.makedirs(os.path.dirname(local), exist_ok=True)
        tmp = f"{local}.{os.getpid()}.{uuid.uuid4().hex[:8]}.download"
        try:
            got = self.store.download(self.key_of(file_path), tmp)
            _check_size(file_path, got, size)
            os.replace(tmp, local)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _check_size(file_path: str, got: int, size: int | None) -> None:
    if size is not None and got != size:
        raise OSError(f"{file_path} has {got} bytes, the listing says {size}: the file changed since it was "
                      "listed (pass recompute_index=True)")
