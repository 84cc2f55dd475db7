"""Encode and decode throughput of the format codec (pytest-benchmark).

Three workloads: small items (an int, a short string and a float), ~100 KB JPEG items
(352 x 352, quality 95),
and token arrays. Each benchmark stores items/s and MB/s in ``extra_info``.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from litdata_format import ClassicChunk, ItemDecoder, ItemEncoder, encode_chunk

N_SMALL = 20_000
N_JPEG = 200
N_TOKENS = 200


def small_items():
    return [{"id": i, "name": f"sample-{i}", "score": i / 7} for i in range(N_SMALL)]


def jpeg_items():
    rng = np.random.default_rng(0)
    items = []
    for i in range(N_JPEG):
        x = np.linspace(0, 255, 352, dtype=np.float32)
        pixels = np.clip((x[None, :, None] + x[:, None, None]) / 2 + rng.normal(0, 30, (352, 352, 3)), 0, 255)
        buffer = io.BytesIO()
        Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="JPEG", quality=95)
        items.append({"image": Image.open(io.BytesIO(buffer.getvalue())), "label": i % 1000})
    return items


def token_items():
    rng = np.random.default_rng(1)
    return [rng.integers(0, 50_000, size=2049 * 8, dtype=np.uint16) for _ in range(N_TOKENS)]


WORKLOADS = {"small": small_items, "jpeg": jpeg_items, "tokens": token_items}


def _record(benchmark, count: int, nbytes: int) -> None:
    seconds = benchmark.stats.stats.median
    benchmark.extra_info["items_per_s"] = round(count / seconds)
    benchmark.extra_info["MB_per_s"] = round(nbytes / seconds / 1e6, 1)


@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_encode(benchmark, workload):
    items = WORKLOADS[workload]()

    def encode():
        encoder = ItemEncoder()
        return encode_chunk([encoder.encode(item) for item in items])

    data = benchmark(encode)
    _record(benchmark, len(items), len(data))


@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_decode(benchmark, workload):
    items = WORKLOADS[workload]()
    encoder = ItemEncoder()
    data = encode_chunk([encoder.encode(item) for item in items])
    chunk = ClassicChunk(data, "bench")
    decoder = ItemDecoder(encoder.data_format, encoder.data_spec)

    def decode():
        return [decoder.decode(chunk.item(i)) for i in range(len(chunk))]

    benchmark(decode)
    _record(benchmark, len(items), len(data))
