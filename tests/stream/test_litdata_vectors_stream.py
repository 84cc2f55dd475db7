"""Every dataset LitData 0.2.76 wrote (tests/format/vectors/data) streams exactly.

``ds[:]`` gives the expected items in stored order; a 2-worker ``StreamingDataLoader``
yields the same multiset; a vector uploaded to an S3 server streams the same way.
"""

from __future__ import annotations

import os
import struct
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from litdata_vectors import NAMES, expected  # tests/ is on sys.path (tests/conftest.py)

import litdata_format
from litdata_stream import StreamingDataLoader, StreamingDataset, TokensLoader


def _require(vector: dict) -> None:
    needed = expected.needs(vector["items"])
    if "PIL" in needed:
        pytest.importorskip("PIL")
    if "zstd" in (vector["notes"]["config"].get("compression") or ""):
        pytest.importorskip("zstandard")


def open_vector(url: str, vector: dict, **kwargs) -> StreamingDataset:
    reader = vector["reader"]
    loader = TokensLoader(block_size=reader["block_size"]) if reader["item_loader"] == "TokensLoader" else None
    return StreamingDataset(url, item_loader=loader, allow_pickle=bool(reader["allow_pickle"]),
                            encryption=expected.encryption_for(vector), **kwargs)


def as_expected(item, vector: dict):
    """Token blocks come as tensors sharing the chunk's memory; the vectors list numpy arrays."""
    if vector["reader"]["item_loader"] == "TokensLoader":
        assert isinstance(item, torch.Tensor) and item.ndim == 1
        return item.numpy().copy()
    return item


def check_in_order(name: str, items: list, vector: dict) -> None:
    assert len(items) == len(vector["items"]), f"{name}: {len(items)} items, expected {len(vector['items'])}"
    for i, (actual, want) in enumerate(zip(items, vector["items"])):
        try:
            expected.check(as_expected(actual, vector), want)
        except AssertionError as exc:
            raise AssertionError(f"{name}, item {i}: {exc}") from None


def canonical(value):
    """A hashable, exact description of a decoded value (types, dtypes, shapes, bytes, pixels).

    Items streamed by DataLoader workers reach the main process pickled; a PIL image then
    keeps its mode, size and pixels but not the file it was opened from, so images are
    compared by pixels here (``ds[:]``, checked exactly above, covers the stored bytes).
    """
    if isinstance(value, torch.Tensor):
        flat = value.detach().contiguous().reshape(-1)
        return ("tensor", str(value.dtype), tuple(value.shape), flat.view(torch.uint8).numpy().tobytes())
    if isinstance(value, np.ndarray):
        return ("ndarray", value.dtype.str, value.shape, np.ascontiguousarray(value).tobytes())
    if isinstance(value, np.generic):
        return ("npscalar", value.dtype.str, value.tobytes())
    if type(value).__module__.startswith("PIL."):
        return ("PIL", value.mode, value.size, value.tobytes())
    if isinstance(value, dict):
        return (type(value).__name__, tuple((k, canonical(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(canonical(v) for v in value))
    if isinstance(value, (set, frozenset)):
        return (type(value).__name__, tuple(sorted(repr(canonical(v)) for v in value)))
    if isinstance(value, float):
        return ("float", struct.pack("<d", value))
    return (type(value).__name__, repr(value))


def check_same_multiset(name: str, items: list, reference: list) -> None:
    """``items`` (streamed by workers) are ``reference`` (``ds[:]``) in some order."""
    assert len(items) == len(reference), f"{name}: {len(items)} items, expected {len(reference)}"
    assert Counter(map(canonical, items)) == Counter(map(canonical, reference)), name


def files_of(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


@pytest.mark.parametrize("name", NAMES)
def test_vector_streams_exactly(name):
    vector = expected.load(name)
    _require(vector)
    folder = expected.DATA_DIR / name
    before = files_of(folder)
    ds = open_vector(str(folder), vector)
    assert len(ds) == len(vector["items"])
    everything = ds[:]
    check_in_order(name, everything, vector)
    fresh = open_vector(str(folder), vector)  # also straight from a new dataset, last item first
    check_in_order(name, list(reversed([fresh[i] for i in range(len(fresh) - 1, -1, -1)])), vector)
    loader = StreamingDataLoader(open_vector(str(folder), vector, shuffle=True), batch_size=1, num_workers=2,
                                 collate_fn=lambda x: x[0])
    check_same_multiset(name, list(loader), everything)
    assert files_of(folder) == before  # reading never writes into the dataset's folder


@pytest.mark.parametrize("name", [n for n in NAMES if expected.load(n)["reader"]["allow_pickle"]])
def test_pickle_vector_needs_opt_in(name):
    folder = str(expected.DATA_DIR / name)
    with pytest.raises(litdata_format.PickleNotAllowedError):
        StreamingDataset(folder)[0]


VECTORS_OVER_S3 = [n for n in ("zstd_chunk", "tokens_zstd", "jpeg", "pytree_dict", "zstd_framed") if n in NAMES]


def test_vectors_stream_from_s3(s3_server, tmp_path):
    location = s3_server.new_location()
    options = s3_server.storage_options()
    from litdata_storage import open_store

    for name in VECTORS_OVER_S3:
        vector = expected.load(name)
        _require(vector)
        folder = expected.DATA_DIR / name
        store = open_store(f"{location}/{name}", **options)
        files = sorted(p.name for p in folder.iterdir() if p.name != "expected.json")
        for file in sorted(files, key=lambda f: f == "index.json"):
            store.put_file(file, folder / file)
        url = f"{location}/{name}"
        everything = open_vector(url, vector, storage_options=options)[:]
        check_in_order(name, everything, vector)
        loader = StreamingDataLoader(open_vector(url, vector, storage_options=options, shuffle=True), batch_size=1,
                                     num_workers=2, collate_fn=lambda x: x[0])
        check_same_multiset(name, list(loader), everything)
    cached = {p.name for p in Path(os.environ["LITDATA_CACHE_DIR"]).rglob("chunk-*")}
    assert cached and not any(".zstd" in n for n in cached)  # stored decompressed
