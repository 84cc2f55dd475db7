"""Open chunks of one process: memory-mapped, held in the cache while open, prefetched ahead.

A DataLoader worker reads its samples chunk after chunk. :class:`OpenChunks` keeps the
few chunks it is reading mapped (and held, so the cache never evicts them), and
:class:`Prefetcher` downloads the next chunks of the worker's plan in a background thread
while the current ones are decoded.
"""

from __future__ import annotations

import mmap
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable

from litdata_format import ChunkFormatError, ClassicChunk, FramedChunk, open_chunk_bytes
from litdata_format.encryption import decrypt_chunk

from .source import DatasetSource


def map_chunk_file(path: str) -> mmap.mmap | bytes:
    """Map a chunk copy-on-write: views into it are writable without copying the file."""
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return b""
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)


#: How many chunks a process keeps mapped when they are read in place (no cache involved).
IN_PLACE_KEEP_OPEN = 64


class OpenChunks:
    """The chunks this process has mapped and holds, least recently used first.

    One chunk by default: a worker's plan reads a chunk's items together, and holding
    fewer chunks leaves more of a tight cache to the prefetcher and the other workers.
    """

    def __init__(self, source: DatasetSource, keep_open: int = 1) -> None:
        self.source = source
        self.keep_open = keep_open
        self._open: OrderedDict[int, ClassicChunk | FramedChunk] = OrderedDict()
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def get(self, number: int) -> ClassicChunk | FramedChunk:
        if self._pid != os.getpid():  # a forked copy starts with nothing mapped
            self._open, self._lock, self._pid = OrderedDict(), threading.Lock(), os.getpid()
        chunk = self._open.get(number)
        if chunk is not None:
            self._open.move_to_end(number)
            return chunk
        return self._load(number)

    def _load(self, number: int) -> ClassicChunk | FramedChunk:
        source = self.source
        info = source.index.chunks[number]
        name = source.local_name(number)
        in_cache = not source.reads_in_place(number)
        # Chunks read in place cost no cache room: keep many mapped, so random access
        # (ds[i] jumping between chunks) does not re-map a chunk on every jump.
        limit = self.keep_open if in_cache else max(self.keep_open, IN_PLACE_KEEP_OPEN)
        with self._lock:  # let go of older chunks first, so they can be evicted to make room
            while len(self._open) >= limit:
                old, _ = self._open.popitem(last=False)
                if not source.reads_in_place(old):
                    source.cache.release(source.local_name(old))
        if in_cache:
            source.cache.hold(name)
        try:
            source.ensure_local(number)
            data = map_chunk_file(source.local_path(number))
            if source.chunk_encryption is not None:  # held decrypted in memory while open
                data = decrypt_chunk(source.chunk_encryption, data, f"{info.filename} of {source.url}")
            chunk = open_chunk_bytes(data, info.filename)
            if len(chunk) != info.chunk_size:
                raise ChunkFormatError(
                    f"chunk {info.filename} holds {len(chunk)} items but index.json says {info.chunk_size}"
                )
        except ChunkFormatError:
            if in_cache:  # never keep a bad copy: the next read fetches the chunk again
                source.cache.release(name)
                source.cache.discard(name)
            raise
        except BaseException:
            if in_cache:
                source.cache.release(name)
            raise
        with self._lock:
            self._open[number] = chunk
        return chunk

    def close(self) -> None:
        with self._lock:
            for number in list(self._open):
                if not self.source.reads_in_place(number):
                    self.source.cache.release(self.source.local_name(number))
            self._open.clear()

    def __getstate__(self) -> dict:
        return {"source": self.source, "keep_open": self.keep_open}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["source"], state["keep_open"])  # type: ignore[misc]


class Prefetcher:
    """Downloads the chunks a worker will need next, ``ahead`` chunks in advance.

    ``order`` yields the worker's chunks in order of first use, lazily (a plan of a
    billion samples is never listed); :meth:`reading` tells the thread which chunk the
    reader has reached. Prefetches never wait for cache room.
    """

    def __init__(self, source: DatasetSource, order: Iterable[int], ahead: int) -> None:
        self.source = source
        self.ahead = ahead
        self.error: BaseException | None = None
        self._order = iter(order)
        self._listed: list[int] = []
        self._first_use: dict[int, int] = {}
        self._exhausted = False
        self._position = 0
        self._stop = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="litdata-prefetch", daemon=True)
        if ahead > 0:
            self._thread.start()

    def _pull_until(self, count: int) -> None:
        """List the order up to ``count`` chunks (caller holds the lock)."""
        while len(self._listed) < count and not self._exhausted:
            number = next(self._order, None)
            if number is None:
                self._exhausted = True
            elif number not in self._first_use:
                self._first_use[number] = len(self._listed)
                self._listed.append(number)

    def reading(self, number: int) -> None:
        """The reader has reached chunk ``number``: keep ``ahead`` chunks beyond it coming."""
        if self.ahead <= 0:
            return
        with self._cond:
            position = self._first_use.get(number)
            while position is None and not self._exhausted:
                self._pull_until(len(self._listed) + 64)
                position = self._first_use.get(number)
            if position is not None and position > self._position:
                self._position = position
                self._cond.notify()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop prefetching and wait (up to ``timeout`` s, the end of a download in
        progress) for the thread to end: a process that forks DataLoader workers while
        one of its threads is ending can leave a worker deadlocked inside CPython's fork
        handling, and the next epoch forks right after this one stops."""
        with self._cond:
            self._stop = True
            self._cond.notify()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        done: set[int] = set()
        try:
            while True:
                with self._cond:
                    while not self._stop:
                        end = self._position + 1 + self.ahead
                        self._pull_until(end)
                        todo = [n for n in self._listed[self._position : end] if n not in done]
                        if todo:
                            break
                        if self._exhausted and end >= len(self._listed):
                            return  # everything up to the end is fetched
                        self._cond.wait()
                    if self._stop:
                        return
                # Another worker may be downloading the first of them: start on the next
                # ones meanwhile, so that workers sharing a plan download in parallel.
                progress = False
                for number in todo:
                    if self._stop:
                        return
                    if self.source.reads_in_place(number) or self.source.ensure_local(number, wait=False):
                        done.add(number)
                        progress = True
                if not progress:
                    with self._cond:  # busy elsewhere or no room yet: look again shortly
                        self._cond.wait(timeout=0.02)
        except BaseException as exc:  # the reader meets the same error and reports it
            self.error = exc
