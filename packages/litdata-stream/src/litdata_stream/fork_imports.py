"""Modules every DataLoader worker needs, imported once in the training process before
the workers fork.

numpy 2 imports ``numpy.random`` and ``numpy.ma`` on first attribute access: torch's
worker loop seeds ``numpy.random`` before any ``worker_init_fn``, and ``np.unique`` (the
shuffle's chunk lookups) touches ``numpy.ma``. Imported in each freshly forked worker,
every epoch, they cost 0.3-0.6 s of worker start-up on a loaded 2-core machine (measured:
worker start from fork to ``worker_init_fn`` 0.4-0.7 s, against 0.02-0.05 s with these
modules already imported), which is most of an epoch's time to first batch. Imported
here they cost about 25 ms once per process, and forked workers inherit them.
"""

from __future__ import annotations

import sys

#: Imported before workers fork; each is imported by the workers' first epoch otherwise.
WORKER_MODULES = ("numpy.random", "numpy.ma")


def import_before_fork() -> None:
    """Import :data:`WORKER_MODULES` in this process (a dictionary lookup once done)."""
    for name in WORKER_MODULES:
        if name not in sys.modules:
            __import__(name)
