"""Give the heap's free pages back to the kernel before the loader forks its workers.

Why: opening a dataset parses its index. For a billion-sample dataset (100,000 chunks)
the parser's temporary objects take about 30 MB of glibc heap, which malloc keeps after
they are freed. A forked worker maps every page its parent has, so each worker would
count those free pages in its RSS as well (30 MB x workers, for nothing). ``malloc_trim``
returns them; it costs about a millisecond and is done once per epoch, in the training
process only.
"""

from __future__ import annotations

import ctypes
import functools
import platform
from typing import Any


@functools.cache
def _malloc_trim() -> Any:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = (ctypes.c_size_t,)
    trim.restype = ctypes.c_int
    return trim


def release_free_heap() -> bool:
    """Return free heap memory to the kernel (glibc); False where this is not possible."""
    trim = _malloc_trim()
    return trim is not None and bool(trim(0))
