"""Human-readable byte sizes ("64MB", "1.5 GiB") as LitData users write them."""

from __future__ import annotations

import re

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]*)\s*$")


def parse_size(value: int | str) -> int:
    """Return a byte count from an int or a string such as ``"64MB"`` or ``"2 GiB"``.

    Decimal units (KB, MB, GB, TB) are powers of 1000 and binary units (KiB, MiB, ...)
    powers of 1024, as LitData reads them.
    """
    if isinstance(value, bool):
        raise TypeError(f"a size must be an int or a string like '64MB', not {value!r}")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError(f"a size must be positive, got {value}")
        return value
    if not isinstance(value, str):
        raise TypeError(f"a size must be an int or a string like '64MB', not {type(value).__name__}")
    match = _PATTERN.match(value)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS:
        raise ValueError(f"cannot read {value!r} as a size; write e.g. 64MB, 512KB, 1GiB or a number of bytes")
    size = int(float(match.group(1)) * _UNITS[unit])
    if size <= 0:
        raise ValueError(f"a size must be positive, got {value!r}")
    return size
