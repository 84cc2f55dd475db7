"""The node-local chunk cache, shared safely by every process on a machine.

Chunks are downloaded (and decompressed) into a folder keyed by the dataset URL and the
index's ``updated_at``, so a rewritten dataset never reads stale chunks. Several
processes (ranks and DataLoader workers) share the folder:

- a chunk file appears only complete, by rename; one process downloads it while the
  others wait on a per-chunk download lock (``fcntl.flock``);
- a process reading a chunk holds a shared lock on the chunk's lock file; eviction
  takes that lock exclusively without waiting, so it never removes a chunk in use, and
  the kernel drops the locks of a process that dies;
- with ``max_bytes`` set, room is reserved under a cache-wide lock before a download (a
  small reservation file records the bytes the download may use, temporary files
  included), and least-recently-used chunks that no process holds are evicted to make
  room. The limit is never exceeded: a download waits for room, and a prefetch that
  finds none is skipped.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

DEFAULT_MAX_CACHE_BYTES = 100 * 1000**3
_RESERVE = ".reserve"
_LOCKS = ".locks"


def default_cache_root() -> str:
    """``$LITDATA_CACHE_DIR``, else the user cache folder (``$XDG_CACHE_HOME`` or ``~/.cache``).

    Where datasets cache their chunks when no ``cache_dir`` is given (under ``litdata/`` of
    the user cache folder); ``litdata cache`` reports on it.
    """
    configured = os.environ.get("LITDATA_CACHE_DIR")
    if configured:
        return os.path.expanduser(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "litdata")


def dataset_cache_dir(root: str, url: str, updated_at: str | None) -> str:
    """The cache folder of one version of one dataset."""
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    version = re.sub(r"[^0-9A-Za-z._-]", "_", updated_at or "unversioned")
    return os.path.join(root, digest, version)


class CacheFullError(RuntimeError):
    """No room can be made for a chunk within ``max_cache_size``."""


def _lock_name(name: str) -> str:
    return name.replace("/", "__") + ".lock"


class ChunkCache:
    """Chunk files of one dataset version in ``folder``, within ``max_bytes`` if set."""

    def __init__(self, folder: str, max_bytes: int | None = None, wait_timeout: float = 600.0) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.wait_timeout = wait_timeout
        os.makedirs(os.path.join(folder, _LOCKS), exist_ok=True)
        self._holds: dict[str, tuple[int, int]] = {}
        self._holds_lock = threading.Lock()
        self._pid = os.getpid()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_holds"] = {}
        state["_holds_lock"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._holds_lock = threading.Lock()
        self._pid = os.getpid()

    def path(self, name: str) -> str:
        """The cache file of ``name`` (whether or not it is there yet)."""
        return os.path.join(self.folder, name)

    def _lock_path(self, name: str, suffix: str = "") -> str:
        return os.path.join(self.folder, _LOCKS, _lock_name(name) + suffix)

    # -- holding a chunk (shared lock) -------------------------------------------------
    def hold(self, name: str) -> None:
        """Mark ``name`` in use by this process until :meth:`release` (re-entrant)."""
        self._check_fork()
        with self._holds_lock:
            fd, count = self._holds.get(name, (-1, 0))
            if count == 0:
                fd = os.open(self._lock_path(name), os.O_RDWR | os.O_CREAT, 0o644)
                fcntl.flock(fd, fcntl.LOCK_SH)
            self._holds[name] = (fd, count + 1)

    def release(self, name: str) -> None:
        """Undo one :meth:`hold` of ``name``; the last one drops the lock, so eviction may take it."""
        with self._holds_lock:
            fd, count = self._holds.get(name, (-1, 0))
            if count <= 1:
                self._holds.pop(name, None)
                if fd >= 0:
                    os.close(fd)  # closing drops the lock
            else:
                self._holds[name] = (fd, count - 1)

    def _check_fork(self) -> None:
        if self._pid != os.getpid():  # locks are not inherited meaningfully across fork
            self._holds = {}
            self._holds_lock = threading.Lock()
            self._pid = os.getpid()

    # -- getting a chunk --------------------------------------------------------------
    def ensure(self, name: str, size: int, fetch: Callable[[str], None], *, wait: bool = True) -> bool:
        """Make ``name`` present, calling ``fetch(path)`` to create it if missing.

        ``fetch`` must create the file at ``path`` atomically (temporary name, then
        rename) and may use up to ``size`` bytes on disk while doing so. With ``wait``
        False (a prefetch) nothing blocks: False means "not now", because another thread
        or process is downloading the chunk or because there is no room yet.
        """
        final = self.path(name)
        if os.path.exists(final):
            self._touch(final)
            return True
        os.makedirs(os.path.dirname(final), exist_ok=True)
        mode = fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB
        try:
            with self._flock(self._lock_path(name, ".download"), mode):
                if os.path.exists(final):
                    return True
                reservation = self._lock_path(name, _RESERVE)
                if not self._reserve(name, reservation, size, wait):
                    return False
                try:
                    fetch(final)
                finally:
                    with contextlib.suppress(OSError):
                        os.unlink(reservation)
        except BlockingIOError:  # only without ``wait``: somebody else is downloading it
            return os.path.exists(final)
        return True

    @staticmethod
    def _touch(path: str) -> None:
        with contextlib.suppress(OSError):
            os.utime(path)

    @contextlib.contextmanager
    def _flock(self, path: str, mode: int) -> Iterator[int]:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, mode)
            yield fd
        finally:
            os.close(fd)

    def usage(self) -> int:
        """Bytes held by chunk files plus the bytes reserved by downloads in progress."""
        total = self._reserved()
        for entry in self._files():
            with contextlib.suppress(OSError):
                total += entry.stat().st_size
        return total

    def _reserved(self, drop_stale: bool = False) -> int:
        total = 0
        with contextlib.suppress(FileNotFoundError), os.scandir(os.path.join(self.folder, _LOCKS)) as entries:
            for entry in entries:
                if entry.name.endswith(_RESERVE):
                    if drop_stale and self._drop_if_stale(entry.path):
                        continue
                    with contextlib.suppress(OSError, ValueError), open(entry.path) as f:
                        total += int(f.read() or 0)
        return total

    @staticmethod
    def _drop_if_stale(reservation: str) -> bool:
        """Remove a reservation left by a process that died mid-download (call under the cache lock).

        A live download holds its chunk's download lock for as long as its reservation
        exists; a reservation whose download lock nobody holds can never be released.
        """
        try:
            fd = os.open(reservation[: -len(_RESERVE)] + ".download", os.O_RDWR)
        except FileNotFoundError:
            fd = -1
        try:
            if fd >= 0:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return False  # the download is in progress
            with contextlib.suppress(FileNotFoundError):
                os.unlink(reservation)
            return True
        finally:
            if fd >= 0:
                os.close(fd)

    def _files(self) -> list[os.DirEntry[str]]:
        found: list[os.DirEntry[str]] = []
        stack = [self.folder]
        while stack:
            with contextlib.suppress(FileNotFoundError), os.scandir(stack.pop()) as entries:
                for entry in entries:
                    if entry.name.startswith("."):
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.name != "index.json":
                        found.append(entry)
        return found

    def _reserve(self, name: str, reservation: str, size: int, wait: bool) -> bool:
        if self.max_bytes is None:
            return True
        if size > self.max_bytes:
            raise CacheFullError(
                f"chunk {name} needs {size} bytes but max_cache_size is {self.max_bytes}: raise max_cache_size"
            )
        deadline = time.monotonic() + self.wait_timeout
        while True:
            with self._flock(os.path.join(self.folder, _LOCKS, "cache.lock"), fcntl.LOCK_EX):
                if self._make_room(size):
                    with open(reservation, "w") as f:
                        f.write(str(size))
                    return True
            if not wait:
                return False
            if time.monotonic() > deadline:
                raise CacheFullError(
                    f"no room for chunk {name} ({size} bytes) within max_cache_size={self.max_bytes} after "
                    f"{self.wait_timeout:.0f}s: every cached chunk is in use; raise max_cache_size"
                )
            time.sleep(0.02)

    def _make_room(self, size: int) -> bool:
        # Reservations first, then files: a download that finishes in between renames its
        # file into place before it drops its reservation, so it is counted at least once.
        reserved = self._reserved(drop_stale=True)
        sizes = {}
        for entry in self._files():
            with contextlib.suppress(OSError):
                sizes[entry.path] = entry.stat()
        used = reserved + sum(stat.st_size for stat in sizes.values())
        if used + size <= self.max_bytes:  # type: ignore[operator]
            return True
        candidates = sorted((stat.st_mtime, path) for path, stat in sizes.items())
        for _, path in candidates:
            name = os.path.relpath(path, self.folder)
            if self._evict(name):
                used -= sizes[path].st_size
                if used + size <= self.max_bytes:  # type: ignore[operator]
                    return True
        return False

    def _evict(self, name: str) -> bool:
        fd = os.open(self._lock_path(name), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # a reader holds it
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path(name))
            return True
        finally:
            os.close(fd)

    def discard(self, name: str) -> bool:
        """Remove ``name`` (a bad copy) unless another process is reading it."""
        return self._evict(name)

    def clear(self) -> None:
        """Remove every chunk nobody holds."""
        for entry in self._files():
            self._evict(os.path.relpath(entry.path, self.folder))

