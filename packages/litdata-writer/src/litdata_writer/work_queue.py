"""The shared work queue of a node: workers take the next input when they are free.

This is LitData's default (``keep_data_ordered`` not True): a worker that gets cheap
inputs simply takes more of them, so no worker idles while another still has a long
static slice. The items of one worker stay in the order it received them, but the
dataset as a whole is no longer in input order, and a crashed run cannot resume (which
inputs a worker had is not known in advance).

The parent runs one feeder thread. It puts this node's tasks on a bounded queue (so a
huge input list or an endless loader is never all in flight), then one ``None`` per
worker. The same thread also serves the streamed sources: it forwards the values of a
caller's ``multiprocessing.Queue`` until the caller's ``None``, or the batches of a data
loader, numbering them in arrival order so an error can still name its input.
"""

from __future__ import annotations

import contextlib
import queue as queue_module
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .partition import Task

PUT_TIMEOUT = 0.2  # seconds between checks of the stop flag while the queue is full

# make_tasks(stopped) -> the tasks to feed; ``stopped()`` turns True when the run ends early.
TaskSource = Callable[[Callable[[], bool]], Iterable[Task]]


class InputFeedError(RuntimeError):
    """Reading the inputs failed in the parent (the loader or queue raised)."""


class QueuedTasks:
    """A worker's tasks, taken one by one from the node's shared queue until ``None``.

    The same object is given to every worker of the node; ``queue`` is set by the
    feeder just before the workers start (it travels with them, inherited or pickled).
    """

    def __init__(self) -> None:
        self.queue: Any = None

    def __iter__(self) -> Iterator[Task]:
        while True:
            task = self.queue.get()
            if task is None:
                return
            yield task


class TaskFeeder:
    """Parent side: fills the shared queue from ``make_tasks(stopped)`` in a background thread."""

    def __init__(self, make_tasks: TaskSource, prefetch: int = 0) -> None:
        self._make_tasks = make_tasks
        self._prefetch = prefetch
        self.handle = QueuedTasks()
        self._queue: Any = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self.fed = 0

    def open(self, ctx: Any, num_workers: int) -> None:
        """Create the queue in the workers' multiprocessing context (before they start)."""
        self._queue = ctx.Queue(maxsize=self._prefetch or max(4, 2 * num_workers))
        self.handle.queue = self._queue

    def start(self, num_workers: int) -> None:
        """Start the feeder thread; after the last task it puts one ``None`` per worker."""
        self._thread = threading.Thread(
            target=self._run, args=(num_workers,), name="litdata-input-feeder", daemon=True
        )
        self._thread.start()

    def _put(self, value: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(value, timeout=PUT_TIMEOUT)
                return True
            except queue_module.Full:
                continue
        return False

    def _run(self, num_workers: int) -> None:
        try:
            for task in self._make_tasks(self._stop.is_set):
                if not self._put(task):
                    return
                self.fed += 1
        except BaseException as exc:  # noqa: BLE001 - re-raised in the parent's main thread
            self._error = exc
            return
        for _ in range(num_workers):
            if not self._put(None):
                return

    def raise_if_failed(self) -> None:
        """Raise InputFeedError (once) when reading the inputs failed in the feeder thread."""
        if self._error is not None:
            error, self._error = self._error, None
            raise InputFeedError(f"reading the inputs failed: {type(error).__name__}: {error}") from error

    def close(self) -> None:
        """Stop the feeder (waiting up to 5 s for its thread) and close the queue without blocking on it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        if self._queue is not None:
            with contextlib.suppress(Exception):
                self._queue.close()
                self._queue.cancel_join_thread()


def list_tasks(tasks: list[Task], indices: list[int]) -> TaskSource:
    """A task source that feeds the planned ``tasks`` at ``indices``, in that order."""
    def make(stopped: Callable[[], bool]) -> Iterator[Task]:
        for index in indices:
            yield tasks[index]

    return make


def caller_queue_tasks(source: Any) -> TaskSource:
    """Values of the caller's ``multiprocessing.Queue`` until its ``None`` sentinel."""

    def make(stopped: Callable[[], bool]) -> Iterator[Task]:
        position = 0
        while True:
            try:
                value = source.get(timeout=PUT_TIMEOUT)
            except queue_module.Empty:
                if stopped():
                    return
                continue
            if value is None:
                return
            yield Task((position,), value)
            position += 1

    return make


def loader_tasks(loader: Any, node_rank: int = 0, num_nodes: int = 1) -> TaskSource:
    """Every batch of the loader is one input; with several nodes, node n takes batches n, n+N, ..."""

    def make(stopped: Callable[[], bool]) -> Iterator[Task]:
        for position, batch in enumerate(loader):
            if position % num_nodes == node_rank:
                yield Task((position,), batch)

    return make
