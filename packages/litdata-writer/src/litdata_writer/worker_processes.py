"""Worker processes: starting them, hearing from them, and stopping them all.

The parent starts one real process per writer rank and then only listens: workers send
small messages on one queue (progress counts, "done", or a failure with the input that
caused it and the worker's traceback). The parent stops every worker as soon as one
fails, dies (for example killed by the OOM killer), or the user presses Ctrl-C, and
never leaves a child behind: workers ignore SIGINT (the parent decides), are terminated
then killed, and on Linux ask the kernel to stop them if the parent itself dies.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import queue as queue_module
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .progress import Progress
from .work_queue import TaskFeeder

PROGRESS_EVERY = 0.2  # seconds between progress messages of one worker
DEATH_GRACE = 1.0  # seconds to wait for a dead worker's last messages


class WorkerError(RuntimeError):
    """A worker failed: ``fn`` raised on an input, an item could not be written, or it died.

    ``input_index`` is the failing input's position in ``inputs`` (None when the failure
    was not tied to an input) and ``worker_traceback`` the traceback printed in the worker.
    """

    def __init__(
        self, message: str, *, rank: int, input_index: int | None = None, worker_traceback: str = ""
    ) -> None:
        super().__init__(message)
        self.rank = rank
        self.input_index = input_index
        self.worker_traceback = worker_traceback


@dataclass
class Job:
    """What a worker process runs: ``body(payload, reporter)`` as writer rank ``rank``."""

    rank: int
    body: Callable[[Any, Reporter], None]
    payload: Any


class Reporter:
    """The worker's side of the channel to the parent."""

    def __init__(self, channel: Any, rank: int) -> None:
        self._channel = channel
        self.rank = rank
        self._inputs = 0
        self._items = 0
        self._last = time.monotonic()
        self.current: tuple[tuple[int, ...], Any] | None = None  # the task being processed

    def begin(self, positions: tuple[int, ...], argument: Any) -> None:
        """Remember the task being processed, so a failure or progress report can name its input."""
        self.current = (positions, argument)

    def end(self) -> None:
        """Forget the current task: a later failure is not blamed on an input."""
        self.current = None

    def progress(self, inputs: int = 0, items: int = 0, *, force: bool = False) -> None:
        """Count work done; send the counts to the parent at most every 0.2 s, or now with ``force``."""
        self._inputs += inputs
        self._items += items
        now = time.monotonic()
        if force or now - self._last >= PROGRESS_EVERY:
            self.flush()
            self._last = now

    def flush(self) -> None:
        """Send the counts not yet reported, if any, to the parent."""
        if self._inputs or self._items:
            position = self.current[0][0] if self.current else None
            self._channel.put(("progress", self.rank, self._inputs, self._items, position))
            self._inputs = self._items = 0

    def failed(self, exc: BaseException) -> None:
        """Report ``exc`` to the parent with the current input, the traceback and the pickled exception.

        Call it in the ``except`` block: the traceback is that of the exception being handled.
        """
        positions, argument = self.current if self.current else (None, None)
        try:
            pickled = pickle.dumps(exc)
        except Exception:  # noqa: BLE001 - the text is enough
            pickled = None
        self._channel.put(
            (
                "error",
                self.rank,
                {
                    "positions": positions,
                    "input": _short_repr(argument) if positions is not None else None,
                    "error": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc(),
                    "exception": pickled,
                },
            )
        )

    def done(self) -> None:
        """Send the last counts and tell the parent this rank has finished."""
        self.flush()
        self._channel.put(("done", self.rank))


def _short_repr(value: Any, limit: int = 200) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001
        text = f"<{type(value).__name__} with a failing repr>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _die_with_parent() -> None:
    """Linux: have the kernel send SIGTERM to this worker when its parent dies."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


def _worker_entry(job: Job, channel: Any, parent_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent()
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
    reporter = Reporter(channel, job.rank)
    try:
        job.body(job.payload, reporter)
        reporter.done()
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, then exit 1
        with contextlib.suppress(Exception):
            reporter.failed(exc)
        channel.close()
        channel.join_thread()
        os._exit(1)
    channel.close()
    channel.join_thread()


def default_start_method() -> str:
    """fork where it exists and is the platform default (Linux), else spawn."""
    methods = multiprocessing.get_all_start_methods()
    return "fork" if sys.platform.startswith("linux") and "fork" in methods else "spawn"


def _failure(rank: int, info: dict[str, Any], what: str) -> WorkerError:
    positions = info.get("positions")
    if positions:
        if len(positions) == 1:
            where = f"inputs[{positions[0]}] = {info['input']}"
        else:
            where = f"the batch inputs[{positions[0]}:{positions[-1] + 1}] = {info['input']}"
        head = f"{what} failed on {where} in worker rank {rank}. We found the following error: {info['error']}"
    else:
        head = f"{what} failed in worker rank {rank}. We found the following error: {info['error']}"
    message = f"{head}\n\nTraceback in the worker:\n{info['traceback']}"
    error = WorkerError(
        message,
        rank=rank,
        input_index=positions[0] if positions else None,
        worker_traceback=info["traceback"],
    )
    if info.get("exception") is not None:
        with contextlib.suppress(Exception):
            error.__cause__ = pickle.loads(info["exception"])
    return error


def run_workers(
    jobs: Sequence[Job],
    *,
    start_method: str | None,
    make_progress: Callable[[], Progress],
    what: str = "optimize",
    feeder: TaskFeeder | None = None,
) -> None:
    """Run every job in its own process; return when all succeeded, raise on the first failure.

    With a ``feeder`` (the shared work queue), the jobs' tasks come from the queue it
    fills; it is created before the workers start and fed once they run.
    """
    if not jobs:
        return
    # Typed BaseContext for a str argument; every concrete context has Process.
    ctx: Any = multiprocessing.get_context(start_method or default_start_method())
    if feeder is not None:
        feeder.open(ctx, len(jobs))
    channel = ctx.Queue()
    processes: dict[int, Any] = {}
    progress: Progress | None = None
    try:
        for job in jobs:
            process = ctx.Process(
                target=_worker_entry, args=(job, channel, os.getpid()), name=f"litdata-{what}-{job.rank}"
            )
            process.start()
            processes[job.rank] = process
        if feeder is not None:
            feeder.start(len(jobs))
        progress = make_progress()
        _supervise(processes, channel, progress, what, feeder)
        progress.close()
    finally:
        if feeder is not None:
            feeder.close()
        _stop_all(processes.values())
        if progress is not None:
            progress.abort()
        with contextlib.suppress(Exception):
            channel.close()
            channel.cancel_join_thread()


def _supervise(
    processes: dict[int, Any], channel: Any, progress: Progress, what: str, feeder: TaskFeeder | None = None
) -> None:
    done: set[int] = set()
    dead_since: dict[int, float] = {}
    last_position: dict[int, int | None] = {}
    while len(done) < len(processes):
        if feeder is not None:
            feeder.raise_if_failed()
        try:
            message = channel.get(timeout=0.1)
        except queue_module.Empty:
            message = None
        while message is not None:
            kind, rank = message[0], message[1]
            if kind == "progress":
                progress.update(message[2], message[3])
                last_position[rank] = message[4]
            elif kind == "done":
                done.add(rank)
            elif kind == "error":
                raise _failure(rank, message[2], what)
            try:
                message = channel.get_nowait()
            except queue_module.Empty:
                message = None
        now = time.monotonic()
        for rank, process in processes.items():
            if rank in done or process.exitcode is None:
                continue
            first_seen = dead_since.setdefault(rank, now)
            if now - first_seen < DEATH_GRACE:
                continue
            if process.exitcode == 0:
                done.add(rank)  # exited cleanly; its "done" may have been lost with the pipe
                continue
            code = process.exitcode
            how = (
                f"was killed by signal {-code} ({_signal_name(-code)})"
                if code < 0
                else f"exited with code {code}"
            )
            near = last_position.get(rank)
            where = f" (last reported near input {near})" if near is not None else ""
            raise WorkerError(
                f"{what} failed: worker rank {rank} {how} without reporting an error{where}. "
                "It may have run out of memory. Rerun the same call to resume.",
                rank=rank,
            )


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return "unknown"


def _stop_all(processes: Any) -> None:
    """Terminate every live worker, wait briefly, then kill what remains; reap them all."""
    alive = [p for p in processes if p.exitcode is None]
    for process in alive:
        with contextlib.suppress(Exception):
            process.terminate()
    deadline = time.monotonic() + 5.0
    for process in alive:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in alive:
        if process.exitcode is None:
            with contextlib.suppress(Exception):
                process.kill()
            process.join(5.0)
    for process in processes:
        with contextlib.suppress(Exception):
            process.join(0)
            process.close()
