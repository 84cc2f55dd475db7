"""The chunks one process holds open, for every source (LitData chunks, parquet, MDS, WebDataset, raw files)."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any, Generic, TypeVar

from litdata_format import ChunkFormatError

ChunkT = TypeVar("ChunkT")


class OpenSourceChunks(Generic[ChunkT]):
    """The chunks of a source one process holds open, least recently used first, each
    held in the node cache while open (so the cache never evicts a chunk being read).

    Any source with ``read_chunk(number)`` uses it as is (parquet, MDS, WebDataset, raw
    files); :class:`litdata_stream.chunks.OpenChunks` only changes how a LitData chunk is
    opened (:meth:`_read`) and how many stay open when read in place (:meth:`_limit`)."""

    def __init__(self, source: Any, keep_open: int = 1) -> None:
        self.source = source
        self.keep_open = keep_open
        self._open: OrderedDict[int, ChunkT] = OrderedDict()
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def get(self, number: int) -> ChunkT:
        """Chunk ``number``, opening it if needed and holding its file in the cache while open.

        Past the limit of open chunks, the least recently used one is closed and released first.
        After a fork the inherited set is dropped, since the parent's holds are not this process's.
        """
        if self._pid != os.getpid():
            self._open, self._lock, self._pid = OrderedDict(), threading.Lock(), os.getpid()
        with self._lock:  # another thread may be letting chunks go at the same moment
            chunk = self._open.get(number)
            if chunk is not None:
                self._open.move_to_end(number)
                return chunk
        return self._load(number)

    def _limit(self, in_cache: bool) -> int:
        """How many chunks may stay open (``in_cache``: the chunk being opened needs cache room)."""
        return max(self.keep_open, 1)

    def _read(self, number: int) -> ChunkT:
        """Open local chunk ``number`` (it is in the cache, or read in place)."""
        chunk: ChunkT = self.source.read_chunk(number)
        return chunk

    def _load(self, number: int) -> ChunkT:
        source = self.source
        in_cache = not source.reads_in_place(number)
        name = source.local_name(number)
        with self._lock:  # let go of older chunks first, so they can be evicted to make room
            while len(self._open) >= self._limit(in_cache):
                old, _ = self._open.popitem(last=False)
                if not source.reads_in_place(old):
                    source.cache.release(source.local_name(old))
        if in_cache:
            source.cache.hold(name)
        try:
            source.ensure_local(number)
            chunk = self._read(number)
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
        """Forget every open chunk and release its hold on the cache."""
        with self._lock:
            for number in list(self._open):
                if not self.source.reads_in_place(number):
                    self.source.cache.release(self.source.local_name(number))
            self._open.clear()

    def __getstate__(self) -> dict[str, Any]:
        return {"source": self.source, "keep_open": self.keep_open}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["source"], state["keep_open"])  # type: ignore[misc]
