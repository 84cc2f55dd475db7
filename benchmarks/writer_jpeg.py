"""Benchmark: convert 8,000 JPEG files (~60 KB each) into chunks with optimize(), 2 workers.

    python benchmarks/writer_jpeg.py [--images 8000] [--workers 2] [--output DIR]

The images are synthetic but natural-looking (smooth gradients, waves and sensor-like
noise, seeded), generated once into ``.benchmarks/writer_jpeg/images`` and reused. ``fn``
returns ``Image.open(path)``: the jpeg serializer stores the file's original bytes, so
the benchmark measures the writer (processes, chunking, I/O), not JPEG encoding.
Prints images/s. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image
from synthetic_photo import make_photo  # benchmarks/, the folder of this script

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".benchmarks" / "writer_jpeg" / "images"
WIDTH, HEIGHT = 560, 420


def _make_range(args: tuple[int, int]) -> None:
    start, stop = args
    for i in range(start, stop):
        path = CACHE / f"{i:06d}.jpg"
        if not path.exists():
            make_photo(i, str(path), WIDTH, HEIGHT, noise=7)


def ensure_images(count: int) -> list[str]:
    CACHE.mkdir(parents=True, exist_ok=True)
    paths = [str(CACHE / f"{i:06d}.jpg") for i in range(count)]
    missing = [i for i, p in enumerate(paths) if not os.path.exists(p)]
    if missing:
        print(f"generating {len(missing)} images into {CACHE} (once)...", flush=True)
        step = 200
        ranges = [(s, min(s + step, count)) for s in range(0, count, step)]
        with ProcessPoolExecutor(os.cpu_count() or 2) as pool:
            list(pool.map(_make_range, ranges))
    return paths


def open_image(path: str) -> Image.Image:
    return Image.open(path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-bytes", default="64MB")
    parser.add_argument("--output", default=None, help="output dir or URL (default: a temporary folder)")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the median is reported")
    args = parser.parse_args()

    from litdata_writer import optimize

    paths = ensure_images(args.images)
    total_mb = sum(os.path.getsize(p) for p in paths) / 1e6
    output = args.output or os.path.join(tempfile.mkdtemp(prefix="writer-jpeg-"), "dataset")
    # warm the page cache so the first run is not a disk benchmark
    for p in paths:
        with open(p, "rb") as f:
            f.read()
    times = []
    for _ in range(args.repeat):
        _clear(output)  # outside the timing: a fresh output each run
        start = time.perf_counter()
        index = optimize(
            open_image, paths, output, num_workers=args.workers, chunk_bytes=args.chunk_bytes, verbose=False
        )
        times.append(time.perf_counter() - start)
        assert index is not None and index.num_items == len(paths)
        print(f"  run {len(times)}: {times[-1]:.2f}s = {len(paths) / times[-1]:,.0f} images/s", flush=True)
    elapsed = statistics.median(times)
    print(
        f"litdata-writer optimize: {len(paths)} JPEGs ({total_mb:.0f} MB, {total_mb * 1e3 / len(paths):.0f} KB avg) "
        f"-> {len(index.chunks)} chunks, median of {len(times)} runs {elapsed:.2f}s = {len(paths) / elapsed:,.0f} images/s "
        f"({args.workers} workers; {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {sys.version.split()[0]})"
    )
    if args.output is None:
        shutil.rmtree(os.path.dirname(output), ignore_errors=True)


def _clear(output: str) -> None:
    if "://" in output:
        from litdata_storage import open_store

        open_store(output).delete_prefix("")
    else:
        shutil.rmtree(output, ignore_errors=True)
    if hasattr(os, "sync"):
        os.sync()  # the previous run's dirty pages must not slow this one down


if __name__ == "__main__":
    main()
