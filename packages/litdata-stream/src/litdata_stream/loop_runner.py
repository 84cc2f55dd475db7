"""One background asyncio event loop per process, for code that must look synchronous.

``StreamingRawDataset[i]`` and ``__getitems__`` are plain calls (a DataLoader worker or a
user's thread makes them) but fetch files concurrently with asyncio. Running each batch
with ``asyncio.run`` would be simpler but would end, at every return, the look-ahead
downloads scheduled for the next batch; and it fails when the caller already runs a
loop. So every process gets one loop on a daemon thread, started on first use, and
callers hand it coroutines (:func:`run_sync`) from any thread.

Fork safety: a forked child inherits the parent's globals but not its threads, so the
loop object it sees is dead. The runner records the pid it was made in and a child makes
its own on first use; ``os.register_at_fork`` resets the creation lock in the child, so a
fork taken while another thread held it cannot deadlock the child.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopRunner:
    """An event loop running forever on a daemon thread of the process that made it."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        self._thread = threading.Thread(target=self._main, args=(started,), name="litdata-raw-loop", daemon=True)
        self._thread.start()
        started.wait()

    def _main(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(started.set)
        self.loop.run_forever()

    def alive(self) -> bool:
        """Whether this runner belongs to the current process and its thread still runs."""
        return self.pid == os.getpid() and self._thread.is_alive()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait for its result (its exception is raised here)."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("run_sync called from the loop's own thread: await the coroutine instead")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()


_lock = threading.Lock()
_runner: LoopRunner | None = None


def _reset_after_fork() -> None:
    global _lock, _runner
    _lock = threading.Lock()
    _runner = None


os.register_at_fork(after_in_child=_reset_after_fork)


def loop_runner() -> LoopRunner:
    """This process's runner, made on first use (again in a forked child)."""
    global _runner
    runner = _runner
    if runner is not None and runner.alive():
        return runner
    with _lock:
        if _runner is None or not _runner.alive():
            _runner = LoopRunner()
        return _runner


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on this process's background loop and return its result."""
    return loop_runner().run(coro)
