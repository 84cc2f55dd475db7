"""Any other URL (``hf://``, ``http(s)://``, ``memory://``, ...) through fsspec, when installed.

A fallback: it makes every fsspec filesystem usable behind the same interface, without
the tuned transfers of the built-in backends. fsspec is never a dependency.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from typing import Any

import fsspec

from .base import Buffer, ObjectInfo, Store, atomic_file, pwrite_all
from .errors import AccessDeniedError, NotFoundError, StorageError
from .url import check_key

__all__ = ["FsspecStore"]


class FsspecStore(Store):
    """Objects under an fsspec URL; ``storage_options`` go to the filesystem."""

    scheme = "fsspec"

    def __init__(self, url: str, **storage_options: Any) -> None:
        common = {
            k: storage_options.pop(k)
            for k in ("part_size", "max_concurrency", "max_attempts", "timeout")
            if k in storage_options
        }
        self.fs, path = fsspec.core.url_to_fs(url, **storage_options)
        self.path = path.rstrip("/")
        super().__init__(url.rstrip("/"), **common)
        self.scheme = url.split("://", 1)[0]  # type: ignore[misc]

    def _p(self, key: str) -> str:
        return f"{self.path}/{key}" if key else self.path

    def _translate(self, exc: BaseException, key: str, op: str) -> StorageError:
        if isinstance(exc, FileNotFoundError):
            return NotFoundError(f"no object at {self.url(key)}")
        if isinstance(exc, PermissionError):
            return AccessDeniedError(f"access denied: {op} {self.url(key)}")
        return StorageError(f"{op} {self.url(key)} failed: {type(exc).__name__}: {exc}")

    def get(self, key: str) -> bytes:
        """Read the whole file with ``cat_file``."""
        check_key(key)
        try:
            return bytes(self.fs.cat_file(self._p(key)))
        except Exception as exc:
            raise self._translate(exc, key, "get") from None

    def _get_range(self, key: str, start: int, end: int | None) -> bytes:
        size = self._stat(key).size
        if start >= size:
            return b""
        try:
            return bytes(
                self.fs.cat_file(self._p(key), start=start, end=min(end, size) if end is not None else None)
            )
        except Exception as exc:
            raise self._translate(exc, key, "get") from None

    def _stat(self, key: str) -> ObjectInfo:
        try:
            info = self.fs.info(self._p(key))
        except Exception as exc:
            raise self._translate(exc, key, "head") from None
        if info.get("type") == "directory":
            raise NotFoundError(f"no object at {self.url(key)} (it is a directory)")
        return ObjectInfo(size=int(info.get("size") or 0))

    def put(self, key: str, data: Buffer) -> None:
        """Write the file with ``pipe_file`` (atomic only where the filesystem makes it so)."""
        check_key(key)
        try:
            self.fs.pipe_file(self._p(key), bytes(data))
        except Exception as exc:
            raise self._translate(exc, key, "put") from None

    def download_with_crc32(self, key: str, local_path: str | os.PathLike[str]) -> tuple[int, int]:
        """Read the whole object into memory, then write it atomically: no parallel parts."""
        check_key(key)
        data = self.get(key)
        with atomic_file(os.fspath(local_path)) as fd:
            pwrite_all(fd, data, 0)
        return len(data), zlib.crc32(data)

    def delete(self, key: str) -> None:
        """Remove the file; a missing file is not an error."""
        check_key(key)
        try:
            self.fs.rm_file(self._p(key))
        except FileNotFoundError:
            pass
        except Exception as exc:
            raise self._translate(exc, key, "delete") from None

    def list_sizes(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        """Keys and sizes from one ``find(detail=True)``, filtered by ``prefix``."""
        check_key(prefix, allow_empty=True)
        folder, _, _ = prefix.rpartition("/")
        lead = self.path.lstrip("/") + "/"
        try:
            found = self.fs.find(self._p(folder), detail=True)
        except FileNotFoundError:
            return iter(())
        except Exception as exc:
            raise self._translate(exc, prefix, "list") from None
        pairs = ((name.lstrip("/")[len(lead) :], int(info.get("size") or 0)) for name, info in found.items())
        return iter(sorted((k, n) for k, n in pairs if k.startswith(prefix) and k))

    def list(self, prefix: str = "", recursive: bool = True) -> Iterator[str]:
        """List with ``find`` (recursive) or ``ls`` (one level), filtered by ``prefix``."""
        check_key(prefix, allow_empty=True)
        folder, _, _ = prefix.rpartition("/")
        base = self._p(folder)
        lead = self.path.lstrip("/") + "/"
        try:
            if recursive:
                names = [n for n in self.fs.find(base) if True]
                keys = [n.lstrip("/")[len(lead) :] for n in names]
            else:
                entries = self.fs.ls(base, detail=True) if self.fs.exists(base) else []
                keys = [
                    e["name"].lstrip("/")[len(lead) :] + ("/" if e.get("type") == "directory" else "")
                    for e in entries
                ]
        except FileNotFoundError:
            return iter(())
        return iter(sorted(k for k in keys if k.startswith(prefix) and k))
