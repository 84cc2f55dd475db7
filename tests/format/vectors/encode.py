"""Python values -> the tagged JSON encoding of expected.json (see README.md).

Runs in the LitData venv (write_vectors.py) and in our environment. numpy is
required; torch, Pillow and litdata are used only when a value needs them.
"""

from __future__ import annotations

import base64
import decimal
import os
from collections import OrderedDict
from typing import Any

import numpy as np

_VIDEO_EXT = ("mp4", "ogv", "mjpeg", "avi", "mov", "h264", "mpg", "mpeg", "webm", "wmv", "mkv")
_IMAGE_EXT = ("jpg", "jpeg", "png", "webp", "bmp", "gif")


def b64(data: bytes) -> str:
    return base64.b64encode(bytes(data)).decode("ascii")


def _media_format(path: str) -> str:
    ext = os.path.splitext(path)[1].lstrip(".").lower()
    if ext in _VIDEO_EXT:
        return f"video:{ext}"
    if ext in _IMAGE_EXT:
        return f"image:{ext}"
    if ext in ("tif", "tiff"):
        return "tifffile"
    raise ValueError(f"no media serializer for {path}")


def encode(value: Any, media_as_raw: bool = False) -> Any:
    """Encode one item. ``media_as_raw``: jpeg / media leaves as plain ``$bytes``
    (to compare with what a raw-bytes reader returns)."""
    enc = lambda v: encode(v, media_as_raw)  # noqa: E731
    if (
        value is None
        or isinstance(value, (bool, str))
        and not (isinstance(value, str) and os.path.isfile(value))
    ):
        return value
    if isinstance(value, str):  # a path of an existing file: LitData stores the file bytes
        with open(value, "rb") as f:
            data = f.read()
        return (
            {"$bytes": b64(data)}
            if media_as_raw
            else {"$media": {"format": _media_format(value), "data": b64(data)}}
        )
    if isinstance(value, int) and not isinstance(value, np.generic):
        return value
    if isinstance(value, float):  # np.float64 is a float subclass: LitData stores it as "float"
        return float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": b64(bytes(value))}
    if isinstance(value, np.ndarray):
        arr = np.ascontiguousarray(value)
        return {"$ndarray": {"dtype": arr.dtype.name, "shape": list(arr.shape), "data": b64(arr.tobytes())}}
    if isinstance(value, np.generic):
        return {"$npscalar": {"dtype": value.dtype.name, "data": b64(value.tobytes())}}
    if isinstance(value, decimal.Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, frozenset):
        return {"$frozenset": sorted((enc(v) for v in value), key=repr)}
    if isinstance(value, set):
        return {"$set": sorted((enc(v) for v in value), key=repr)}
    if isinstance(value, OrderedDict):
        return {"$odict": [[k, enc(v)] for k, v in value.items()]}
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str) or k.startswith("$"):
                raise ValueError(f"unsupported dict key {k!r}")
            out[k] = enc(v)
        return out
    if isinstance(value, tuple):
        return {"$tuple": [enc(v) for v in value]}
    if isinstance(value, list):
        return [enc(v) for v in value]
    mod = type(value).__module__
    if mod.startswith("torch"):
        import torch

        if isinstance(value, torch.Tensor):
            arr = value.detach().cpu().contiguous().numpy()
            dtype = str(value.dtype).replace("torch.", "")
            return {"$tensor": {"dtype": dtype, "shape": list(value.shape), "data": b64(arr.tobytes())}}
    if mod.startswith("PIL."):
        from PIL import Image
        from PIL.JpegImagePlugin import JpegImageFile

        if isinstance(value, JpegImageFile):
            with open(value.filename, "rb") as f:
                data = f.read()
            return {"$bytes": b64(data)} if media_as_raw else {"$jpeg": b64(data)}
        if isinstance(value, Image.Image):
            return {"$pil": {"mode": value.mode, "size": list(value.size), "data": b64(value.tobytes())}}
    if mod.startswith("litdata"):
        name = type(value).__name__
        if name == "JpegArray":
            parts = [encode(img, True)["$bytes"] for img in value.images]
            return [{"$bytes": p} for p in parts] if media_as_raw else {"$jpeg_array": parts}
        if name == "File":
            with open(value.path, "rb") as f:
                data = f.read()
            ext = os.path.splitext(value.path)[1].lstrip(".").lower()
            return (
                {"$bytes": b64(data)}
                if media_as_raw
                else {"$media": {"format": f"file:{ext}" if ext else "file", "data": b64(data)}}
            )
    raise TypeError(f"cannot encode {type(value)!r}")
