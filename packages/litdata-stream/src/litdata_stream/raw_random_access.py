"""Random access to a ``StreamingRawDataset``: ``dataset[i]`` and ``dataset.__getitems__``.

LitData's raw dataset is map-style: a plain ``DataLoader`` with a sampler calls
``__getitems__(indices)`` for each batch, and the files of a batch are fetched together
(largest first, so a big file overlaps the small ones; an index repeated in a batch is
fetched once). Ours streams through the epoch plan when iterated, and answers these calls
the same way LitData does, so code that indexes the dataset works unchanged.

After a batch of consecutive indices, the next ``max_prefetch`` items (this worker's
next batch, when DataLoader workers take batches in turn) are fetched in the background
into a small LRU of ``prefetch_cache_size`` entries. The fetching runs on the process's
background event loop (:mod:`litdata_stream.loop_runner`); all of this state is touched
only from that loop's thread, so concurrent callers need no lock. It is per process: a
pickled or forked copy starts empty.
"""

from __future__ import annotations

import asyncio
import operator
import os
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from .loop_runner import run_sync
from .raw_items import FileMetadata, bad_item_message

#: Aggregate look-ahead across a process's DataLoader workers (each gets its share).
AGGREGATE_PREFETCH = 64


class PrefetchState:
    """This process's prefetched items (an LRU) and look-ahead downloads in flight."""

    def __init__(self, capacity: int) -> None:
        self.pid = os.getpid()
        self.capacity = capacity
        self.done: OrderedDict[int, Any] = OrderedDict()
        self.inflight: dict[int, asyncio.Task[Any]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"capacity": self.capacity}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["capacity"])  # type: ignore[misc]  # a fresh state in the new process

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Forget tasks of another loop (another process, or a loop that was replaced)."""
        if self.loop is not loop:
            self.inflight = {}
            self.loop = loop

    def put(self, index: int, value: Any) -> None:
        """Keep ``value`` for ``index``, dropping the least recently used beyond capacity."""
        if self.capacity <= 0:
            return
        self.done[index] = value
        self.done.move_to_end(index)
        while len(self.done) > self.capacity:
            self.done.popitem(last=False)


_MISSING = object()


class RawRandomAccess:
    """``__getitem__`` / ``__getitems__`` / ``_download_batch`` for ``StreamingRawDataset``.

    The host class provides ``items``, ``cache_manager``, ``item_type``, ``transform``,
    ``max_prefetch``, ``prefetch_cache_size`` and ``_item_number(position)``.
    """

    items: list[Any]
    cache_manager: Any
    item_type: str
    transform: Any
    max_prefetch: int
    prefetch_cache_size: int

    def _item_number(self, position: int) -> int:  # pragma: no cover - provided by the host
        raise NotImplementedError

    def _positions(self) -> int:  # pragma: no cover - provided by the host
        raise NotImplementedError

    def _prefetch_state(self) -> PrefetchState:
        state = self.__dict__.get("_prefetch")
        if state is None or state.pid != os.getpid():
            state = self.__dict__["_prefetch"] = PrefetchState(self.prefetch_cache_size)
        return state

    def _checked_position(self, index: Any) -> int:
        if isinstance(index, bool) or not hasattr(index, "__index__"):
            raise TypeError(f"dataset indices must be ints, not {type(index).__name__}")
        index = operator.index(index)  # numpy ints from a sampler too
        count = self._positions()
        position: int = index + count if index < 0 else index
        if not 0 <= position < count:
            raise IndexError(f"Index {index} out of range for dataset with length {count}")
        return position

    def __getitem__(self, index: Any) -> Any:
        """The item at ``index``: its file's bytes (or path), or the list of them, transformed."""
        if isinstance(index, slice):
            return self.__getitems__(list(range(*index.indices(self._positions()))))
        self._checked_position(index)
        return run_sync(self._download_batch([index]))[0]

    # Streaming may read the stored item itself rather than call this (a subclass's own
    # ``__getitem__`` is called, as on any StreamingDataset).
    __getitem__.reads_stored_item = True  # type: ignore[attr-defined]

    def __getitems__(self, indices: Sequence[int]) -> list[Any]:
        """The items at ``indices`` (in that order), fetched concurrently."""
        if not isinstance(indices, (list, tuple, range)):
            raise TypeError(f"__getitems__ takes a list of indices, got {type(indices).__name__}")
        return run_sync(self._download_batch(list(indices)))

    async def _download_batch(self, indices: list[int]) -> list[Any]:
        """Fetch ``indices`` (prefetched ones from the LRU), then schedule the look-ahead."""
        positions = [self._checked_position(i) for i in indices]
        state = self._prefetch_state()
        state.bind(asyncio.get_running_loop())
        results: list[Any] = [_MISSING] * len(positions)
        wanted: dict[int, list[int]] = {}
        for slot, position in enumerate(positions):
            value = state.done.get(position, _MISSING)
            if value is _MISSING:
                wanted.setdefault(position, []).append(slot)
            else:
                results[slot] = value
        if wanted:
            order = sorted(wanted, key=self._size_of, reverse=True)  # largest first
            values = await asyncio.gather(*(self._resolve(position, state) for position in order))
            for position, value in zip(order, values):
                for slot in wanted[position]:
                    results[slot] = value
        self._schedule_prefetch(positions, state)
        return results

    async def _resolve(self, position: int, state: PrefetchState) -> Any:
        task = state.inflight.get(position)
        if task is not None:
            try:
                return await task
            except Exception:  # a failed look-ahead is retried by the caller that needs it
                pass
        value = await self._materialize(position)
        state.put(position, value)
        return value

    def _size_of(self, position: int) -> int:
        item = self.items[self._item_number(position)]
        if isinstance(item, FileMetadata):
            return item.size
        if isinstance(item, list):
            return sum(m.size for m in item if isinstance(m, FileMetadata))
        return 0

    async def _materialize(self, position: int) -> Any:
        item = self.items[self._item_number(position)]
        if isinstance(item, FileMetadata):
            data: Any = await self._fetch(item)
        elif isinstance(item, list) and all(isinstance(m, FileMetadata) for m in item):
            data = list(await asyncio.gather(*(self._fetch(m) for m in item)))
        else:
            raise TypeError(bad_item_message(item))
        if self.transform is not None:
            return await asyncio.to_thread(self.transform, data)
        return data

    async def _fetch(self, meta: FileMetadata) -> Any:
        if self.item_type == "path":
            return await self.cache_manager.ensure_file_async(meta.path, size=meta.size)
        return await self.cache_manager.download_file_async(meta.path, size=meta.size)

    def _schedule_prefetch(self, positions: list[int], state: PrefetchState) -> None:
        if self.max_prefetch <= 0 or self.prefetch_cache_size <= 0 or not positions:
            return
        if any(b - a != 1 for a, b in zip(positions, positions[1:])):
            return
        workers = _dataloader_workers()
        ahead = self.max_prefetch if workers <= 1 else max(1, min(self.max_prefetch, AGGREGATE_PREFETCH // workers))
        start = positions[0] + workers * len(positions)
        for position in range(start, min(start + ahead, self._positions())):
            if position in state.done or position in state.inflight:
                continue
            task = asyncio.ensure_future(self._prefetch_one(position, state))
            task.add_done_callback(_swallow)
            state.inflight[position] = task

    async def _prefetch_one(self, position: int, state: PrefetchState) -> Any:
        try:
            value = await self._materialize(position)
            state.put(position, value)
            return value
        finally:
            state.inflight.pop(position, None)


def _swallow(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: a failed look-ahead is not an error until the item is needed


def _dataloader_workers() -> int:
    from torch.utils.data import get_worker_info

    info = get_worker_info()
    return info.num_workers if info is not None else 1
