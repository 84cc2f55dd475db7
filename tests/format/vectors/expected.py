"""Reading the tagged JSON of ``expected.json`` (the encoding is described in README.md).

- :func:`load` -- one dataset's expected.json.
- :func:`decode` -- tagged JSON -> Python values as our codec represents them
  (bytes, numpy arrays, torch tensors, PIL images, JPEGs as PIL images opened from
  their bytes, media files as paths of files written under ``media_dir``).
- :func:`check` -- compare a decoded item with its tagged JSON exactly (types, dtypes,
  shapes, bytes, PIL mode/size/pixels, original JPEG bytes); raises ``AssertionError``
  naming the path of the first difference.
- :func:`to_raw` -- the tagged JSON with media leaves (jpeg, jpeg_array, media files)
  as plain ``$bytes``, to compare with a reader that hands back stored bytes.

Only numpy is needed at import time; torch and Pillow are imported on demand.
"""

from __future__ import annotations

import base64
import decimal
import io
import json
import os
import struct
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

DATA_DIR = Path(__file__).resolve().parent / "data"

_MEDIA_EXT = {"tifffile": "tif", "tiff": "tif"}


def dataset_names() -> list[str]:
    return sorted(p.name for p in DATA_DIR.iterdir() if (p / "expected.json").is_file())


def encryption_for(vector: dict) -> Any:
    """Our encryption object for an encrypted vector (from the key file LitData saved next to
    it, and the password in ``reader.encryption``), or None for a plain vector."""
    spec = vector["reader"].get("encryption")
    if spec is None:
        return None
    from litdata_format import encryption as ours

    return getattr(ours, spec["class"]).load(str(DATA_DIR / vector["dataset"] / spec["key_file"]), spec["password"])


def load(name: str) -> dict:
    with open(DATA_DIR / name / "expected.json", encoding="utf-8") as f:
        return json.load(f)


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


def needs(obj: Any) -> set[str]:
    """The optional modules (``torch``, ``PIL``) needed to decode a tagged value."""
    out: set[str] = set()
    if isinstance(obj, list):
        for v in obj:
            out |= needs(v)
    elif isinstance(obj, dict):
        if "$tensor" in obj:
            out.add("torch")
        if any(k in obj for k in ("$pil", "$jpeg", "$jpeg_array")):
            out.add("PIL")
        if "$media" in obj and obj["$media"]["format"].split(":")[0] in ("image", "tifffile"):
            out.add("PIL")
        for v in obj.values():
            out |= needs(v)
    return out


def _tag(obj: dict) -> str | None:
    if len(obj) == 1:
        (key,) = obj
        if key.startswith("$"):
            return key
    return None


def _torch_dtype(name: str) -> Any:
    import torch

    return getattr(torch, name)


def decode(obj: Any, media_dir: str | None = None) -> Any:
    """Tagged JSON -> Python value. ``$media`` leaves become paths of files written
    under ``media_dir`` (required when the value holds any)."""
    dec = lambda v: decode(v, media_dir)  # noqa: E731
    if isinstance(obj, list):
        return [dec(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    tag = _tag(obj)
    if tag is None:
        return {k: dec(v) for k, v in obj.items()}
    body = obj[tag]
    if tag == "$bytes":
        return unb64(body)
    if tag == "$tuple":
        return tuple(dec(v) for v in body)
    if tag == "$odict":
        return OrderedDict((k, dec(v)) for k, v in body)
    if tag == "$set":
        return {dec(v) for v in body}
    if tag == "$frozenset":
        return frozenset(dec(v) for v in body)
    if tag == "$decimal":
        return decimal.Decimal(body)
    if tag == "$ndarray":
        return np.frombuffer(unb64(body["data"]), dtype=np.dtype(body["dtype"])).reshape(body["shape"]).copy()
    if tag == "$npscalar":
        return np.frombuffer(unb64(body["data"]), dtype=np.dtype(body["dtype"]))[0]
    if tag == "$tensor":
        import torch

        dtype = _torch_dtype(body["dtype"])
        raw = bytearray(unb64(body["data"]))
        if not raw:
            return torch.empty(body["shape"], dtype=dtype)
        return torch.frombuffer(raw, dtype=dtype).reshape(body["shape"]).clone()
    if tag == "$pil":
        from PIL import Image

        return Image.frombytes(body["mode"], tuple(body["size"]), unb64(body["data"]))
    if tag == "$jpeg":
        from PIL import Image

        return Image.open(io.BytesIO(unb64(body)))
    if tag == "$jpeg_array":
        from PIL import Image

        images = [Image.open(io.BytesIO(unb64(b))) for b in body]
        try:  # our writer stores a JpegArray as one jpeg_array leaf, as LitData does
            from litdata_format import JpegArray
        except ImportError:
            return images
        return JpegArray(images)
    if tag == "$media":
        if media_dir is None:
            raise ValueError("decoding a $media leaf needs media_dir")
        fmt = body["format"]
        kind, _, ext = fmt.partition(":")
        ext = ext or _MEDIA_EXT.get(kind, "bin")
        data = unb64(body["data"])
        os.makedirs(media_dir, exist_ok=True)
        path = os.path.join(media_dir, f"media-{len(os.listdir(media_dir))}.{ext}")
        with open(path, "wb") as f:
            f.write(data)
        return path
    raise ValueError(f"unknown tag {tag}")


def to_raw(obj: Any) -> Any:
    """Media leaves as ``$bytes`` (what a raw-bytes reader returns)."""
    if isinstance(obj, list):
        return [to_raw(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    tag = _tag(obj)
    if tag == "$jpeg":
        return {"$bytes": obj[tag]}
    if tag == "$jpeg_array":
        return [{"$bytes": b} for b in obj[tag]]
    if tag == "$media":
        return {"$bytes": obj[tag]["data"]}
    if tag in ("$tuple", "$set", "$frozenset"):
        return {tag: [to_raw(v) for v in obj[tag]]}
    if tag == "$odict":
        return {tag: [[k, to_raw(v)] for k, v in obj[tag]]}
    if tag is not None:
        return obj
    return {k: to_raw(v) for k, v in obj.items()}


# ------------------------------------------------------------------------------------
# Exact comparison of a decoded value with its tagged JSON.


def _fail(path: str, msg: str) -> None:
    raise AssertionError(f"at {path or '<item>'}: {msg}")


def _type_name(value: Any) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def jpeg_original_bytes(image: Any) -> bytes:
    """The stored bytes (JPEG, PNG, ...) behind a decoded PIL image (never a re-encode)."""
    for attr in ("original_bytes", "jpeg_bytes", "raw_bytes"):
        value = getattr(image, attr, None)
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
    info = getattr(image, "info", {}) or {}
    for key in ("original_bytes", "jpeg_bytes", "litdata_bytes"):
        if isinstance(info.get(key), (bytes, bytearray)):
            return bytes(info[key])
    fp = getattr(image, "fp", None)
    if isinstance(fp, io.BytesIO):
        return fp.getvalue()
    filename = getattr(image, "filename", None)
    if filename and os.path.isfile(filename):
        with open(filename, "rb") as f:
            return f.read()
    raise AssertionError(f"cannot get the original JPEG bytes of {_type_name(image)}")


def check(actual: Any, expected: Any, path: str = "") -> None:
    """Assert that ``actual`` (a decoded item) equals the tagged JSON ``expected`` exactly."""
    if expected is None:
        if actual is not None:
            _fail(path, f"expected None, got {_type_name(actual)}")
        return
    if isinstance(expected, bool):
        if type(actual) is not bool or actual != expected:
            _fail(path, f"expected bool {expected!r}, got {_type_name(actual)} {actual!r}")
        return
    if isinstance(expected, int):
        if type(actual) is not int or actual != expected:
            _fail(path, f"expected int {expected!r}, got {_type_name(actual)} {actual!r}")
        return
    if isinstance(expected, float):
        if type(actual) is not float or struct.pack("<d", actual) != struct.pack("<d", expected):
            _fail(path, f"expected float {expected!r}, got {_type_name(actual)} {actual!r}")
        return
    if isinstance(expected, str):
        if type(actual) is not str or actual != expected:
            _fail(path, f"expected str {expected!r}, got {_type_name(actual)} {actual!r:.80}")
        return
    if isinstance(expected, list):
        if type(actual) is not list:
            _fail(path, f"expected list, got {_type_name(actual)}")
        if len(actual) != len(expected):
            _fail(path, f"expected {len(expected)} elements, got {len(actual)}")
        for i, (a, e) in enumerate(zip(actual, expected)):
            check(a, e, f"{path}[{i}]")
        return
    assert isinstance(expected, dict)
    tag = _tag(expected)
    if tag is None:
        if type(actual) is not dict:
            _fail(path, f"expected dict, got {_type_name(actual)}")
        if list(actual) != list(expected):
            _fail(path, f"expected keys {list(expected)}, got {list(actual)}")
        for k in expected:
            check(actual[k], expected[k], f"{path}.{k}")
        return
    body = expected[tag]
    if tag == "$bytes":
        want = unb64(body)
        if type(actual) is not bytes:
            _fail(path, f"expected bytes, got {_type_name(actual)}")
        if actual != want:
            _fail(
                path,
                f"bytes differ: expected {len(want)} bytes {want[:16].hex()}.., got {len(actual)} bytes {actual[:16].hex()}..",
            )
        return
    if tag == "$tuple":
        if type(actual) is not tuple:
            _fail(path, f"expected tuple, got {_type_name(actual)}")
        if len(actual) != len(body):
            _fail(path, f"expected {len(body)} elements, got {len(actual)}")
        for i, (a, e) in enumerate(zip(actual, body)):
            check(a, e, f"{path}[{i}]")
        return
    if tag == "$odict":
        if not isinstance(actual, OrderedDict):
            _fail(path, f"expected OrderedDict, got {_type_name(actual)}")
        if list(actual) != [k for k, _ in body]:
            _fail(path, f"expected keys {[k for k, _ in body]}, got {list(actual)}")
        for k, e in body:
            check(actual[k], e, f"{path}.{k}")
        return
    if tag in ("$set", "$frozenset", "$decimal", "$npscalar"):
        want = decode(expected)
        if type(actual) is not type(want):
            _fail(path, f"expected {_type_name(want)}, got {_type_name(actual)}")
        if tag == "$npscalar":
            if actual.dtype != want.dtype or actual.tobytes() != want.tobytes():
                _fail(path, f"expected {want!r} ({want.dtype}), got {actual!r} ({actual.dtype})")
        elif actual != want or (tag == "$decimal" and str(actual) != str(want)):
            _fail(path, f"expected {want!r}, got {actual!r}")
        return
    if tag == "$ndarray":
        if not isinstance(actual, np.ndarray):
            _fail(path, f"expected numpy array, got {_type_name(actual)}")
        if actual.dtype.name != body["dtype"]:
            _fail(path, f"expected dtype {body['dtype']}, got {actual.dtype.name}")
        if list(actual.shape) != body["shape"]:
            _fail(path, f"expected shape {body['shape']}, got {list(actual.shape)}")
        if np.ascontiguousarray(actual).tobytes() != unb64(body["data"]):
            _fail(path, "array data differs")
        return
    if tag == "$tensor":
        import torch

        if not isinstance(actual, torch.Tensor):
            _fail(path, f"expected torch tensor, got {_type_name(actual)}")
        if str(actual.dtype) != f"torch.{body['dtype']}":
            _fail(path, f"expected dtype torch.{body['dtype']}, got {actual.dtype}")
        if list(actual.shape) != body["shape"]:
            _fail(path, f"expected shape {body['shape']}, got {list(actual.shape)}")
        if actual.detach().cpu().contiguous().numpy().tobytes() != unb64(body["data"]):
            _fail(path, "tensor data differs")
        return
    if tag == "$pil":
        from PIL import Image

        if not isinstance(actual, Image.Image):
            _fail(path, f"expected PIL image, got {_type_name(actual)}")
        if actual.mode != body["mode"] or list(actual.size) != body["size"]:
            _fail(
                path,
                f"expected mode {body['mode']} size {body['size']}, got mode {actual.mode} size {list(actual.size)}",
            )
        if actual.tobytes() != unb64(body["data"]):
            _fail(path, "pixels differ")
        return
    if tag == "$jpeg":
        _check_jpeg(actual, body, path)
        return
    if tag == "$jpeg_array":
        if type(actual) is not list or len(actual) != len(body):
            _fail(path, f"expected a list of {len(body)} JPEG images, got {_type_name(actual)}")
        for i, (a, e) in enumerate(zip(actual, body)):
            _check_jpeg(a, e, f"{path}[{i}]")
        return
    if tag == "$media":
        want = unb64(body["data"])
        if body["format"].startswith("image:") and _is_pil(actual):
            # an image:EXT leaf may be decoded to a PIL image; its stored bytes must be kept
            if jpeg_original_bytes(actual) != want:
                _fail(path, f"the {body['format']} image's original bytes differ")
            return
        if body["format"] == "tifffile" and isinstance(actual, np.ndarray):
            # LitData decodes tifffile leaves to numpy; compare with Pillow's decode of the file
            from PIL import Image

            reference = np.asarray(Image.open(io.BytesIO(want)))
            if (
                actual.dtype != reference.dtype
                or actual.shape != reference.shape
                or not np.array_equal(actual, reference)
            ):
                _fail(
                    path,
                    f"tifffile array differs: {actual.dtype}{actual.shape} vs {reference.dtype}{reference.shape}",
                )
            return
        if type(actual) is not bytes:
            _fail(path, f"expected the file bytes of a {body['format']} leaf, got {_type_name(actual)}")
        if actual != want:
            _fail(path, f"{body['format']} bytes differ")
        return
    _fail(path, f"unknown tag {tag}")


def _is_pil(value: Any) -> bool:
    if not type(value).__module__.startswith("PIL."):
        return False
    from PIL import Image

    return isinstance(value, Image.Image)


def _check_jpeg(actual: Any, body: str, path: str) -> None:
    from PIL import Image

    if not isinstance(actual, Image.Image):
        _fail(path, f"expected a PIL image (JPEG), got {_type_name(actual)}")
    want = unb64(body)
    if jpeg_original_bytes(actual) != want:
        _fail(path, "the JPEG's original bytes differ")
    reference = Image.open(io.BytesIO(want))
    if actual.mode != reference.mode or actual.size != reference.size:
        _fail(path, f"expected mode {reference.mode} size {reference.size}, got {actual.mode} {actual.size}")
    if actual.tobytes() != reference.tobytes():
        _fail(path, "decoded JPEG pixels differ from Pillow's decode of the stored bytes")
