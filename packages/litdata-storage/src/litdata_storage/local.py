"""A directory on a local disk or a network drive, behind the Store interface.

Plain paths and ``file://`` URLs are read in place (``is_remote`` False). ``local:/path``
is a shared network drive: the same store, but flagged ``is_remote`` so a reader copies
what it needs into its local cache instead of hammering the drive. Writes are atomic: a
temporary file in the same folder, then ``os.replace``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from .base import TEMP_MARKER, Buffer, ObjectInfo, PartWriter, Store, atomic_file, pwrite_all
from .errors import AccessDeniedError, NotFoundError, StorageError
from .url import check_key

__all__ = ["LocalStore"]

_COPY_BUFFER = 8 * 1024 * 1024


class LocalStore(Store):
    """Objects are files under ``root``; keys are their '/'-separated relative paths.

    Args:
        root: The directory that holds the objects (made absolute; created on first write).
        network_drive: Treat the folder as a shared drive (``local:`` URLs): ``is_remote``
            is then True, so readers copy objects into their cache instead of reading in place.
        **options: The transfer settings of :class:`Store`.
    """

    scheme = "file"
    is_remote = False

    def __init__(
        self, root: str | os.PathLike[str], *, network_drive: bool = False, **options: object
    ) -> None:
        root = os.path.abspath(os.fspath(root))
        self.root = root
        self.network_drive = network_drive
        super().__init__(f"local:{root}" if network_drive else root, **options)  # type: ignore[arg-type]
        # Instance attributes shadow the class defaults for ``local:`` stores.
        if network_drive:
            self.scheme = "local"  # type: ignore[misc]
            self.is_remote = True  # type: ignore[misc]

    @property
    def local_folder(self) -> str:
        """The store's root directory."""
        return self.root

    def local_path(self, key: str) -> str:
        """The file that holds ``key`` (readers of a plain directory can map it directly)."""
        check_key(key)
        return os.path.join(self.root, *key.split("/"))

    def url(self, key: str = "") -> str:
        """The root URL (``local:/...`` for a network drive, else the path), plus ``/key``."""
        if not key:
            return self.root_url
        return f"{self.root_url.rstrip('/')}/{key}"

    # ------------------------------------------------------------- reading
    def _open(self, key: str) -> BinaryIO:
        try:
            return open(self.local_path(key), "rb")
        except OSError as exc:
            raise self._os_error(exc, key) from None

    def _os_error(self, exc: OSError, key: str) -> StorageError:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.EISDIR):
            return NotFoundError(f"no object at {self.url(key)}")
        if exc.errno in (errno.EACCES, errno.EPERM):
            return AccessDeniedError(f"permission denied for {self.url(key)}")
        return StorageError(f"cannot access {self.url(key)}: {exc.strerror or exc}")

    def get(self, key: str) -> bytes:
        """Read the whole file."""
        with self._open(key) as f:
            return f.read()

    def _get_range(self, key: str, start: int, end: int | None) -> bytes:
        with self._open(key) as f:
            f.seek(start)
            return f.read() if end is None else f.read(end - start)

    def _stat(self, key: str) -> ObjectInfo:
        try:
            st = os.stat(self.local_path(key))
        except OSError as exc:
            raise self._os_error(exc, key) from None
        if not os.path.isfile(self.local_path(key)):
            raise NotFoundError(f"no object at {self.url(key)} (it is a directory)")
        return ObjectInfo(size=st.st_size, version=f"{st.st_mtime_ns}-{st.st_size}")

    def _read_range_into(self, key: str, start: int, end: int, write: PartWriter, info: ObjectInfo) -> int:
        crc = 0
        with self._open(key) as f:
            f.seek(start)
            pos = start
            while pos < end:
                data = f.read(min(_COPY_BUFFER, end - pos))
                if not data:
                    raise StorageError(f"{self.url(key)} shrank while being copied")
                write(data, pos)
                crc = zlib.crc32(data, crc)
                pos += len(data)
        return crc

    def download_with_crc32(self, key: str, local_path: str | os.PathLike[str]) -> tuple[int, int]:
        """Copy the file with a single streamed read, computing its CRC-32 on the way.

        Copying a file onto itself only computes the CRC.
        """
        check_key(key)
        src = self.local_path(key)
        dst = os.path.abspath(os.fspath(local_path))
        if os.path.exists(dst) and os.path.exists(src) and os.path.samefile(src, dst):
            crc = 0
            with self._open(key) as f:
                while data := f.read(_COPY_BUFFER):
                    crc = zlib.crc32(data, crc)
            return self._stat(key).size, crc
        size = crc = 0
        with self._open(key) as fsrc, atomic_file(dst) as fd:
            while data := fsrc.read(_COPY_BUFFER):
                pwrite_all(fd, data, size)
                crc = zlib.crc32(data, crc)
                size += len(data)
        return size, crc

    # ------------------------------------------------------------- writing
    def put(self, key: str, data: Buffer) -> None:
        """Write the file through a temporary file and a rename."""
        path = self.local_path(key)
        try:
            with atomic_file(path) as fd:
                pwrite_all(fd, data, 0)
        except OSError as exc:
            raise self._os_error(exc, key) from None

    def put_file(self, key: str, local_path: str | os.PathLike[str]) -> None:
        """Copy a local file into the store atomically (temporary file, then rename)."""
        path = self.local_path(key)
        try:
            with open(local_path, "rb") as fsrc, atomic_file(path) as fd, os.fdopen(os.dup(fd), "wb") as fdst:
                shutil.copyfileobj(fsrc, fdst, _COPY_BUFFER)
        except OSError as exc:
            if isinstance(exc, FileNotFoundError) and not os.path.exists(local_path):
                raise
            raise self._os_error(exc, key) from None

    def delete(self, key: str) -> None:
        """Remove the file; a missing file is not an error."""
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            os.remove(self.local_path(key))

    def delete_prefix(self, prefix: str = "") -> int:
        """Delete the matching files, then remove the folders left empty (as S3 has no empty folders)."""
        count = super().delete_prefix(prefix)
        # Remove folders the deletion emptied, so non-recursive listings match S3's.
        top = os.path.join(self.root, *prefix.split("/")[:-1]) if "/" in prefix else self.root
        for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda t: -len(t[0])):
            if dirpath != self.root and dirpath.startswith(top):
                with contextlib.suppress(OSError):
                    os.rmdir(dirpath)  # only succeeds when empty
        return count

    # ------------------------------------------------------------- listing
    def list(self, prefix: str = "", recursive: bool = True) -> Iterator[str]:
        """List files under ``prefix`` (temporary files of atomic writes are skipped)."""
        check_key(prefix, allow_empty=True)
        folder, _, name_start = prefix.rpartition("/")
        base = os.path.join(self.root, *folder.split("/")) if folder else self.root
        lead = f"{folder}/" if folder else ""
        if not os.path.isdir(base):
            return iter(())
        if not recursive:
            out: list[str] = []
            with os.scandir(base) as it:
                for entry in it:
                    if not entry.name.startswith(name_start) or TEMP_MARKER in entry.name:
                        continue
                    if entry.is_dir():
                        out.append(f"{lead}{entry.name}/")
                    else:
                        out.append(f"{lead}{entry.name}")
            return iter(sorted(out))
        keys: list[str] = []
        for dirpath, dirs, files in os.walk(base):
            rel = os.path.relpath(dirpath, self.root)
            rel = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            if dirpath == base:
                dirs[:] = [d for d in dirs if d.startswith(name_start)]
            for name in files:
                if TEMP_MARKER in name:
                    continue
                key = rel + name
                if key.startswith(prefix):
                    keys.append(key)
        return iter(sorted(keys))
