"""``profile_batches``: a Chrome trace (``result.json``) of where loading time goes.

Each process (the main one and every DataLoader worker) records spans (download, read,
decode, collate) with its pid and thread id while profiling is on, and appends them to
its own file in a scratch folder after each batch; once the loader has handed out the
requested number of batches, the main process merges them into ``result.json``, which
``chrome://tracing`` or Perfetto opens.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
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
        self.folder = folder
        self.enabled = True

    @contextlib.contextmanager
    def span(self, name: str, **args: Any) -> Iterator[None]:
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
    """Owned by the loader: turns tracing on in every process and writes ``result.json``."""

    def __init__(self, batches: int, output_dir: str | None = None) -> None:
        if batches < 1:
            raise ValueError(f"profile_batches must be a positive int, got {batches}")
        self.batches = batches
        if output_dir:
            os.makedirs(output_dir, exist_ok=True)
        self.output = os.path.join(output_dir or os.getcwd(), "result.json")
        self.folder = tempfile.mkdtemp(prefix="litdata-trace-")
        self.done = False
        TRACER.start(self.folder)

    def worker_init(self, worker_id: int) -> None:
        TRACER.start(self.folder)

    def batch_done(self, batch_number: int) -> None:
        TRACER.flush()
        if self.done or batch_number < self.batches:
            return
        self.done = True
        time.sleep(0.2)  # let workers flush the spans of the batches already handed out
        events: list[dict[str, Any]] = []
        for path in glob.glob(os.path.join(self.folder, "trace-*.jsonl")):
            with open(path) as f:
                events.extend(json.loads(line) for line in f if line.strip())
        with open(self.output, "w") as f:
            json.dump({"traceEvents": sorted(events, key=lambda e: e["ts"]), "displayTimeUnit": "ms"}, f)
        TRACER.enabled = False


class TracedCollate:
    """Wraps a collate function: records a ``collate`` span, then flushes this process's spans."""

    def __init__(self, collate_fn: Any) -> None:
        self.collate_fn = collate_fn

    def __call__(self, batch: list[Any]) -> Any:
        with TRACER.span("collate", size=len(batch)):
            result = self.collate_fn(batch)
        TRACER.flush()
        return result
