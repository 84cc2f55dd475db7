"""The open chunks of a foreign source, per process (parquet, MDS, WebDataset, raw files)."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

from litdata_format import ChunkFormatError

from .base import Chunk, ReadableChunkSource


class OpenSourceChunks:
    """The chunks of a foreign source one process holds open, least recently used first,
    each held in the node cache while open (as :class:`litdata_stream.chunks.OpenChunks`
    holds LitData chunks). Any source with ``read_chunk(number)`` uses it."""

    def __init__(self, source: ReadableChunkSource, keep_open: int = 1) -> None:
        self.source = source
        self.keep_open = keep_open
        self._open: OrderedDict[int, Chunk] = OrderedDict()
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def get(self, number: int) -> Chunk:
        """Chunk ``number``, opening it if needed and holding its file in the cache while open.

        Past ``keep_open`` open chunks, the least recently used one is closed and released first.
        After a fork the inherited set is dropped, since the parent's holds are not this process's.
        """
        if self._pid != os.getpid():
            self._open, self._lock, self._pid = OrderedDict(), threading.Lock(), os.getpid()
        chunk = self._open.get(number)
        if chunk is not None:
            self._open.move_to_end(number)
            return chunk
        source = self.source
        with self._lock:
            while len(self._open) >= max(self.keep_open, 1):
                old, _ = self._open.popitem(last=False)
                if not source.reads_in_place(old):
                    source.cache.release(source.local_name(old))
        in_cache = not source.reads_in_place(number)
        name = source.local_name(number)
        if in_cache:
            source.cache.hold(name)
        try:
            source.ensure_local(number)
            chunk = source.read_chunk(number)
        except ChunkFormatError:
            if in_cache:
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
        """Forget every open chunk and release its hold on the cache."""
        with self._lock:
            for number in list(self._open):
                if not self.source.reads_in_place(number):
                    self.source.cache.release(self.source.local_name(number))
            self._open.clear()

    def __getstate__(self) -> dict:
        return {"source": self.source, "keep_open": self.keep_open}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["source"], state["keep_open"])  # type: ignore[misc]
