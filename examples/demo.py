"""Demo: optimize a small image dataset into LitData chunks and read it back, with throughput.

Writes 2,000 labelled JPEG images (made with Pillow, seeded) into chunks, reads every
item back through memory-mapped chunks with checksums verified, checks each one, and
prints items/s and MB/s for both directions.
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time

import numpy as np
from PIL import Image

from litdata_format import read_dataset, write_dataset


def make_images(count: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    items = []
    for i in range(count):
        # Smooth gradients plus noise compress like photos, not like pure noise.
        x = np.linspace(0, 255, 64, dtype=np.float32)
        base = (x[None, :, None] + x[:, None, None] * rng.random(3)) / 2
        pixels = np.clip(base + rng.normal(0, 12, (64, 64, 3)), 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
        items.append({"index": i, "image": Image.open(io.BytesIO(buffer.getvalue())), "class": int(rng.integers(10))})
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=2000)
    args = parser.parse_args()

    items = make_images(args.items)
    with tempfile.TemporaryDirectory() as tmp:
        output = os.path.join(tmp, "images")
        start = time.perf_counter()
        index = write_dataset(output, items, chunk_bytes="4MB")
        write_seconds = time.perf_counter() - start
        size = sum(chunk.chunk_bytes for chunk in index.chunks)

        start = time.perf_counter()
        back = read_dataset(output, verify=True)
        read_seconds = time.perf_counter() - start

    assert len(back) == len(items)
    for original, item in zip(items, back):
        assert item["index"] == original["index"] and item["class"] == original["class"]
        assert item["image"].size == (64, 64)
    mb = size / 1e6
    print(f"wrote {len(items)} images in {len(index.chunks)} chunks ({mb:.1f} MB)")
    print(f"  write: {len(items) / write_seconds:,.0f} items/s, {mb / write_seconds:,.1f} MB/s")
    print(f"  read:  {len(back) / read_seconds:,.0f} items/s, {mb / read_seconds:,.1f} MB/s (checksums verified)")
    print("every item read back exactly")


if __name__ == "__main__":
    main()
