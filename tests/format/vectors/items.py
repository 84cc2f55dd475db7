"""The item lists of the LitData 0.2.76 test vectors, shared by both directions.

``build_items(name, workdir)`` returns the exact items of one vector dataset, in
stored order. It is pure and seeded: every call gives equal values (file-backed
items -- JPEG files, video/tiff/png paths -- are (re)written under ``workdir``).

Used by ``write_vectors.py`` (LitData venv: writes with ``litdata.optimize``) and by
``check_litdata_reads_ours.py`` (our env for writing with ``litdata_format``; the
LitData venv for reading back). Only numpy is imported at module level; Pillow and
torch are imported by the datasets that need them.

Each spec says how the dataset is written (``optimize`` keyword arguments) and
what it covers.
"""

from __future__ import annotations

import decimal
import os
from collections import OrderedDict
from typing import Any

import numpy as np

NUMPY_DTYPES = [
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128", "bool",
]  # fmt: skip

TORCH_DTYPES = [
    "float32", "float64", "float16", "complex64", "complex128", "uint8", "int8",
    "int16", "int32", "int64", "bool", "uint16",
]  # fmt: skip

TOKEN_BLOCK_SIZE = 8


def _rng(name: str, i: int = 0) -> np.random.Generator:
    seed = sum(ord(c) * (k + 1) for k, c in enumerate(name)) * 1000 + i
    return np.random.default_rng(seed)


def _array(rng: np.random.Generator, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    dt = np.dtype(dtype)
    n = int(np.prod(shape)) if shape else 1
    if dt.kind == "b":
        out = rng.integers(0, 2, size=n).astype(bool)
    elif dt.kind in "iu":
        info = np.iinfo(dt)
        lo, hi = max(int(info.min), -(2**62)), min(int(info.max), 2**62)
        out = rng.integers(lo, hi, size=n, dtype=np.int64 if dt.kind == "i" else np.uint64).astype(dt)
        if n >= 2:  # the extremes, to catch sign / width mistakes
            out[0], out[-1] = info.min, info.max
    elif dt.kind == "f":
        out = (rng.standard_normal(n) * 100).astype(dt)
    elif dt.kind == "c":
        out = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(dt)
    else:
        raise ValueError(dtype)
    return out.reshape(shape)


def _tensor(rng: np.random.Generator, dtype: str, shape: tuple[int, ...]) -> Any:
    import torch

    return torch.from_numpy(_array(rng, dtype, shape).copy())


def _pil(rng: np.random.Generator, mode: str, size: tuple[int, int]) -> Any:
    from PIL import Image

    w, h = size
    per_pixel = {"RGB": 3, "RGBA": 4, "L": 1, "LA": 2, "I;16": 2, "I": 4, "F": 4, "CMYK": 4}
    if mode == "1":
        nbytes = ((w + 7) // 8) * h
    else:
        nbytes = w * h * per_pixel[mode]
    raw = rng.integers(0, 256, size=nbytes, dtype=np.uint8).tobytes()
    if mode == "F":
        raw = (rng.standard_normal(w * h).astype("<f4")).tobytes()
    return Image.frombytes(mode, size, raw)


def _jpeg(workdir: str, name: str, rng: np.random.Generator, size: tuple[int, int], mode: str = "RGB") -> Any:
    """A PIL JpegImageFile opened from a real .jpg file written under workdir."""
    from PIL import Image

    path = os.path.join(workdir, f"{name}.jpg")
    if not os.path.exists(path):
        src = _pil(rng, mode, size)
        tmp = path + ".tmp"
        src.save(tmp, format="JPEG", quality=90)
        os.replace(tmp, path)
    return Image.open(path)


def _media_file(workdir: str, filename: str, payload: bytes) -> str:
    path = os.path.join(workdir, filename)
    if not os.path.exists(path):
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(payload)
        os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------------------
# The datasets. Each builder takes (workdir) and returns the list of items.


def _str(workdir: str) -> list:
    return ["hello", "", "ünïcödé ✓ 日本語", "a" * 50, "line\nbreak\ttab", "x", "😀 emoji", "last"]


def _bool(workdir: str) -> list:
    return [True, False, False, True, True, False, True]


def _int(workdir: str) -> list:
    return [0, 1, -1, 42, 2**63 - 1, -(2**63), 123456789012, -7, 10**18]


def _float(workdir: str) -> list:
    return [0.0, -0.0, 1.5, -2.25, 0.1, 1e300, 5e-324, 3.141592653589793, -1e-10]


def _bytes(workdir: str) -> list:
    rng = _rng("bytes")
    return [b"", b"\x00", b"abc", rng.bytes(40), rng.bytes(7), b"\xff" * 20, rng.bytes(33)]


def _numpy(workdir: str) -> list:
    items = []
    for i in range(4):
        rng = _rng("numpy", i)
        item = {}
        for k, dt in enumerate(NUMPY_DTYPES):
            shape = (2, 3) if k % 2 == 0 else (2, 2, 2)
            if dt == "float32":
                shape = (3, 2 + i)  # shape varies between items
            item[dt] = _array(rng, dt, shape)
        item["empty"] = np.zeros((0, 3), dtype=np.float32)
        item["fortran"] = np.asfortranarray(_array(rng, "int32", (3, 4)))  # stored in C order
        items.append(item)
    return items


def _no_header_numpy(workdir: str) -> list:
    items = []
    for i in range(4):
        rng = _rng("no_header_numpy", i)
        item = {dt: _array(rng, dt, (i + 2,)) for dt in NUMPY_DTYPES}
        item["maybe_empty"] = _array(rng, "float64", (i,))  # length 0 in item 0
        items.append(item)
    return items


def _tensor_ds(workdir: str) -> list:
    items = []
    for i in range(4):
        rng = _rng("tensor", i)
        item = {}
        for k, dt in enumerate(TORCH_DTYPES):
            shape = [(2, 3), (2, 2, 2), (3, 1 + i)][k % 3]
            item[dt] = _tensor(rng, dt, shape)
        item["scalar"] = _tensor(rng, "float32", ())  # ndim 0
        item["empty"] = _tensor(rng, "int64", (0, 2))
        items.append(item)
    return items


def _no_header_tensor(workdir: str) -> list:
    items = []
    for i in range(4):
        rng = _rng("no_header_tensor", i)
        items.append({dt: _tensor(rng, dt, (i + 2,)) for dt in TORCH_DTYPES})
    return items


def _pil_ds(workdir: str) -> list:
    items = []
    for i in range(4):
        rng = _rng("pil", i)
        items.append(
            {
                "rgb": _pil(rng, "RGB", (8, 6)),
                "l": _pil(rng, "L", (8, 6)),
                "rgba": _pil(rng, "RGBA", (5 + i, 4)),
                "bilevel": _pil(rng, "1", (10, 3)),
                "i16": _pil(rng, "I;16", (4, 3)),
                "f": _pil(rng, "F", (3, 2)),
            }
        )
    return items


def _jpeg_ds(workdir: str) -> list:
    items = []
    for i in range(5):
        rng = _rng("jpeg", i)
        mode = "L" if i == 3 else "RGB"
        items.append({"image": _jpeg(workdir, f"jpeg_{i}", rng, (8 + i, 6), mode), "label": i})
    return items


def _jpeg_array(workdir: str) -> list:
    from litdata.types import JpegArray  # only available in the LitData venv

    items = []
    for i in range(4):
        rng = _rng("jpeg_array", i)
        images = [_jpeg(workdir, f"jpeg_array_{i}_{k}", rng, (6 + k, 4)) for k in range(1 + i % 3)]
        items.append({"frames": JpegArray(images=images), "id": i})
    return items


def _media_paths(workdir: str) -> list:
    """Strings that are paths of existing files: LitData stores the file bytes."""
    from PIL import Image

    items = []
    for i in range(4):
        rng = _rng("media", i)
        video = _media_file(workdir, f"clip_{i}.mp4", b"\x00\x00\x00\x18ftypmp42" + rng.bytes(20 + i))
        png_path = os.path.join(workdir, f"pic_{i}.png")
        if not os.path.exists(png_path):
            _pil(rng, "RGB", (4, 3)).save(png_path + ".tmp", format="PNG")
            os.replace(png_path + ".tmp", png_path)
        tif_path = os.path.join(workdir, f"scan_{i}.tif")
        if not os.path.exists(tif_path):
            _pil(rng, "L", (3, 2)).save(tif_path + ".tmp", format="TIFF")
            os.replace(tif_path + ".tmp", tif_path)
        items.append((video, png_path, tif_path))
    del Image
    return items


def _file_ref(workdir: str) -> list:
    from litdata.types import File  # only available in the LitData venv

    items = []
    for i in range(4):
        rng = _rng("file", i)
        path = _media_file(workdir, f"blob_{i}.dat", rng.bytes(10 + 3 * i))
        items.append({"blob": File(path=path), "n": i})
    return items


def _pickle(workdir: str) -> list:
    return [
        {"s": {1, 2, 3}, "d": decimal.Decimal("1.5"), "f": frozenset({"a"})},
        {"s": set(), "d": decimal.Decimal("-0.001"), "f": frozenset()},
        {"s": {7}, "d": decimal.Decimal("12345678901234567890.1"), "f": frozenset({"b", "c"})},
        {"s": {-1, 0}, "d": decimal.Decimal("3"), "f": frozenset({"z"})},
    ]


def _numpy_scalar(workdir: str) -> list:
    return [(np.int64(i * 3 - 4), np.float64(i / 4)) for i in range(5)]


def _pytree_tuple(workdir: str) -> list:
    return [(i, i**2) for i in range(7)]


def _pytree_list(workdir: str) -> list:
    return [[i, f"s{i}", [float(i) + 0.5, bytes([i] * i)], (True, i * 10)] for i in range(6)]


def _pytree_dict(workdir: str) -> list:
    items = []
    for i in range(5):
        rng = _rng("pytree_dict", i)
        items.append(
            {
                "id": i,
                "name": f"item-{i}",
                "pair": (i, i * 2),
                "meta": {"score": i / 8, "flag": i % 2 == 0, "inner": {"blob": bytes([65 + i]) * 3}},
                "arrays": [_array(rng, "uint8", (2, 2)), _array(rng, "float32", (3,))],
                "mixed": (f"t{i}", [_array(rng, "int16", (i + 1,))]),
            }
        )
    return items


def _json_leaf(workdir: str) -> list:
    """dict items with list values of JSON scalars: 0.2.76 stores each such list as one
    ``json`` leaf (its own binary nested encoding), not as a pytree list."""
    items = []
    for i in range(5):
        items.append(
            {
                "id": i,
                "ints": [i, -i, 2**40 + i],
                "strs": ["a", f"b{i}", "ü"],
                "floats": [0.5, i / 3],
                "bools": [True, i % 2 == 1],
                "records": [
                    {"k": "x", "v": i, "w": 1.5, "b": False, "n": None},
                    {"k": "y", "v": -i, "w": 0.0, "b": True, "n": None},
                ],
                "mixed": [1, "two", 3.0, None, [4, 5], {"six": 6}],
                "empty": [],
                "nested_map": {"deep": {"list": [i, i + 1]}},
            }
        )
    return items


def _odict(workdir: str) -> list:
    items = []
    for i in range(5):
        od = OrderedDict([("z", i), ("a", f"v{i}"), ("m", float(i))])
        items.append((od, i))  # inside a tuple: a pytree node of its own
    return items


def _odict_top(workdir: str) -> list:
    return [OrderedDict([("z", i), ("a", f"v{i}")]) for i in range(5)]


def _framed_arrays(workdir: str) -> list:
    items = []
    for i in range(9):
        rng = _rng("zstd_framed", i)
        # a few KB, compressible (small value range)
        items.append(rng.integers(0, 16, size=700 + 50 * i).astype(np.int32))
    return items


def _framed_strings(workdir: str) -> list:
    return [(f"record {i}: " + "lorem ipsum dolor sit amet " * (40 + i), i) for i in range(7)]


def _long_strings(workdir: str) -> list:
    return [f"record {i}: " + "lorem ipsum dolor sit amet " * (40 + i) for i in range(7)]


def _zstd_chunk(workdir: str) -> list:
    return [
        {"text": f"sample {i} " + "abc" * (i * 10), "value": i * 1.25, "blob": bytes(range(i * 7 % 256)) * 3}
        for i in range(7)
    ]


def _zstd_small(workdir: str) -> list:
    return list(range(10))


def _aligned(workdir: str) -> list:
    return [(i, f"item {i}") for i in range(20)]


def _tokens(workdir: str) -> list:
    """The token arrays the generator fn yields: (input i -> 2 arrays)."""
    out = []
    for i in range(6):
        rng = _rng("tokens", i)
        for k in range(2):
            out.append(rng.integers(0, 65535, size=3 + (i * 5 + k * 3) % 11, dtype=np.uint16))
    return out


def _keyed_str(workdir: str) -> list:
    """Items with unique str ids, unsorted, non-ASCII and empty included (sidecar sort order)."""
    ids = [f"id-{(i * 37) % 100:03d}" for i in range(9)] + ["ümlaut", "日本語", "", "Zebra", "a b"]
    return [{"id": key, "value": i * i} for i, key in enumerate(ids)]


def key_of_str(item: dict) -> str:
    """key_fn of ``keys_str`` (module level: LitData pickles it into its workers)."""
    return item["id"]


def _keyed_int(workdir: str) -> list:
    """Items with unique int keys: negative, large (int64 range), unsorted."""
    keys = [7, -3, 2**62, -(2**40), 0, 123456789, -1, 42, 2**31 + 5, 99]
    return [{"k": key, "v": f"value {i}"} for i, key in enumerate(keys)]


def key_of_int(item: dict) -> int:
    """key_fn of ``keys_int``."""
    return item["k"]


def _encrypted(workdir: str) -> list:
    """Mixed leaves (int, str, bytes, numpy) for the Fernet vectors."""
    return [
        {"id": i, "text": f"secret {i} " + "x" * (i * 5), "raw": bytes([i]) * i, "vec": np.arange(i, dtype=np.int16)}
        for i in range(8)
    ]


def _encrypted_tiny(workdir: str) -> list:
    """Items of a few bytes: RSA-OAEP encrypts at most 190 bytes at once."""
    return [(i, f"s{i}") for i in range(7)]


#: Password of every encrypted vector; its key file is data/<name>/encryption_key.json
#: (written by the encryption object's ``save()``), named in expected.json's ``reader``.
ENCRYPTION_PASSWORD = "litdata-vectors"
ENCRYPTION_KEY_FILE = "encryption_key.json"

# name -> (builder, optimize kwargs, covers)
SPECS: dict[str, dict[str, Any]] = {
    "encrypted_fernet_sample": dict(
        build=_encrypted,
        optimize=dict(chunk_size=3),
        encryption=dict(cls="FernetEncryption", level="sample"),
        covers="FernetEncryption(level='sample'): each item encrypted, classic header over the ciphertexts",
    ),
    "encrypted_fernet_chunk": dict(
        build=_encrypted,
        optimize=dict(chunk_size=3),
        encryption=dict(cls="FernetEncryption", level="chunk"),
        covers="FernetEncryption(level='chunk'): each chunk file is one Fernet token",
    ),
    "encrypted_fernet_chunk_zstd": dict(
        build=_encrypted,
        optimize=dict(chunk_size=3, compression="zstd", compression_level="chunk"),
        encryption=dict(cls="FernetEncryption", level="chunk"),
        covers="chunk-level Fernet then whole-chunk zstd (.zstd.bin of the ciphertext)",
    ),
    "encrypted_rsa_sample": dict(
        build=_encrypted_tiny,
        optimize=dict(chunk_size=3),
        encryption=dict(cls="RSAEncryption", level="sample"),
        covers="RSAEncryption(level='sample'), tiny tuple items",
    ),
    "encrypted_rsa_chunk": dict(
        build=_zstd_small,
        optimize=dict(chunk_size=3),
        encryption=dict(cls="RSAEncryption", level="chunk"),
        covers="RSAEncryption(level='chunk'): chunks of 3 ints (under RSA's 190 bytes)",
    ),
    "str": dict(build=_str, optimize=dict(chunk_size=3), covers="str leaves (utf-8, empty)"),
    "bool": dict(build=_bool, optimize=dict(chunk_size=3), covers="bool leaves"),
    "int": dict(build=_int, optimize=dict(chunk_size=4), covers="int leaves (int64 extremes)"),
    "float": dict(build=_float, optimize=dict(chunk_size=4), covers="float leaves (-0.0, subnormal)"),
    "bytes": dict(
        build=_bytes, optimize=dict(chunk_bytes=64), covers="bytes leaves (empty too); chunk_bytes target"
    ),
    "numpy": dict(
        build=_numpy,
        optimize=dict(chunk_size=2),
        covers="numpy ndim>1, all 14 dtypes, empty, Fortran-order input",
    ),
    "no_header_numpy": dict(
        build=_no_header_numpy, optimize=dict(chunk_size=2), covers="1-D numpy, all 14 dtypes, zero length"
    ),
    "tensor": dict(
        build=_tensor_ds,
        optimize=dict(chunk_size=2),
        covers="torch ndim!=1 (0-d, 2-d, 3-d, empty), 12 dtypes",
    ),
    "no_header_tensor": dict(
        build=_no_header_tensor, optimize=dict(chunk_size=2), covers="1-D torch, 12 dtypes"
    ),
    "pil": dict(build=_pil_ds, optimize=dict(chunk_size=2), covers="PIL modes RGB, L, RGBA, 1, I;16, F"),
    "jpeg": dict(
        build=_jpeg_ds,
        optimize=dict(chunk_size=2),
        covers="PIL JpegImageFile from .jpg (RGB and L): file bytes",
    ),
    "jpeg_array": dict(
        build=_jpeg_array, optimize=dict(chunk_size=2), covers="litdata.types.JpegArray of JpegImageFiles"
    ),
    "media_paths": dict(
        build=_media_paths, optimize=dict(chunk_size=2), covers="str paths of existing .mp4/.png/.tif files"
    ),
    "file": dict(build=_file_ref, optimize=dict(chunk_size=2), covers="litdata.types.File(path=...)"),
    "pickle": dict(
        build=_pickle, optimize=dict(chunk_size=2), covers="pickle leaves: set, Decimal, frozenset"
    ),
    "numpy_scalar": dict(
        build=_numpy_scalar,
        optimize=dict(chunk_size=2),
        covers="np.int64 (pickle) and np.float64 (float) scalars",
    ),
    "pytree_tuple": dict(build=_pytree_tuple, optimize=dict(chunk_size=3), covers="tuple items (i, i**2)"),
    "pytree_list": dict(
        build=_pytree_list, optimize=dict(chunk_size=4), covers="top-level list items with nested list/tuple"
    ),
    "pytree_dict": dict(
        build=_pytree_dict,
        optimize=dict(chunk_size=2),
        covers="dicts: nested dicts, tuple values, lists of arrays",
    ),
    "json_leaf": dict(
        build=_json_leaf,
        optimize=dict(chunk_size=2),
        covers="dict with lists of JSON values -> 'json' leaves",
    ),
    "odict": dict(build=_odict, optimize=dict(chunk_size=2), covers="OrderedDict inside a tuple item"),
    "odict_top": dict(
        build=_odict_top,
        optimize=dict(chunk_size=2),
        covers="OrderedDict as the whole item (stored as builtins.dict)",
        expect=lambda values: [dict(v) for v in values],
        expect_note="LitData 0.2.76 rebuilds a top-level dict item (wrap_for_pytree) as a plain dict: "
        "data_spec says builtins.dict, so the expected items are plain dicts",
    ),
    "zstd_chunk": dict(
        build=_zstd_chunk,
        optimize=dict(chunk_size=3, compression="zstd", compression_level="chunk"),
        covers="whole-chunk zstd (.zstd.bin)",
    ),
    "zstd_chunk_level": dict(
        build=_zstd_small,
        optimize=dict(chunk_size=4, compression="zstd:10", compression_level="chunk"),
        covers="whole-chunk zstd with compression='zstd:10'",
    ),
    "zstd_framed": dict(
        build=_framed_arrays,
        optimize=dict(chunk_size=4, compression="zstd", compression_batch_size=2),
        covers="framed LDFZ01, 1-D int32 arrays of ~3 KB, 2 items per frame",
    ),
    "zstd_framed_default": dict(
        build=_long_strings,
        optimize=dict(chunk_size=4, compression="zstd"),
        covers="framed LDFZ01 with default batch size (one frame per chunk), long strings",
    ),
    "zstd_framed_small": dict(
        build=_zstd_small,
        optimize=dict(chunk_bytes=40, compression="zstd"),
        covers="compression='zstd' with tiny int items and chunk_bytes",
    ),
    "zstd_sample": dict(
        build=_long_strings,
        optimize=dict(chunk_size=4, compression="zstd", compression_level="sample"),
        covers="compression_level='sample': classic header, each item its own zstd frame",
    ),
    "zstd_batch_skipped": dict(
        build=_framed_strings,
        optimize=dict(chunk_size=4, compression="zstd"),
        covers="compression='zstd' (batch) with tuple items: index says zstd/batch, chunks are classic",
    ),
    "zstd_sample_skipped": dict(
        build=_framed_strings,
        optimize=dict(chunk_size=4, compression="zstd", compression_level="sample"),
        covers="compression_level='sample' with tuple items: index says zstd/sample, chunks are classic",
    ),
    "keys_str": dict(
        build=_keyed_str,
        optimize=dict(chunk_size=4, key_fn=key_of_str),
        covers="optimize(key_fn=...) with str keys: keys/shard-00000.parquet and the index.json keys section",
    ),
    "keys_int": dict(
        build=_keyed_int,
        optimize=dict(chunk_size=3, key_fn=key_of_int),
        covers="optimize(key_fn=...) with int keys (int64 key column)",
    ),
    "align_chunking": dict(
        build=_aligned,
        optimize=dict(chunk_size=3, align_chunking=True),
        num_workers=3,
        covers="align_chunking=True with 3 workers: whole chunks of chunk_size on every worker but the last",
    ),
    "tokens": dict(
        build=_tokens,
        optimize=dict(chunk_size=40),
        item_loader="TokensLoader",
        covers="TokensLoader, uint16 1-D arrays, chunk_size in tokens",
    ),
    "tokens_zstd": dict(
        build=_tokens,
        optimize=dict(chunk_size=40, compression="zstd", compression_level="chunk"),
        item_loader="TokensLoader",
        covers="TokensLoader with whole-chunk zstd",
    ),
}


def build_items(name: str, workdir: str) -> list:
    os.makedirs(workdir, exist_ok=True)
    return SPECS[name]["build"](workdir)
