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
from collections.abc import Iterable

from litdata_format import ChunkFormatError, ClassicChunk, FramedChunk, open_chunk_bytes
from litdata_format.encryption import decrypt_chunk

from .source import DatasetSource
from .sources.held_chunks import OpenSourceChunks


def map_chunk_file(path: str) -> mmap.mmap | bytes:
    """Map a chunk copy-on-write: views into it are writable without copying the file."""
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return b""
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)


#: How many chunks a process keeps mapped when they are read in place (no cache involved).
IN_PLACE_KEEP_OPEN = 64


class OpenChunks(OpenSourceChunks["ClassicChunk | FramedChunk"]):
    """The LitData chunks this process has mapped and holds, least recently used first.

    One chunk by default: a worker's plan reads a chunk's items together, and holding
    fewer chunks leaves more of a tight cache to the prefetcher and the other workers.
    """

    source: DatasetSource

    def _limit(self, in_cache: bool) -> int:
        # Chunks read in place cost no cache room: keep many mapped, so random access
        # (ds[i] jumping between chunks) does not re-map a chunk on every jump.
        return max(self.keep_open, 1) if in_cache else max(self.keep_open, IN_PLACE_KEEP_OPEN)

    def _read(self, number: int) -> ClassicChunk | FramedChunk:
        """Map chunk ``number`` (decrypted in memory when chunk-encrypted) and check its item count."""
        source = self.source
        info = source.index.chunks[number]
        data = map_chunk_file(source.local_path(number))
        if source.chunk_encryption is not None:  # held decrypted in memory while open
            data = decrypt_chunk(source.chunk_encryption, data, f"{info.filename} of {source.url}")
        chunk = open_chunk_bytes(data, info.filename)
        if len(chunk) != info.chunk_size:
            raise ChunkFormatError(
                f"chunk {info.filename} holds {len(chunk)} items but index.json says {info.chunk_size}"
            )
        return chunk


class Prefetcher:
    """Downloads the chunks a worker will need next, ``ahead`` chunks in advance.

    ``order`` yields the worker's chunks in order of use, lazily (a plan of a billion
    samples is never listed), a chunk again each time it comes back
    (:func:`litdata_stream.chunk_runs.chunk_runs`);
    :meth:`reading` tells the thread which chunk the reader has reached: the occurrence at
    or after the reader's position (``window`` entries back still count as the current
    ones: chunks read together). Entries the reader has passed are dropped, so memory
    stays O(ahead + window) however long the plan. Prefetches never wait for cache room.
    """

    #: How far past the reader's position :meth:`reading` looks for the chunk it reached;
    #: beyond that the reader is off the listing (it then reads the chunk on demand).
    HORIZON = 256

    def __init__(self, source: DatasetSource, order: Iterable[int], ahead: int, window: int = 1) -> None:
        self.source = source
        self.ahead = ahead
        self.window = max(int(window), 1)
        self.error: BaseException | None = None
        self._order = iter(order)
        self._listed: list[int] = []  # entries from number ``_base`` of the order on
        self._base = 0
        self._done: set[int] = set()  # entry numbers fetched (or found local)
        self._exhausted = False
        self._position = 0
        self._stop = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="litdata-prefetch", daemon=True)
        if ahead > 0:
            self._thread.start()

    def _pull_until(self, count: int) -> None:
        """List the order up to entry ``count`` (caller holds the lock)."""
        while self._base + len(self._listed) < count and not self._exhausted:
            number = next(self._order, None)
            if number is None:
                self._exhausted = True
            else:
                self._listed.append(number)

    def _entry(self, i: int) -> int:
        return self._listed[i - self._base]

    def _forget_passed(self) -> None:
        """Drop the entries more than ``window`` behind the reader (caller holds the lock)."""
        keep_from = self._position - self.window
        if keep_from - self._base > 1024:
            del self._listed[: keep_from - self._base]
            self._base = keep_from
            self._done = {i for i in self._done if i >= keep_from}

    def reading(self, number: int) -> None:
        """The reader has reached chunk ``number``: keep ``ahead`` chunks beyond it coming."""
        if self.ahead <= 0:
            return
        with self._cond:
            here = self._position
            self._pull_until(here + 1)
            for i in range(max(here - self.window + 1, self._base), here + 1):
                if i < self._base + len(self._listed) and self._entry(i) == number:
                    return  # one of the chunks being read together
            for i in range(here + 1, here + 1 + self.HORIZON):
                self._pull_until(i + 1)
                if i >= self._base + len(self._listed):
                    return
                if self._entry(i) == number:
                    self._position = i
                    self._forget_passed()
                    self._cond.notify()
                    return

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
        try:
            while True:
                with self._cond:
                    while not self._stop:
                        end = self._position + 1 + self.ahead
                        self._pull_until(end)
                        listed_end = min(end, self._base + len(self._listed))
                        todo = [(i, self._entry(i)) for i in range(max(self._position, self._base), listed_end)
                                if i not in self._done]
                        if todo:
                            break
                        if self._exhausted and end >= self._base + len(self._listed):
                            return  # everything up to the end is fetched
                        self._cond.wait()
                    if self._stop:
                        return
                # Another worker may be downloading the first of them: start on the next
                # ones meanwhile, so that workers sharing a plan download in parallel.
                progress = False
                for i, number in todo:
                    if self._stop:
                        return
                    if self.source.reads_in_place(number) or self.source.ensure_local(number, wait=False):
                        with self._cond:
                            self._done.add(i)
                        progress = True
                if not progress:
                    with self._cond:  # busy elsewhere or no room yet: look again shortly
                        self._cond.wait(timeout=0.02)
        except BaseException as exc:  # the reader meets the same error and reports it
            self.error = exc
