"""LitData ``StreamingDataset`` arguments that are checked and accepted, but change nothing here.

* ``batch_decode``: how many items LitData deserializes together once a chunk is local
  (``"auto"``, ``0`` one at a time, ``N`` a window, ``"all"`` the whole chunk). It only
  trades speed for memory: every item comes out the same. Here each item is decoded
  when it is read, straight from the memory-mapped chunk, so there is nothing to batch.
* ``num_canonical_nodes``: the node count LitData freezes in its checkpoints so that an
  elastic resume rebuilds its first run's shuffle. Here the epoch order never depends
  on the number of nodes, ranks or workers (see :mod:`litdata_stream.epoch_plan`): a resume on
  any world size continues the same order without being told the first one.
* ``window_direct_io``: LitData's O_DIRECT reads of windows from NFS (its iteration is
  then disabled). Here chunks are read through memory maps; iteration works either way.

Each warns once per process when given a value that would change something in LitData.
"""

from __future__ import annotations

import warnings

_WARNED: set[str] = set()

_BATCH_DECODE_WORDS = ("auto", "", "0", "false", "no", "off", "item", "all", "chunk", "true", "yes", "on")


def _warn_once(name: str, message: str) -> None:
    if name in _WARNED:
        return
    _WARNED.add(name)
    warnings.warn(message, UserWarning, stacklevel=4)


def check_batch_decode(value: int | str | bool) -> int | str | bool:
    """Validate LitData's ``batch_decode`` and return it, warning once when it would matter in LitData."""
    if isinstance(value, str):
        if value.strip().lower() not in _BATCH_DECODE_WORDS and not value.strip().lstrip("-").isdigit():
            raise ValueError(f"batch_decode must be 'auto', 'all', a number of items or a bool, got {value!r}")
        if value.strip().lower() == "auto":
            return value
    elif not isinstance(value, int):  # bool is an int
        raise TypeError(f"batch_decode must be 'auto', 'all', a number of items or a bool, got {type(value).__name__}")
    _warn_once("batch_decode", f"batch_decode={value!r} changes nothing here: each item is decoded when it is read")
    return value


def check_num_canonical_nodes(value: int | None) -> int | None:
    """Validate LitData's ``num_canonical_nodes`` and return it, warning once if set."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"num_canonical_nodes must be a positive int or None, got {value!r}")
    _warn_once(
        "num_canonical_nodes",
        f"num_canonical_nodes={value} changes nothing here: the epoch order does not depend on the number of "
        "nodes, and a resume on any world size continues it",
    )
    return value


def check_window_direct_io(value: bool) -> bool:
    """Validate LitData's ``window_direct_io`` and return it, warning once if it is True."""
    if not isinstance(value, bool):
        raise ValueError(f"window_direct_io must be a boolean, got {value!r}")
    if value:
        _warn_once("window_direct_io", "window_direct_io=True changes nothing here: chunks are read through memory maps")
    return value
