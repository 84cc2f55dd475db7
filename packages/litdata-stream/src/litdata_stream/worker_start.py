"""Notice forked DataLoader workers that never start, and fork them again.

CPython before 3.11.10 and 3.12.6 (gh-112275) can leave a forked child stuck for ever in
its fork handling (``PyOS_AfterFork_Child``), before any Python code runs: it happens when
another thread of the parent, typically a C or C++ thread entering Python (gloo, torch),
held the interpreter's thread-list lock at the moment of the fork. The DataLoader then
waits for that worker's first batch for ever, with no error. It is rare (seen about once
in a few thousand forks of a training process with a gloo group, on a busy machine), and
a second fork almost always works.

So on ``fork``, each worker marks itself started (first thing, in
:class:`~litdata_stream.worker_setup.WorkerSetup`) in a byte array shared with the training
process, which waits for every mark right after starting the workers. A worker not
started within :func:`start_timeout` seconds is killed and the epoch's workers are
forked again, with a warning; after :data:`ATTEMPTS` tries the loader raises. A worker's
own ``worker_init_fn`` runs after the mark: a slow one is not mistaken for a stuck fork.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from typing import Any

START_TIMEOUT_ENV = "LITDATA_WORKER_START_TIMEOUT"
DEFAULT_START_TIMEOUT = 60.0
ATTEMPTS = 3


def start_timeout() -> float:
    """Seconds a forked worker gets to start (``LITDATA_WORKER_START_TIMEOUT``)."""
    text = os.environ.get(START_TIMEOUT_ENV)
    if text is None:
        return DEFAULT_START_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{START_TIMEOUT_ENV}={text!r}: expected a number of seconds") from None
    if value <= 0:
        raise ValueError(f"{START_TIMEOUT_ENV}={text!r}: must be positive")
    return value


class WorkerStarts:
    """One shared byte per worker of an epoch, set by the worker when it starts.

    Made before the fork (the children inherit the shared memory), read by the parent."""

    def __init__(self, num_workers: int) -> None:
        self._flags: Any = multiprocessing.RawArray("b", num_workers)

    def mark(self, worker_id: int) -> None:
        """Record that worker ``worker_id`` has started (called in the worker)."""
        self._flags[worker_id] = 1

    def missing(self) -> list[int]:
        """The ids of the workers that have not marked themselves yet."""
        return [i for i, flag in enumerate(self._flags) if not flag]

    def wait(self, workers: list[Any], timeout: float) -> list[int]:
        """Wait until every worker has marked itself or died; the ids still missing after
        ``timeout`` seconds (a dead worker is torch's to report, not counted here)."""
        deadline = time.monotonic() + timeout
        pause = 0.001
        while True:
            missing = [i for i in self.missing() if workers[i].is_alive()]
            if not missing or time.monotonic() >= deadline:
                return missing
            time.sleep(pause)
            pause = min(pause * 2, 0.05)


def kill_workers(workers: list[Any], ids: list[int]) -> None:
    """Kill the stuck workers (they run no Python code, so nothing else can stop them)."""
    for i in ids:
        try:
            workers[i].kill()
            workers[i].join(5.0)
        except (OSError, ValueError):  # already gone
            pass
