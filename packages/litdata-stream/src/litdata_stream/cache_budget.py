"""``max_cache_size``: how many bytes a dataset's chunk cache may hold, as LitData reads it.

LitData takes a size (``100_000_000``, ``"50GB"``, ``"100G"``), a fraction of the disk
space free where the cache lives (``0.9`` or ``"0.9"``), or ``None``: 75% of the free
space, leaving at least 50 GB free when there is that much. The ``MAX_CACHE_SIZE``
environment variable, when set, wins over the argument (a cluster-wide cap). Fractions
are resolved once, when the dataset is created: the budget does not shrink as the cache
fills the disk.
"""

from __future__ import annotations

import os
import shutil

from litdata_format import parse_size

#: ``max_cache_size=None`` uses this share of the free disk ...
FREE_FRACTION = 0.75
#: ... and leaves at least this much free when the disk has more (room for checkpoints).
RESERVE_BYTES = 50 * 1000**3
#: Overrides ``max_cache_size`` when set.
MAX_CACHE_SIZE_ENV = "MAX_CACHE_SIZE"

_SHORT_UNITS = {"k": "kb", "m": "mb", "g": "gb", "t": "tb"}


def _free_bytes(folder: str) -> int:
    """Free bytes on the disk holding ``folder`` (or its nearest existing parent)."""
    probe = os.path.abspath(folder)
    while not os.path.isdir(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    return int(shutil.disk_usage(probe).free)


def _fraction(value: float | str) -> float | None:
    """The free-disk fraction ``value`` names, or None when it is a byte size."""
    if isinstance(value, float):
        number = value
    else:
        try:
            number = float(value.strip())
        except ValueError:
            return None
        if value.strip().isdigit():  # "1" is one byte, as in LitData
            return None
    if not 0 < number <= 1:
        if isinstance(value, float):
            raise ValueError(f"max_cache_size as a fraction of free disk must be in (0, 1], got {value!r}")
        return None
    return number


def _size(value: int | str) -> int:
    if isinstance(value, str):
        text = value.strip()
        unit = text[-1:].lower()
        if unit in _SHORT_UNITS and not text[:-1].strip()[-1:].isalpha():
            text = text[:-1] + _SHORT_UNITS[unit]  # LitData's "100G" means 100GB
        return parse_size(text)
    return parse_size(value)


def resolve_max_cache_size(value: int | float | str | None, cache_folder: str) -> int:
    """The byte budget of a cache in ``cache_folder`` for ``max_cache_size=value``."""
    env = os.environ.get(MAX_CACHE_SIZE_ENV, "").strip()
    if env:
        value = env
    if isinstance(value, bool):
        raise TypeError(f"max_cache_size must be a size, a fraction of free disk or None, got {value!r}")
    if value is None:
        free = _free_bytes(cache_folder)
        budget = int(free * FREE_FRACTION)
        return max(min(budget, free - RESERVE_BYTES) if free > RESERVE_BYTES else budget, 1)
    if isinstance(value, (float, str)):
        fraction = _fraction(value)
        if fraction is not None:
            return max(int(_free_bytes(cache_folder) * fraction), 1)
        if isinstance(value, str):
            return _size(value)
    if isinstance(value, int):
        return _size(value)
    raise TypeError(f"max_cache_size must be a size, a fraction of free disk or None, got {type(value).__name__}")
