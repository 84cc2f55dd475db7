"""Decoding the columns of a Mosaic MDS sample (the encodings ``MDSWriter`` writes).

A sample is ``[uint32 size of each variable-size column] [column bytes ...]`` in the
order of the shard's ``column_names``; fixed-size columns (``column_sizes`` not null)
take no size field. Each column's bytes are decoded by its ``column_encodings`` name;
the values are what Mosaic's own reader hands out (numpy scalars for sized numbers,
``int`` for ``int``, PIL images for ``pil``/``jpeg``/``png``), so code written against
Mosaic's ``StreamingDataset`` sees the same items.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from decimal import Decimal
from io import BytesIO
from typing import Any

import numpy as np

_SCALARS = {name: getattr(np, name) for name in (
    "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64", "float16", "float32", "float64")}

# ndarray headers: the value dtype code and the shape dtype code (two low bits).
_VALUE_DTYPES = {8: "uint8", 9: "int8", 16: "uint16", 17: "int16", 18: "float16", 32: "uint32", 33: "int32",
                 34: "float32", 64: "uint64", 65: "int64", 66: "float64"}
_SHAPE_DTYPES = {0: "uint8", 1: "uint16", 2: "uint32", 3: "uint64"}

#: Encodings that run code when decoded: refused unless ``allow_pickle``.
UNSAFE = {"pkl"}


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("decoding MDS image columns (pil, jpeg, png) needs Pillow: pip install pillow") from None
    return Image


def _raw_image(data: bytes) -> Any:
    width, height, mode_size = np.frombuffer(data[:12], np.uint32)
    mode = data[12:12 + int(mode_size)].decode("utf-8")
    return _pil().frombytes(mode, (int(width), int(height)), data[12 + int(mode_size):])


def _opened_image(data: bytes) -> Any:
    return _pil().open(BytesIO(data))


def _ndarray(spec: str) -> Callable[[bytes], np.ndarray]:
    parts = spec.split(":") if spec else []
    if len(parts) > 2:
        raise ValueError(f"ndarray encoding takes at most dtype and shape, got {spec!r}")
    dtype = parts[0] if parts else None
    if dtype is not None and dtype not in _SCALARS:
        raise ValueError(f"ndarray dtype {dtype!r} is not one MDS writes")
    shape = tuple(int(d) for d in parts[1].split(",")) if len(parts) == 2 else None

    def decode(data: bytes) -> np.ndarray:
        at = 0
        value_dtype = dtype
        if value_dtype is None:
            value_dtype = _VALUE_DTYPES[data[0]]
            at = 1
        dims: Any = shape
        if dims is None:
            ndim, code = data[at] >> 2, data[at] & 3
            width = 1 << code
            dims = tuple(int(d) for d in np.frombuffer(data, _SHAPE_DTYPES[code], ndim, at + 1))
            at += 1 + ndim * width
        array: np.ndarray = np.frombuffer(data, value_dtype, offset=at).reshape(dims)
        return array

    return decode


_SIMPLE: dict[str, Callable[[bytes], Any]] = {
    "bytes": bytes,
    "str": lambda b: b.decode("utf-8"),
    "int": lambda b: int(np.frombuffer(b, np.int64)[0]),
    "str_int": lambda b: int(b.decode("utf-8")),
    "str_float": lambda b: float(b.decode("utf-8")),
    "str_decimal": lambda b: Decimal(b.decode("utf-8")),
    "pil": _raw_image,
    "jpeg": _opened_image,
    "png": _opened_image,
    "json": lambda b: json.loads(b.decode("utf-8")),
    "pkl": pickle.loads,
}


def column_decoder(encoding: str) -> Callable[[bytes], Any]:
    """The decoder of one ``column_encodings`` entry (``"int"``, ``"ndarray:uint8:3,4"``, ...)."""
    name, _, spec = encoding.partition(":")
    if name in _SCALARS and not spec:
        dtype = _SCALARS[name]
        return lambda b: np.frombuffer(b, dtype)[0]
    if name == "ndarray":
        return _ndarray(spec)
    if name in _SIMPLE and (not spec or name == "jpeg"):  # jpeg:<quality> only matters when writing
        return _SIMPLE[name]
    raise ValueError(f"unknown MDS column encoding {encoding!r}")


class SampleDecoder:
    """Splits a sample's bytes into its columns and decodes each."""

    def __init__(self, names: list[str], encodings: list[str], sizes: list[int | None]) -> None:
        if not (len(names) == len(encodings) == len(sizes)):
            raise ValueError("column_names, column_encodings and column_sizes differ in length")
        self.names = names
        self.sizes = sizes
        self.decoders = [column_decoder(e) for e in encodings]
        self._variable = sum(1 for s in sizes if not s)
        self.encodings = encodings

    def __reduce__(self) -> tuple[Any, ...]:
        # The column decoders are closures: rebuilt from the encodings in a spawned worker.
        return SampleDecoder, (self.names, self.encodings, self.sizes)

    def decode(self, data: bytes) -> dict[str, Any]:
        """Split one sample's bytes into its columns and decode each by its encoding.

        Raises:
            ValueError: if a column runs past the end of the sample.
        """
        header = np.frombuffer(data, np.uint32, self._variable) if self._variable else ()
        at = 4 * self._variable
        sample: dict[str, Any] = {}
        v = 0
        for name, size, decode in zip(self.names, self.sizes, self.decoders):
            if not size:
                size = int(header[v])
                v += 1
            if at + size > len(data):
                raise ValueError(f"column {name!r} runs past the end of the sample ({at + size} > {len(data)} bytes)")
            sample[name] = decode(data[at:at + size])
            at += size
        return sample
