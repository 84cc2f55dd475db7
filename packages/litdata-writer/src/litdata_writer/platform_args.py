"""LitData arguments that only act on the Lightning platform: accepted, warned about once.

``machine`` picks a cloud machine type and ``optimize_dns`` switches the platform's DNS
resolver; ``broadcast_paths`` shares resolved paths between the platform's nodes;
``num_uploaders`` sizes LitData's upload thread pool. Here nodes are whatever machines run
the same call (``NUM_NODES`` / ``NODE_RANK``), every node resolves the same ``output_dir``
itself, and each worker uploads through one ordered thread (order is what makes its
checkpoints safe; ``max_pending_uploads`` bounds its queue). Code written for LitData runs
unchanged: each such argument given a value that changes nothing warns once per process.
"""

from __future__ import annotations

import warnings
from typing import Any

_warned: set[str] = set()

WHY = {
    "machine": "machine= selects a Lightning platform machine; here the call runs on the machine it is started on "
    "(run the same call on each machine with NUM_NODES and NODE_RANK set to use several)",
    "optimize_dns": "optimize_dns= configures the Lightning platform's DNS; it does nothing here",
    "broadcast_paths": "broadcast_paths= shares resolved paths between Lightning platform nodes; here every node "
    "resolves the same output_dir itself",
    "num_uploaders": "num_uploaders= sizes LitData's upload threads; here each worker uploads through one ordered "
    "thread (use max_pending_uploads= to bound its queue)",
    "num_downloaders": "num_downloaders= sets download threads for a remote input_dir; without one it does nothing",
}


def warn_once(name: str) -> None:
    """Warn, once per process, that the platform-only argument ``name`` changes nothing here."""
    if name in _warned:
        return
    _warned.add(name)
    warnings.warn(WHY[name], UserWarning, stacklevel=3)


def check_platform_args(
    *,
    machine: Any = None,
    optimize_dns: bool | None = None,
    broadcast_paths: bool = False,
    num_uploaders: int | None = None,
) -> None:
    """Warn (once each) for the platform-only arguments given a value that changes nothing."""
    if machine is not None:
        warn_once("machine")
    if optimize_dns:
        warn_once("optimize_dns")
    if broadcast_paths:
        warn_once("broadcast_paths")
    if num_uploaders is not None:
        warn_once("num_uploaders")
