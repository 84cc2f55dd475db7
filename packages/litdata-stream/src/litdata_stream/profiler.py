"""``profile_batches``: a Chrome trace (``result.json``) of where loading time goes;
``profile_cprofile``: stdlib cProfile statistics of the loading loop (:class:`CProfiler`).

Each process (the main one and every DataLoader worker) records spans (download, read,
decode, collate) with its pid and thread id while profiling is on, and appends them to
its own file in a scratch folder after each batch; once the loader has handed out the
requested number of batches, the main process merges them into ``result.json``, which
``chrome://tracing`` or Perfetto opens.
"""

from __future__ import annotations

import contextlib
import cProfile
import glob
import json
import math
import multiprocessing.util
import os
import pstats
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any


class Tracer:
    """Per-process span recorder; ``enabled`` is checked first so it costs nothing when off."""

    def __init__(self) -> None:
        self.enabled = False
        self.folder: str | None = None
        self._events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def start(self, folder: str) -> None:
        """Start recording spans in this process, appending them to a file in ``folder`` at each flush."""
        self.folder = folder
        self.enabled = True

    @contextlib.contextmanager
    def span(self, name: str, **args: Any) -> Iterator[None]:
        """Time the ``with`` block as a span called ``name``, with ``args`` shown in the trace.

        Does nothing when tracing is off.
        """
        if not self.enabled:
            yield
            return
        start = time.perf_counter_ns()
        try:
            yield
        finally:
            end = time.perf_counter_ns()
            event = {
                "name": name,
                "ph": "X",
                "ts": start / 1000,
                "dur": (end - start) / 1000,
                "pid": os.getpid(),
                "tid": threading.get_ident() % 1_000_000,
                "args": args,
            }
            with self._lock:
                self._events.append(event)

    def flush(self) -> None:
        """Append the spans recorded so far to this process's file in the trace folder."""
        if not self.enabled or self.folder is None:
            return
        with self._lock:
            events, self._events = self._events, []
        if events:
            path = os.path.join(self.folder, f"trace-{os.getpid()}.jsonl")
            with open(path, "a") as f:
                f.writelines(json.dumps(e) + "\n" for e in events)


TRACER = Tracer()


class Profiler:
    """Owned by the loader: turns tracing on in every process and writes ``result.json``.

    ``batches``: how many batches to trace after the first ``skip_batches`` (``True``:
    the rest of the epoch). Every process records from the start; the spans kept are
    those that end after the loader handed out batch ``skip_batches`` (spans of the
    skipped batches that workers were still prefetching may overlap the start).
    """

    def __init__(self, batches: int | bool, output_dir: str | None = None, skip_batches: int = 0) -> None:
        if batches is True:
            self.batches: int | None = None
        elif isinstance(batches, int) and batches >= 1:
            self.batches = batches
        else:
            raise ValueError(f"profile_batches must be True or a positive int, got {batches!r}")
        if isinstance(skip_batches, bool) or not isinstance(skip_batches, int) or skip_batches < 0:
            raise ValueError(f"profile_skip_batches must be an int >= 0, got {skip_batches!r}")
        self.skip_batches = skip_batches
        if output_dir:
            os.makedirs(output_dir, exist_ok=True)
        self.output = os.path.join(output_dir or os.getcwd(), "result.json")
        self.folder = tempfile.mkdtemp(prefix="litdata-trace-")
        self.done = False
        self._window_start_us = 0.0 if skip_batches == 0 else math.inf
        TRACER.start(self.folder)

    def worker_init(self, worker_id: int) -> None:
        """Turn tracing on in a DataLoader worker (a fresh process has it off)."""
        TRACER.start(self.folder)

    def batch_done(self, batch_number: int) -> None:
        """Flush the spans after batch ``batch_number`` was handed out.

        Marks the start of the traced window at batch ``skip_batches``, and writes ``result.json``
        once the requested batches have been handed out.
        """
        TRACER.flush()
        if self.done:
            return
        if batch_number == self.skip_batches:
            self._window_start_us = time.perf_counter_ns() / 1000
        if self.batches is None or batch_number < self.skip_batches + self.batches:
            return
        self._write()

    def epoch_done(self) -> None:
        """The epoch ended: write the trace if its batches were not all reached yet."""
        TRACER.flush()
        if not self.done:
            self._write()

    def _write(self) -> None:
        self.done = True
        time.sleep(0.2)  # let workers flush the spans of the batches already handed out
        events: list[dict[str, Any]] = []
        for path in glob.glob(os.path.join(self.folder, "trace-*.jsonl")):
            with open(path) as f:
                events.extend(json.loads(line) for line in f if line.strip())
        start = self._window_start_us
        kept = [e for e in events if e["ts"] + e["dur"] >= start]
        with open(self.output, "w") as f:
            json.dump({"traceEvents": sorted(kept, key=lambda e: e["ts"]), "displayTimeUnit": "ms"}, f)
        TRACER.enabled = False


#: File stems of ``profile_cprofile`` (LitData's names), in ``profile_dir``.
CPROFILE_MAIN = "cprofile_main"
CPROFILE_WORKER = "cprofile_worker0"


def dump_cprofile(profiler: cProfile.Profile, stem: str) -> None:
    """Write ``{stem}.prof`` (for ``pstats``/snakeviz) and ``{stem}.txt`` (the top functions)."""
    profiler.disable()
    profiler.dump_stats(f"{stem}.prof")
    with open(f"{stem}.txt", "w", encoding="utf-8") as handle:
        stats = pstats.Stats(profiler, stream=handle)
        stats.strip_dirs()
        handle.write("Functions by own time (tottime), then by time including callees (cumtime).\n\n")
        stats.sort_stats("tottime").print_stats(40)
        stats.sort_stats("cumtime").print_stats(40)


class CProfiler:
    """``profile_cprofile=True``: stdlib cProfile of the training process's loading loop
    (each epoch, from the first batch asked to the last) and of DataLoader worker 0 (its
    whole life), written as ``cprofile_main.*`` and ``cprofile_worker0.*``.

    Worker 0 writes its file when it exits (a ``multiprocessing`` finalizer), i.e. at the
    end of each epoch, or when persistent workers are shut down.
    """

    def __init__(self, output_dir: str | None = None) -> None:
        self.folder = os.path.abspath(output_dir or os.getcwd())
        os.makedirs(self.folder, exist_ok=True)
        self._main: cProfile.Profile | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"folder": self.folder, "_main": None}  # a live profile stays in its process

    def worker_init(self, worker_id: int) -> None:
        """In worker 0 only, profile the worker until it exits, then write ``cprofile_worker0.*``."""
        if worker_id != 0:
            return
        profile = cProfile.Profile()
        stem = os.path.join(self.folder, CPROFILE_WORKER)
        multiprocessing.util.Finalize(None, dump_cprofile, args=(profile, stem), exitpriority=100)
        profile.enable()

    def start_epoch(self) -> None:
        """Start profiling the loading loop of a new epoch (writing the last one's first if unfinished)."""
        self.end_epoch()
        self._main = cProfile.Profile()
        self._main.enable()

    def end_epoch(self) -> None:
        """Stop profiling the epoch's loading loop and write ``cprofile_main.*`` (no-op if not started)."""
        if self._main is not None:
            profile, self._main = self._main, None
            dump_cprofile(profile, os.path.join(self.folder, CPROFILE_MAIN))


class TracedCollate:
    """Wraps a collate function: records a ``collate`` span, then flushes this process's spans."""

    def __init__(self, collate_fn: Any) -> None:
        self.collate_fn = collate_fn

    def __call__(self, batch: list[Any]) -> Any:
        """Collate ``batch`` inside a ``collate`` span, then write this process's spans out."""
        with TRACER.span("collate", size=len(batch)):
            result = self.collate_fn(batch)
        TRACER.flush()
        return result
