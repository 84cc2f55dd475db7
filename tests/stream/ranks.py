"""Start real rank processes that form one gloo process group, and wait for all of them.

Ranks write their output to log files, not pipes: a DataLoader worker left behind by a
rank would hold a pipe open and hang the test instead of failing it. A rank that fails
leaves the others waiting in a collective, so every rank's process group is killed then.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_env(cache_dir: Path) -> dict[str, str]:
    """The environment of a rank process: no inherited rank variables, its own cache.

    ``PYTHONFAULTHANDLER``: a rank (or a DataLoader worker of it) that hangs past the
    deadline is sent SIGABRT first, and writes every thread's stack to its log."""
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env["LITDATA_CACHE_DIR"] = str(cache_dir)
    env["PYTHONFAULTHANDLER"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_ranks(script: Path, world: int, args: list[str], env: dict[str, str], logs: Path,
              deadline_s: float = 240) -> None:
    """Run ``script RANK WORLD PORT *args`` for every rank; fail with the log of a failed rank."""
    port = free_port()
    procs = []
    for rank in range(world):
        argv = [sys.executable, str(script), str(rank), str(world), str(port), *args]
        with open(logs / f"rank{rank}.log", "w") as log:
            procs.append(subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True))
    start = time.monotonic()
    deadline = start + deadline_s
    hung = False
    try:
        while any(proc.poll() is None for proc in procs) and time.monotonic() < deadline:
            if any(proc.poll() not in (None, 0) for proc in procs):
                break
            time.sleep(0.1)
        hung = any(proc.poll() is None for proc in procs) and time.monotonic() >= deadline
        if hung:  # stacks of every process still there, into the logs
            for proc in procs:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGABRT)
            time.sleep(2)
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the rank and any worker it left behind
            proc.wait()
    texts = [(logs / f"rank{rank}.log").read_text() for rank in range(world)]
    codes = [proc.returncode for proc in procs]
    what = f"still running after {deadline_s:.0f}s" if hung else f"after {time.monotonic() - start:.0f}s"
    for rank, proc in enumerate(procs):
        assert proc.returncode == 0, (
            f"rank {rank} of {world} failed ({what}; exit codes {codes}):\n"
            + "\n".join(f"--- rank {r} ---\n{text[-6000:]}" for r, text in enumerate(texts))
        )
