"""The token layout (``TokensLoader``): a chunk read as one stream of fixed-size blocks.

Each item of a token dataset is the raw bytes of a 1-D token array (no size header).
A reader treats a chunk's item bytes as one token stream and cuts it into blocks of
``block_size`` tokens: ``dim // block_size`` blocks per chunk, block k starting
``k * block_size * itemsize`` bytes after the chunk header. Blocks may cross item
boundaries but never chunk boundaries; leftover tokens at a chunk's end are not read.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .dtypes import NUMPY_DTYPES, TORCH_DTYPE_NAMES
from .errors import FormatError


def token_dtype(data_format: list[str]) -> np.dtype:
    """The numpy dtype of a token dataset's tokens, from its single ``data_format`` entry."""
    if len(data_format) != 1:
        raise FormatError(f"a token dataset has one leaf format, got {data_format!r}")
    name, _, arg = data_format[0].partition(":")
    if name == "no_header_numpy" and arg.isdigit() and int(arg) < len(NUMPY_DTYPES):
        return NUMPY_DTYPES[int(arg)]
    if name == "no_header_tensor" and arg.isdigit() and int(arg) < len(TORCH_DTYPE_NAMES):
        torch_name = TORCH_DTYPE_NAMES[int(arg)]
        aliases = {"float": "float32", "double": "float64", "half": "float16", "short": "int16",
                   "int": "int32", "long": "int64", "cfloat": "complex64", "cdouble": "complex128"}  # fmt: skip
        torch_name = aliases.get(torch_name, torch_name)
        if torch_name == "bfloat16":
            raise FormatError("bfloat16 token datasets cannot be read as numpy arrays")
        return np.dtype(torch_name)
    raise FormatError(f"data format {data_format[0]!r} is not a token format (no_header_numpy:K or no_header_tensor:K)")


def blocks_in_chunk(dim: int, block_size: int) -> int:
    """How many whole blocks a chunk of ``dim`` tokens yields."""
    if block_size <= 0:
        raise ValueError(f"block_size must be positive, got {block_size}")
    return dim // block_size


def token_block(
    chunk: memoryview | bytes, header_size: int, dtype: np.dtype[Any], block_size: int, k: int
) -> np.ndarray[Any, Any]:
    """Block ``k`` of a classic-layout chunk, as a read-only view without copying.

    Called once per token block by every reader (``DatasetReader``, ``StreamingDataset``):
    numpy checks the bounds itself, so the check costs nothing until a block is past the end.

    Raises:
        FormatError: The block ends past the chunk's bytes (a truncated chunk).
    """
    offset = header_size + k * block_size * dtype.itemsize
    try:
        return np.frombuffer(chunk, dtype=dtype, count=block_size, offset=offset)
    except ValueError:
        end = offset + block_size * dtype.itemsize
        if end > len(chunk):
            raise FormatError(f"token block {k} ends at byte {end}, past the chunk's {len(chunk)} bytes") from None
        raise
