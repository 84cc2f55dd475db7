"""Helpers shared by every per-library benchmark script (benchmarks/peers/*_bench.py).

Each peer script runs in its own virtual environment, so this module needs only the
standard library, numpy and Pillow. It holds the one image transform that every library
applies (so that the libraries differ only in how they deliver the bytes), the timing
loop and the JSON protocol with benchmarks/compare.py: a peer prints one line
``RESULT {json}`` on stdout.
"""

from __future__ import annotations

import io
import json
import math
import os
import random
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from PIL import Image

CROP = 224
SCALE = (0.08, 1.0)
RATIO = (3 / 4, 4 / 3)


def random_resized_crop_box(width: int, height: int, rng: random.Random) -> tuple[int, int, int, int]:
    """torchvision's RandomResizedCrop box choice (10 tries, then a centre crop)."""
    area = width * height
    log_ratio = (math.log(RATIO[0]), math.log(RATIO[1]))
    for _ in range(10):
        target = area * rng.uniform(*SCALE)
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            left = rng.randint(0, width - w)
            top = rng.randint(0, height - h)
            return left, top, left + w, top + h
    in_ratio = width / height
    if in_ratio < RATIO[0]:
        w, h = width, int(round(width / RATIO[0]))
    elif in_ratio > RATIO[1]:
        h, w = height, int(round(height * RATIO[1]))
    else:
        w, h = width, height
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


_RNG = random.Random()


def train_transform(image: bytes | Image.Image) -> np.ndarray:
    """JPEG bytes (or a PIL image) -> RandomResizedCrop(224) + horizontal flip -> float32
    HWC array in [0, 1]. PIL + numpy only, the same function for every library."""
    if not isinstance(image, Image.Image):
        image = Image.open(io.BytesIO(image))
    image = image.convert("RGB")
    box = random_resized_crop_box(image.width, image.height, _RNG)
    image = image.resize((CROP, CROP), Image.BILINEAR, box=box)
    if _RNG.random() < 0.5:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    return np.asarray(image, dtype=np.float32) * (1.0 / 255.0)


def batch_len(batch: Any) -> int:
    """Number of samples in a collated batch (dict, tuple or list of columns)."""
    if isinstance(batch, dict):
        batch = next(iter(batch.values()))
    elif isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], (tuple, list, np.ndarray)) or (
        isinstance(batch, (tuple, list)) and batch and hasattr(batch[0], "shape") and len(batch) == 2
    ):
        batch = batch[0]
    return len(batch)


def time_epochs(
    make_loader: Callable[[], Iterable[Any]],
    epochs: int,
    count: Callable[[Any], int],
    start: float | None = None,
) -> dict[str, Any]:
    """Iterate ``epochs`` times over the loader that ``make_loader`` builds. ``start``:
    when the clock for the time to first batch started (default: now, before building)."""
    t0 = time.perf_counter() if start is None else start
    cpu0 = os.times()
    loader = make_loader()
    per_epoch, first_batch = [], None
    for _ in range(epochs):
        n, began = 0, time.perf_counter()
        for batch in loader:
            if first_batch is None:
                first_batch = time.perf_counter() - t0
            n += count(batch)
        elapsed = time.perf_counter() - began
        per_epoch.append({"items": n, "seconds": elapsed, "items_per_s": n / elapsed if elapsed else 0.0})
    del loader  # its workers are gone after each epoch: their CPU time is in ``children_*``
    cpu1 = os.times()
    cpu = sum(getattr(cpu1, k) - getattr(cpu0, k) for k in ("user", "system", "children_user", "children_system"))
    items = sum(e["items"] for e in per_epoch)
    # CPU of this process and of the loader workers it reaped (every library's workers end
    # with their epoch here), from building the dataset to the end of the last epoch.
    return {"epochs": per_epoch, "first_batch_s": first_batch, "cpu_s": cpu,
            "cpu_ms_per_item": 1000 * cpu / items if items else None}


def shuffle_epoch(
    make_loader: Callable[[], Iterable[Any]],
    labels_of: Callable[[Any], list[int]],
    batch_size: int,
    start: float | None = None,
) -> dict[str, Any]:
    """One epoch over the loader that ``make_loader`` builds, for benchmarks/shuffle_quality.py:
    images/s, and how many distinct labels each full batch holds (mean, min, max). Also
    checks that the epoch served every label as often as the dataset holds it."""
    t0 = time.perf_counter() if start is None else start
    loader = make_loader()
    distinct: list[int] = []
    counts: dict[int, int] = {}
    first_batch = None
    n, began = 0, time.perf_counter()
    for batch in loader:
        if first_batch is None:
            first_batch = time.perf_counter() - t0
        labels = labels_of(batch)
        n += len(labels)
        if len(labels) == batch_size:
            distinct.append(len(set(labels)))
        for label in labels:
            counts[label] = counts.get(label, 0) + 1
    elapsed = time.perf_counter() - began
    arr = np.asarray(distinct or [0])
    return {
        "items": n, "seconds": elapsed, "items_per_s": n / elapsed if elapsed else 0.0,
        "first_batch_s": first_batch, "full_batches": len(distinct),
        "distinct_mean": float(arr.mean()), "distinct_min": int(arr.min()), "distinct_max": int(arr.max()),
        "label_counts": {str(k): v for k, v in sorted(counts.items())},
    }


def latencies(read: Callable[[int], Any], length: int, samples: int, seed: int = 0) -> dict[str, Any]:
    """Latency of ``read(i)`` at ``samples`` random indices: p50, p99, mean (ms)."""
    rng = random.Random(seed)
    times = []
    for _ in range(samples):
        i = rng.randrange(length)
        began = time.perf_counter()
        read(i)
        times.append((time.perf_counter() - began) * 1000)
    arr = np.asarray(times)
    return {
        "samples": samples,
        "p50_ms": float(np.percentile(arr, 50)),
        "p99_ms": float(np.percentile(arr, 99)),
        "mean_ms": float(arr.mean()),
        "first_ms": float(arr[0]),
    }


def dir_stats(path: str) -> dict[str, int]:
    files = total = 0
    for root, _, names in os.walk(path):
        for name in names:
            files += 1
            total += os.path.getsize(os.path.join(root, name))
    return {"output_bytes": total, "output_files": files}


def fresh_dir(path: str) -> str:
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)
    return path


def read_inputs(args: dict[str, Any]) -> tuple[list[str], list[int]]:
    """The image files and their labels, listed by compare.py in a JSON file."""
    with open(args["image_list"]) as f:
        listing = json.load(f)
    return listing["paths"], listing["labels"]


def token_blocks(files: list[str], block: int) -> Iterable[np.ndarray]:
    """The token stream of ``files`` (in order) cut into blocks of ``block`` tokens, for
    the formats that store fixed-size samples (the remainder is dropped)."""
    carry = np.empty(0, dtype=np.uint16)
    for path in files:
        data = np.concatenate([carry, np.load(path)])
        whole = len(data) // block * block
        for start in range(0, whole, block):
            yield data[start : start + block]
        carry = data[whole:]


def main(handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]]) -> None:
    """``python X_bench.py WORKLOAD '{json args}'`` -> prints ``RESULT {json}``."""
    workload, args = sys.argv[1], json.loads(sys.argv[2])
    if workload not in handlers:
        print("RESULT " + json.dumps({"skipped": f"no {workload} workload for this library"}), flush=True)
        return
    result = handlers[workload](args)
    print("RESULT " + json.dumps(result), flush=True)
