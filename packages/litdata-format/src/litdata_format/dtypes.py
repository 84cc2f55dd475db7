"""The dtype index tables LitData stores in numpy and tensor headers and in ``:K`` suffixes."""

from __future__ import annotations

from typing import Any

import numpy as np

#: numpy dtype index -> dtype, as stored by the ``numpy`` and ``no_header_numpy:K`` serializers.
NUMPY_DTYPES: list[np.dtype] = [
    np.dtype(name)
    for name in (
        "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
        "float16", "float32", "float64", "complex64", "complex128", "bool",
    )
]  # fmt: skip
NUMPY_DTYPE_INDEX: dict[np.dtype, int] = {dtype: i for i, dtype in enumerate(NUMPY_DTYPES)}

#: torch dtype index -> torch dtype name. Aliases share a dtype; writers emit the later alias.
TORCH_DTYPE_NAMES: list[str] = [
    "float32", "float", "float64", "double", "complex64", "cfloat", "complex128", "cdouble",
    "float16", "half", "bfloat16", "uint8", "int8", "int16", "short", "int32", "int", "int64",
    "long", "bool", "uint16",
]  # fmt: skip


def torch_dtype(index: int) -> Any:
    """Return the torch dtype for a stored index (torch is imported here, not at module load)."""
    import torch

    return getattr(torch, TORCH_DTYPE_NAMES[index])


def torch_dtype_index(dtype: Any) -> int:
    """Return the index LitData writes for a torch dtype (the last alias of that dtype)."""
    import torch

    found = None
    for i, name in enumerate(TORCH_DTYPE_NAMES):
        if getattr(torch, name) == dtype:
            found = i
    if found is None:
        raise KeyError(dtype)
    return found
