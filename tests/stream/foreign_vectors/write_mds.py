"""Write the MDS test vectors with Mosaic's own ``MDSWriter`` (run in .venvs/mosaic-vectors).

    .venvs/mosaic-vectors/bin/python tests/stream/foreign_vectors/write_mds.py tests/stream/foreign_vectors/mds

Each dataset folder gets ``expected.json``: the samples as Mosaic's own reader decodes
them, tagged (see ``tagged`` below and ``mds_expected`` in test_mds_source.py).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import types

import numpy as np
from PIL import Image

_MDS: list = []


def _import_mds():
    if _MDS:
        return _MDS
    # streaming/__init__ imports its vision datasets (torchvision); the format code needs none of it.
    root = os.path.dirname(importlib.util.find_spec("streaming").origin)
    for name, path in (("streaming", root), ("streaming.base", os.path.join(root, "base"))):
        module = types.ModuleType(name)
        module.__path__ = [path]
        sys.modules[name] = module
    from streaming.base.format.mds.encodings import mds_decode
    from streaming.base.format.mds.writer import MDSWriter

    _MDS.extend([MDSWriter, mds_decode])
    return _MDS


def image(i: int, mode: str = "RGB") -> Image.Image:
    pixels = (np.arange(4 * 5 * 3, dtype=np.uint8).reshape(5, 4, 3) * (i + 1)) % 251
    return Image.fromarray(pixels.astype(np.uint8), "RGB").convert(mode)


COLUMNS = {
    "id": "int", "u8": "uint8", "i16": "int16", "u64": "uint64", "f16": "float16", "f32": "float32", "f64": "float64",
    "text": "str", "blob": "bytes", "arr": "ndarray", "arr_fixed": "ndarray:int16:2,3", "arr_dtype": "ndarray:float32",
    "num": "str_int", "raw_img": "pil", "jpg": "jpeg", "png": "png", "meta": "json",
}


def sample(i: int) -> dict:
    return {
        "id": i, "u8": i % 256, "i16": -i, "u64": 2**40 + i, "f16": i / 2, "f32": i / 4, "f64": i / 3,
        "text": f"item-{i} é", "blob": bytes(range(i % 7)) * 3, "arr": np.arange(i % 5 + 1, dtype=np.uint16).reshape(1, -1),
        "arr_fixed": np.full((2, 3), i, dtype=np.int16), "arr_dtype": np.linspace(0, 1, i % 3 + 2, dtype=np.float32),
        "num": 10**20 + i, "raw_img": image(i, "L"), "jpg": image(i), "png": image(i, "RGBA"),
        "meta": {"i": i, "tags": ["a", str(i)]},
    }


def tagged(value):
    """JSON for a decoded value, with its Python/numpy type."""
    if isinstance(value, Image.Image):
        return {"image": [value.mode, value.size[0], value.size[1], value.tobytes().hex()]}
    if isinstance(value, np.ndarray):
        return {"ndarray": [value.dtype.name, list(value.shape), value.ravel().tolist()]}
    if isinstance(value, np.generic):
        return {"scalar": [value.dtype.name, value.item()]}
    if isinstance(value, bytes):
        return {"bytes": value.hex()}
    if isinstance(value, bool) or value is None:
        return {"json": value}
    if isinstance(value, int):
        return {"int": str(value)}
    if isinstance(value, float):
        return {"float": value}
    if isinstance(value, str):
        return {"str": value}
    return {"json": value}


def write(out: str, name: str, columns: dict, samples: list, compression=None, size_limit=1 << 12) -> None:
    MDSWriter, mds_decode = _import_mds()
    folder = os.path.join(out, name)
    shutil.rmtree(folder, ignore_errors=True)
    with MDSWriter(out=folder, columns=columns, compression=compression, size_limit=size_limit) as writer:
        for s in samples:
            writer.write(s)
    # what Mosaic's reader hands out: decode each written sample's encoded columns back
    expected = [{k: tagged(mds_decode(columns[k], _encode(columns[k], v))) for k, v in s.items()} for s in samples]
    with open(os.path.join(folder, "expected.json"), "w") as f:
        json.dump(expected, f, indent=0, sort_keys=True)


def _encode(encoding, value):
    from streaming.base.format.mds.encodings import mds_encode

    return mds_encode(encoding, value)


def main(out: str) -> None:
    write(out, "all_encodings", COLUMNS, [sample(i) for i in range(10)])
    write(out, "zstd", COLUMNS, [sample(i) for i in range(10)], compression="zstd:7")
    write(out, "gz", {"id": "int", "text": "str"}, [{"id": i, "text": f"t{i}"} for i in range(40)],
          compression="gz", size_limit=1 << 8)
    write(out, "pickled", {"id": "int", "obj": "pkl"}, [{"id": i, "obj": {"set": sorted({i, 2 * i})}} for i in range(9)],
          size_limit=1 << 8)


if __name__ == "__main__":
    main(sys.argv[1])
