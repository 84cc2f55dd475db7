"""A small record a process rewrites in the output every few seconds to show it is alive.

Processes that wait on each other through shared storage (node 0 for the other nodes, a
writer for the holder of the output lock on an object store) cannot tell a slow peer
from a dead one by the files it produces: one chunk can take minutes. So the peer
rewrites a record with a growing ``beat`` counter, and the waiter judges liveness by
whether the record *changed* within a time limit, measured on the waiter's own
monotonic clock: clocks of different machines never need to agree.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from litdata_storage import NotFoundError, Store


def read_record(store: Store, key: str) -> dict[str, Any] | None:
    """The JSON record at ``key``; None when it is absent, half-written or not a record."""
    try:
        record = json.loads(store.get(key))
    except (NotFoundError, ValueError):
        return None
    return record if isinstance(record, dict) else None


class Heartbeat:
    """Rewrites ``record`` (plus ``beat``: a counter) at ``key`` every ``interval`` seconds.

    ``still_mine`` (optional) is asked before each beat; when it says False the beat stops
    and ``lost`` becomes True (the lock holder uses this: it must not overwrite a record
    that someone else now owns). ``stop()`` ends the thread and, with ``delete``, removes
    the record after the last beat, so no beat can land after the deletion.
    """

    def __init__(
        self,
        store: Store,
        key: str,
        record: dict[str, Any],
        interval: float,
        still_mine: Callable[[], bool] | None = None,
    ) -> None:
        self.store = store
        self.key = key
        self.record = dict(record)
        self.interval = max(0.05, interval)
        self.still_mine = still_mine
        self.lost = False
        self.beats = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def payload(self) -> bytes:
        """The bytes of one beat: ``record`` plus the current ``beat`` count and the wall-clock time."""
        return json.dumps({**self.record, "beat": self.beats, "time": time.time()}).encode()

    def beat(self) -> None:
        """Write one beat now, so a waiter sees the record change."""
        self.beats += 1
        self.store.put(self.key, self.payload())

    def start(self, first_beat: bool = True) -> Heartbeat:
        """Beat once now (unless ``first_beat`` is False), then keep beating in a thread; return self."""
        if first_beat:
            self.beat()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat {self.key}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if self.still_mine is not None and not self.still_mine():
                    self.lost = True
                    return
                self.beat()
            except Exception:  # noqa: BLE001 - a missed beat is retried at the next interval
                continue

    def stop(self, delete: bool = False) -> None:
        """End the beating thread and wait for it; with ``delete``, then remove the record."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if delete:
            self.store.delete(self.key)


class ChangeWatch:
    """Tracks when each watched record last changed, on this process's monotonic clock."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[Any, float]] = {}

    def silent_for(self, key: str, record: Any, now: float | None = None) -> float:
        """Seconds since ``record`` (the value now seen at ``key``) was last different."""
        now = time.monotonic() if now is None else now
        seen = self._last.get(key)
        if seen is None or seen[0] != record:
            self._last[key] = (record, now)
            return 0.0
        return now - seen[1]


def seconds_from_env(name: str, default: float) -> float:
    """A positive number of seconds from the environment variable ``name``, else ``default``."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} is not a number of seconds") from None
    if not seconds > 0:
        raise ValueError(f"environment variable {name}={value!r} must be a positive number of seconds")
    return seconds
