"""Seeded synthetic photos for the benchmarks: smooth gradients, waves and sensor noise
compress like real photos (a 640x480 one is about 100 KB as a quality-90 JPEG)."""

from __future__ import annotations

import os

import numpy as np


def make_photo(seed: int, path: str, width: int, height: int, noise: float) -> None:
    """Write the JPEG of ``seed`` to ``path`` atomically (a temporary name, then rename)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    c = rng.uniform(0, 1, (3, 4)).astype(np.float32)
    channels = [
        (c[k, 0] * x / width + c[k, 1] * y / height) * 200
        + 30 * np.sin(x / (10 + 20 * c[k, 2]) + y / (20 + 30 * c[k, 3]))
        for k in range(3)
    ]
    image = np.stack(channels, -1) + rng.standard_normal((height, width, 3), dtype=np.float32) * noise
    tmp = f"{path}.tmp"
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(tmp, "JPEG", quality=90)
    os.replace(tmp, path)
