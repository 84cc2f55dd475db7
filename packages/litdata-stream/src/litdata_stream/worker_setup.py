"""What every DataLoader worker of a StreamingDataLoader does first.

Workers decode and transform one sample after another, and each sample allocates and
frees the same few large buffers (a decoded image, its converted copy, the resized
array, the collated batch). glibc's malloc hands freed memory at the top of its heap
back to the kernel as soon as more than a small, adaptive amount is free, so the next
sample gets fresh pages and pays a page fault (and the zeroing) for every 4 KB of them:
measured on a 2-core machine, a 640x480 JPEG decode + random-resized-crop took 2.7 ms,
of which 0.9 ms was page faults, and 1.7 ms once freed memory was kept for reuse.
Workers therefore keep up to :data:`KEEP_FREE_BYTES` of freed memory and serve
allocations below :data:`MMAP_THRESHOLD_BYTES` from the heap. The training process is
left as it is. ``LITDATA_WORKER_MALLOC_TUNING=0`` turns this off.
"""

from __future__ import annotations

import ctypes
import os
import platform
from collections.abc import Callable

from .collate import BatchFastPath
from .worker_start import WorkerStarts

#: Freed heap memory a worker keeps for the next samples instead of returning it.
KEEP_FREE_BYTES = 64 * 1024 * 1024
#: Allocations up to this size come from the heap (glibc's largest allowed threshold).
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024

#: Whether this process's malloc was tuned (set in workers by :class:`WorkerSetup`).
TUNED = False

_M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3


def tune_malloc_for_samples() -> bool:
    """Make this process's glibc malloc keep freed memory; False where it cannot."""
    if os.environ.get("LITDATA_WORKER_MALLOC_TUNING", "1") == "0":
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, KEEP_FREE_BYTES))


class WorkerSetup:
    """The ``worker_init_fn`` of a StreamingDataLoader: tune malloc, take this worker's
    slots of the epoch's batch arena (from the loader's ``fast_path``), then run the other
    init functions."""

    def __init__(self, fast_path: BatchFastPath | None, *then: Callable[[int], object] | None) -> None:
        self.fast_path = fast_path
        self.then = [fn for fn in then if fn is not None]
        #: Set by the loader before it forks an epoch's workers (see :mod:`.worker_start`).
        self.starts: WorkerStarts | None = None

    def __call__(self, worker_id: int) -> None:
        """Set up DataLoader worker ``worker_id`` as it starts (see the class docstring)."""
        global TUNED
        if self.starts is not None:
            self.starts.mark(worker_id)
        TUNED = tune_malloc_for_samples()
        if self.fast_path is not None:
            self.fast_path.attach_worker(worker_id)
        for fn in self.then:
            fn(worker_id)
