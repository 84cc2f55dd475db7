"""One ``optimize()`` run at a time per output: the output lock.

Why: a run reads the old ``index.json`` (to number appended chunks after the old ones),
writes ``chunk-{rank}-{n}``, ``{rank}.index.json`` and ``.checkpoints/{rank}.json``, and
finally rewrites ``index.json`` and deletes every chunk the new index does not list. Two
runs on one output at once use the same names: each overwrites the other's chunks and
partial indexes, so each waits for a partial index with its own fingerprint that never
comes (or one merges, deletes the other's files, and the other waits for them forever).
So node 0 of a run holds ``.litdata-writer.lock`` in the output from before it reads the
old index until ``index.json`` is published; a second run waits for it (at most
``LITDATA_OUTPUT_LOCK_TIMEOUT`` seconds, default 3600) and then works on the dataset the
first one left, so both appends land, every item once.

The other nodes of a run never take the lock: they wait until the lock names their run
(the record holds a key of the run's inputs and settings), so they too read the old index
only once the previous run is finished. They wait at most the lock timeout plus the node
wait timeout (``LITDATA_NODE_WAIT_TIMEOUT``), since node 0 may itself be waiting.

Guarantees by storage:

- Local and shared disks (a path, ``file://``, ``local:``): the kernel's ``flock`` on the
  lock file. Exclusive; released by the kernel when the holder dies (on NFS when the
  client's lease ends), so a crash never leaves a lock behind. The file is removed on
  release; a waiter that locked a file just removed retries on the new one.
- Object stores (S3, GCS, Azure): the store offers no conditional write, so the lock is
  best effort: a writer claims a free (or stale) lock by writing its record, waits
  ``SETTLE_SECONDS`` and keeps the lock only if its record is still there; the holder
  rewrites it every few seconds, and a record unchanged for ``LITDATA_OUTPUT_LOCK_STALE``
  seconds (default 60; at once when its process, on this host, is gone) is stale and may
  be taken over. Two writers racing within the settle time could both believe they
  hold it; the merge therefore checks, just before it writes ``index.json``, that it
  still holds the lock and that ``index.json`` is still the one it started from, and
  refuses to publish otherwise (``ConcurrentWriteError``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import os
import socket
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

from litdata_storage import Store

from .heartbeat import ChangeWatch, Heartbeat, read_record, seconds_from_env
from .node_env import NODE_WAIT_TIMEOUT_ENV, NodeInfo, alive_key, heartbeat_interval, node_wait_timeout
from .output import local_folder
from .resume import fingerprint

if TYPE_CHECKING:
    from .rank_tasks import RunPlan

LOCK_KEY = ".litdata-writer.lock"
LOCK_TIMEOUT_ENV = "LITDATA_OUTPUT_LOCK_TIMEOUT"
LOCK_STALE_ENV = "LITDATA_OUTPUT_LOCK_STALE"
DEFAULT_LOCK_TIMEOUT = 3600.0
DEFAULT_LOCK_STALE = 60.0
SETTLE_SECONDS = 1.0
POLL_SECONDS = 0.25
LOG_EVERY_SECONDS = 30.0

F = TypeVar("F", bound=Callable[..., Any])


class OutputLockedError(TimeoutError):
    """Another run kept the output locked for longer than this run was willing to wait."""


class ConcurrentWriteError(RuntimeError):
    """Another writer changed the output while this run held (or believed it held) the lock."""


def run_key(plan: RunPlan, *parts: object) -> str:
    """Names one run (its inputs, world size and ``parts``: settings) alike on every node."""
    return fingerprint(
        {"world_size": plan.world_size, "parts": [repr(part) for part in parts]},
        ((task.positions, task.argument) for task in plan.tasks),
    )


def lock_timeout() -> float:
    """Seconds a run waits for another run's lock (``LITDATA_OUTPUT_LOCK_TIMEOUT``, default 3600)."""
    return seconds_from_env(LOCK_TIMEOUT_ENV, DEFAULT_LOCK_TIMEOUT)


def lock_stale_after() -> float:
    """Seconds an object-store lock record may stay unchanged before it counts as stale (default 60)."""
    return seconds_from_env(LOCK_STALE_ENV, DEFAULT_LOCK_STALE)


def _describe(record: dict[str, Any] | None) -> str:
    if not record:
        return "another writer"
    since = record.get("since")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(since))) if since else "?"
    return f"pid {record.get('pid')} on host {record.get('host')!r} (since {when})"


def _process_gone(record: dict[str, Any]) -> bool:
    """True when the record's process ran on this host and no longer exists."""
    if record.get("host") != socket.gethostname() or not isinstance(record.get("pid"), int):
        return False
    try:
        os.kill(record["pid"], 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


class OutputLock:
    """Node 0's exclusive hold on one output (see the module docstring for the rules)."""

    def __init__(self, store: Store, run: str, log: Callable[[str], None]) -> None:
        self.store = store
        self.run = run
        self.log = log
        self.token = uuid.uuid4().hex
        self.record = {
            "run": run,
            "owner": self.token,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "since": time.time(),
        }
        self._fd: int | None = None
        self._heartbeat: Heartbeat | None = None
        folder = local_folder(store)
        self._path = None if folder is None else os.path.join(folder, LOCK_KEY)

    # ------------------------------------------------------------------ acquire
    def acquire(self, timeout: float | None = None) -> OutputLock:
        """Wait until this run holds the lock, at most ``timeout`` seconds; return self.

        ``timeout`` defaults to ``LITDATA_OUTPUT_LOCK_TIMEOUT``. While waiting it logs who holds the
        lock every 30 s; when the time is up it raises OutputLockedError.
        """
        timeout = lock_timeout() if timeout is None else timeout
        deadline = time.monotonic() + timeout
        next_log = time.monotonic()
        watch = ChangeWatch()
        stale_after = lock_stale_after()
        while True:
            if self._try_acquire(watch, stale_after):
                return self
            holder = read_record(self.store, LOCK_KEY)
            now = time.monotonic()
            if now >= deadline:
                raise OutputLockedError(
                    f"gave up after {timeout:.0f}s waiting for {self.store.url(LOCK_KEY)}: {_describe(holder)} "
                    "is writing to this output (another optimize() call). Let it finish and run this call "
                    f"again (it then adds to what the other left), or wait longer with {LOCK_TIMEOUT_ENV}=<seconds>."
                    + (
                        ""
                        if self._path is not None
                        else " If no such writer runs any more, delete that lock object."
                    )
                )
            if now >= next_log:
                self.log(
                    f"optimize: {self.store.url()} is being written by {_describe(holder)}; waiting for it "
                    f"(at most {max(0.0, deadline - now):.0f}s more, {LOCK_TIMEOUT_ENV})"
                )
                next_log = now + LOG_EVERY_SECONDS
            time.sleep(POLL_SECONDS)

    def _try_acquire(self, watch: ChangeWatch, stale_after: float) -> bool:
        return self._try_flock() if self._path is not None else self._try_claim(watch, stale_after)

    def _try_flock(self) -> bool:
        assert self._path is not None
        os.makedirs(os.path.dirname(self._path), exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise
        try:
            same_file = os.fstat(fd).st_ino == os.stat(self._path).st_ino
        except FileNotFoundError:
            same_file = False
        if not same_file:  # the holder removed it between our open and our lock: retry
            os.close(fd)
            return False
        data = Heartbeat(self.store, LOCK_KEY, self.record, 1.0).payload()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        self._fd = fd
        return True

    def _try_claim(self, watch: ChangeWatch, stale_after: float) -> bool:
        current = read_record(self.store, LOCK_KEY)
        if current is not None:
            silent = watch.silent_for(LOCK_KEY, current)
            if silent < stale_after and not _process_gone(current):
                return False
        beat = Heartbeat(self.store, LOCK_KEY, self.record, stale_after / 4, still_mine=self.still_held)
        beat.beat()
        time.sleep(SETTLE_SECONDS)
        if not self.still_held():
            return False
        self._heartbeat = beat.start(first_beat=False)
        return True

    # ------------------------------------------------------------------ hold
    def still_held(self) -> bool:
        """Whether this run still holds the lock: its file lock is open, or the lock record is its own."""
        if self._path is not None:
            return self._fd is not None
        record = read_record(self.store, LOCK_KEY)
        return record is not None and record.get("owner") == self.token

    def check_held(self) -> None:
        """Raise ConcurrentWriteError when another writer has taken this lock over."""
        lost = self._heartbeat is not None and self._heartbeat.lost
        if lost or not self.still_held():
            raise ConcurrentWriteError(
                f"another writer took over {self.store.url(LOCK_KEY)} while this run was writing "
                f"(this run's lock looked stale: no heartbeat for {lock_stale_after():.0f}s, {LOCK_STALE_ENV}); "
                "index.json was not written. Make sure one optimize() call at a time writes to this "
                "output, then run this call again."
            )

    def release(self) -> None:
        """Give the lock up: remove and unlock the lock file, or stop the heartbeat and delete the record.

        The record of an object store is deleted only while it is still this run's own.
        """
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._path)  # type: ignore[arg-type]
            os.close(self._fd)
            self._fd = None
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None
            if self.still_held():
                self.store.delete(LOCK_KEY)


class RunMember:
    """A node other than 0: waits until node 0 holds the lock for this run, then shows it is alive."""

    def __init__(self, store: Store, run: str, node_rank: int, log: Callable[[str], None]) -> None:
        self.store = store
        self.run = run
        self.node_rank = node_rank
        self.log = log
        self._heartbeat: Heartbeat | None = None

    def join(self) -> RunMember:
        """Wait until node 0 holds the lock for this run, then start this node's alive record; return self.

        Raises OutputLockedError after the lock timeout plus the node wait timeout.
        """
        timeout = lock_timeout() + node_wait_timeout()
        start = time.monotonic()
        next_log = start + min(LOG_EVERY_SECONDS, 5.0)
        while True:
            record = read_record(self.store, LOCK_KEY)
            if record is not None and record.get("run") == self.run:
                break
            now = time.monotonic()
            if now - start >= timeout:
                raise OutputLockedError(
                    f"node {self.node_rank} gave up after {timeout:.0f}s waiting for node 0 to start this run on "
                    f"{self.store.url()} (node 0 takes {self.store.url(LOCK_KEY)} when it starts"
                    + (f"; now held by {_describe(record)} for another run" if record else "")
                    + "). Start node 0 with the same optimize() call, the same NUM_NODES and NODE_RANK=0, or "
                    f"wait longer with {LOCK_TIMEOUT_ENV} / {NODE_WAIT_TIMEOUT_ENV}."
                )
            if now >= next_log:
                self.log(
                    f"optimize: node {self.node_rank} is waiting for node 0 to start on {self.store.url()}"
                )
                next_log = now + LOG_EVERY_SECONDS
            time.sleep(POLL_SECONDS)
        record = {"run": self.run, "node": self.node_rank, "host": socket.gethostname(), "pid": os.getpid()}
        key = alive_key(self.node_rank)
        self._heartbeat = Heartbeat(self.store, key, record, heartbeat_interval()).start()
        return self

    def release(self) -> None:
        """Stop this node's heartbeat and delete its alive record."""
        if self._heartbeat is not None:
            self._heartbeat.stop(delete=True)
            self._heartbeat = None


_HELD: ContextVar[list[OutputLock | RunMember] | None] = ContextVar(
    "litdata_writer_held_outputs", default=None
)


def hold_output(store: Store, node: NodeInfo, run: str, verbose: bool) -> None:
    """Take the lock (node 0) or join node 0's run (other nodes) until the call returns.

    Only valid inside a function decorated with ``releases_outputs``, which releases it
    whatever way the call ends.
    """
    held = _HELD.get()
    if held is None:
        raise RuntimeError("hold_output() needs a caller decorated with @releases_outputs")

    def log(text: str) -> None:
        if verbose:
            print(text, flush=True)

    if node.is_main:
        held.append(OutputLock(store, run, log).acquire())
    else:
        held.append(RunMember(store, run, node.node_rank, log).join())


def check_still_held(store: Store) -> None:
    """Raise ConcurrentWriteError when this call's lock on ``store`` was taken over."""
    for item in _HELD.get() or []:
        if isinstance(item, OutputLock) and item.store is store:
            item.check_held()


def releases_outputs(fn: F) -> F:
    """Release every lock ``hold_output`` took during the call, however it ends."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        token = _HELD.set([])
        try:
            return fn(*args, **kwargs)
        finally:
            held = _HELD.get() or []
            _HELD.reset(token)
            for item in reversed(held):
                item.release()

    return wrapper  # type: ignore[return-value]
