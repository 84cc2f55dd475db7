"""Images per second from a bucket of small raw files on S3: ours against LitData 0.2.76.

    $PY benchmarks/raw_files.py [--files 2000] [--size 20000] [--workers 2] [--repeats 2] [--out DIR]

Writes ``--files`` seeded files of about ``--size`` bytes (JPEG-sized objects) once
under ``--out``, serves them with ``rclone serve s3`` on 127.0.0.1 (restarted before
every run: rclone keeps each object's MD5 after its first request, which would favour
whoever runs second) and streams one shuffled epoch through each library's
``StreamingRawDataset`` (ours through ``StreamingDataLoader``, LitData's through torch's
``DataLoader`` with ``shuffle=True``, as its docs show; batch 32, ``--workers`` workers of
``--context``, empty cache), each in its own venv as a subprocess, runs interleaved,
the best of ``--repeats`` counting. Every file's bytes are checked to arrive once.
Prints one JSON line per run and the ratio ours / LitData from the same run.

LitData lists S3 through fsspec (``s3fs``) and downloads with ``obstore`` (without it,
its raw dataset cannot download at all), which refuses plain http: the server speaks
https with a self-signed certificate for 127.0.0.1, trusted by both through
``SSL_CERT_FILE`` / ``AWS_CA_BUNDLE``. Where its venv lacks them its runs are reported
as unavailable, with the error.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
# LitData with s3fs and obstore (``bash benchmarks/setup_venvs.sh litdata_raw``).
LITDATA_PY = Path(os.environ.get("LITDATA_RAW_VENV", REPO / ".venvs" / "litdata-0.2.76-raw")) / "bin" / "python"

MEASURE = r"""
import hashlib, json, sys, time
lib, url, options, workers, context, expected, digest, cache = sys.argv[1:9]
workers, expected, options = int(workers), int(expected), json.loads(options)
if lib == "litdata":
    # LitData's raw dataset is map-style: its own docs load it with torch's DataLoader.
    from torch.utils.data import DataLoader as StreamingDataLoader
    from litdata.raw import StreamingRawDataset
    ds = StreamingRawDataset(url, cache_dir=cache, storage_options=options)
    kwargs = {"shuffle": True}
else:
    from litdata_stream import StreamingDataLoader
    from litdata_stream.raw_dataset import StreamingRawDataset
    ds = StreamingRawDataset(url, cache_dir=cache, storage_options=options, shuffle=True)
    kwargs = {}
if workers:
    kwargs["multiprocessing_context"] = context
loader = StreamingDataLoader(ds, batch_size=32, num_workers=workers, **kwargs)
start = time.perf_counter()
first = None
seen = []
for batch in loader:
    if first is None:
        first = time.perf_counter()
    seen.extend(hashlib.sha256(bytes(x)).hexdigest() for x in batch)
end = time.perf_counter()
total = hashlib.sha256("".join(sorted(seen)).encode()).hexdigest()
assert len(seen) == expected and total == digest, (len(seen), expected)
print("RESULT " + json.dumps({"lib": lib, "images": len(seen), "seconds": end - start,
                              "images_per_s": len(seen) / (end - start), "startup_s": first - start}))
"""


def write_files(folder: Path, files: int, size: int) -> str:
    """The files (seeded sizes and bytes); returns the digest of their sorted hashes."""
    import random

    rng = random.Random(0)
    hashes = []
    for i in range(files):
        data = rng.randbytes(rng.randint(size // 2, size * 3 // 2))
        path = folder / f"class{i % 10}" / f"img-{i:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        hashes.append(hashlib.sha256(data).hexdigest())
    return hashlib.sha256("".join(sorted(hashes)).encode()).hexdigest()


def run(python: str, lib: str, root: Path, args: argparse.Namespace, digest: str, log_dir: Path) -> dict:
    import servers

    # https: LitData downloads with obstore, which refuses a plain-http endpoint; both
    # libraries trust the test certificate through the environment below.
    cert = servers.self_signed_certificate(log_dir)
    server = servers.rclone_process(root, log_dir, tls=cert).start()
    cache = tempfile.mkdtemp(prefix=f"raw-bench-{lib}-")
    try:
        options = {"endpoint_url": server.url, "aws_access_key_id": servers.S3_KEY,
                   "aws_secret_access_key": servers.S3_SECRET, "region_name": "us-east-1"}
        if lib == "litdata":
            # LitData lists with s3fs and downloads with boto3, both given these options:
            # only the endpoint suits both; the credentials come from the environment.
            options = {"endpoint_url": server.url}
        env = {**os.environ, "AWS_ACCESS_KEY_ID": servers.S3_KEY, "AWS_SECRET_ACCESS_KEY": servers.S3_SECRET,
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": server.url, "AWS_EC2_METADATA_DISABLED": "true",
               "AWS_CA_BUNDLE": str(cert[2]), "SSL_CERT_FILE": str(cert[2])}
        argv = [python, "-c", MEASURE, lib, "s3://images/", json.dumps(options), str(args.workers), args.context,
                str(args.files), digest, cache]
        out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
        for line in out.stdout.splitlines():
            if line.startswith("RESULT "):
                return json.loads(line[len("RESULT "):])
        tail = [line for line in (out.stderr or out.stdout).strip().splitlines() if len(line.strip()) > 2][-1:] \
            or ["no output"]
        return {"lib": lib, "error": tail[0][:300]}
    finally:
        server.stop()
        shutil.rmtree(cache, ignore_errors=True)
        # LitData uploads its file list into the folder it lists: the next run starts without it.
        (root / "images" / "index.json.zstd").unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--size", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--context", default="fork")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "raw-files-bench")
    args = parser.parse_args()
    root = args.out / "s3"
    marker = args.out / f"written-{args.files}-{args.size}.json"
    if not marker.exists():
        shutil.rmtree(root, ignore_errors=True)
        digest = write_files(root / "images", args.files, args.size)
        marker.write_text(json.dumps({"digest": digest}))
    digest = json.loads(marker.read_text())["digest"]
    log_dir = args.out / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    best: dict[str, dict] = {}
    for _ in range(args.repeats):
        for lib, python in (("ours", sys.executable), ("litdata", str(LITDATA_PY))):
            result = run(python, lib, root, args, digest, log_dir)
            result.update(files=args.files, workers=args.workers, context=args.context)
            print(json.dumps(result), flush=True)
            if "images_per_s" in result and result["images_per_s"] > best.get(lib, {}).get("images_per_s", 0):
                best[lib] = result
    if "ours" in best and "litdata" in best:
        print(json.dumps({"ratio_ours_over_litdata": best["ours"]["images_per_s"] / best["litdata"]["images_per_s"]}))


if __name__ == "__main__":
    main()
