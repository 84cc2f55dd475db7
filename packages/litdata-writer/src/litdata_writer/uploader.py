"""A background thread that moves finished files to the output store, in order.

Each worker process owns one. The worker hands over a staged file as soon as it is
complete (a closed chunk, a file ``map``'s fn wrote) and goes on computing while the file
uploads, so compute and upload overlap. The queue is bounded: when uploads fall behind,
the worker waits instead of filling the local disk. Jobs run in submission order, which
is what lets a checkpoint be queued right after the chunk it describes and only reach
the store once that chunk is stored. The first failure is kept and re-raised to the
worker on its next call, so an upload error stops the worker instead of being lost.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

from litdata_storage import Store

_STOP = object()


class UploadError(RuntimeError):
    """An upload to the output store failed."""


class Uploader:
    """Uploads staged files (then deletes them) and small objects, in FIFO order."""

    def __init__(self, store: Store, max_pending: int = 2) -> None:
        self.store = store
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, max_pending))
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="litdata-uploader", daemon=True)
        self._thread.start()

    def upload_file(self, key: str, path: str, *, delete: bool = True) -> None:
        """Queue ``path`` for upload as ``key``; blocks while ``max_pending`` jobs wait."""
        self._submit(("file", key, path, delete))

    def put(self, key: str, data: bytes) -> None:
        """Queue a small object (a checkpoint) to be written after everything queued before it."""
        self._submit(("bytes", key, data, False))

    def call(self, fn: Callable[[], None]) -> None:
        """Queue an arbitrary step (run in order with the uploads)."""
        self._submit(("call", "", fn, False))

    def _submit(self, job: tuple[str, str, Any, bool]) -> None:
        self.raise_if_failed()
        while True:
            try:
                self._queue.put(job, timeout=0.5)
                return
            except queue.Full:
                self.raise_if_failed()

    def raise_if_failed(self) -> None:
        """Raise UploadError when an earlier job failed in the upload thread."""
        if self._error is not None:
            raise UploadError(f"uploading to {self.store.url()} failed: {self._error}") from self._error

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is _STOP:
                return
            if self._error is not None:
                continue  # drain without working once something failed
            kind, key, payload, delete = job
            try:
                if kind == "file":
                    self.store.put_file(key, payload)
                    if delete:
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(payload)
                elif kind == "bytes":
                    self.store.put(key, payload)
                else:
                    payload()
            except BaseException as exc:  # noqa: BLE001 - kept and re-raised in the worker
                self._error = exc

    def close(self) -> None:
        """Wait until every queued job is done; raise the first failure, if any."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        self.raise_if_failed()
