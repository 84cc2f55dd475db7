"""Side-by-side benchmark: ours against LitData 0.2.76, WebDataset and Mosaic Streaming.

    bash benchmarks/run.sh [--small] [flags]      # builds the venvs, then runs this
    .venvs/bench-ours/bin/python benchmarks/compare.py [--small] [flags]

Prepares the data once (synthetic JPEGs and token files, seeded, under
``.benchmarks/compare/``), then runs every workload for every library, each as a
subprocess in that library's own venv (``benchmarks/peers/<lib>_bench.py``, which prints
``RESULT {json}``), measures the physical limits on the same data, and writes
``benchmarks/RESULTS.md``, ``benchmarks/results.json`` and ``benchmarks/results.png``
(``--out`` elsewhere). See benchmarks/README.md for the workloads.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(HERE / "peers"))

from synthetic_photo import make_photo  # noqa: E402

import servers  # noqa: E402

LIBS = {
    "ours": REPO / ".venvs" / "bench-ours",
    "litdata": Path(os.environ.get("LITDATA_VENV", REPO / ".venvs" / "litdata-0.2.76")),
    "webdataset": REPO / ".venvs" / "bench-webdataset",
    "mosaic": REPO / ".venvs" / "bench-mosaic",
}
TITLES = {"ours": "ours", "litdata": "LitData 0.2.76", "webdataset": "WebDataset 1.0.2", "mosaic": "Mosaic Streaming 0.13"}
# (workload, source) pairs each library does not do, and why.
SKIPS = {
    ("webdataset", "random_access"): "a tar stream has no random access",
}
MB = 1_000_000


def parse_size(text: str) -> int:
    units = {"KB": 10**3, "MB": 10**6, "GB": 10**9}
    for unit, factor in units.items():
        if text.upper().endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


# ------------------------------------------------------------------------ the data
WIDTH, HEIGHT = 640, 480


def make_image(seed: int, path: str) -> None:
    """A natural-looking photo of about 100 KB."""
    make_photo(seed, path, WIDTH, HEIGHT, noise=10)


def _make_images(job: tuple[str, list[int]]) -> None:
    folder, seeds = job
    for i in seeds:
        path = os.path.join(folder, f"{i:06d}.jpg")
        if not os.path.exists(path):
            make_image(i, path)


def prepare_images(work: Path, count: int, workers: int) -> Path:
    folder = work / "images"
    folder.mkdir(parents=True, exist_ok=True)
    missing = [i for i in range(count) if not (folder / f"{i:06d}.jpg").exists()]
    if missing:
        print(f"generating {len(missing)} JPEGs into {folder}", flush=True)
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(_make_images, [(str(folder), missing[k::workers]) for k in range(workers)]))
    paths = [str(folder / f"{i:06d}.jpg") for i in range(count)]
    labels = np.random.default_rng(1234).integers(0, 1000, count).tolist()
    listing = work / f"images-{count}.json"
    listing.write_text(json.dumps({"paths": paths, "labels": labels}))
    return listing


def prepare_tokens(work: Path, total: int) -> list[str]:
    per_file = 1_000_000
    folder = work / "tokens"
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for k in range(-(-total // per_file)):
        n = min(per_file, total - k * per_file)
        path = folder / f"doc-{k:05d}-{n}.npy"
        if not path.exists():
            tokens = np.random.default_rng(k).integers(0, 50257, n, dtype=np.uint16)
            np.save(path, tokens)
        files.append(str(path))
    return files


# -------------------------------------------------------------------- the machine
def machine() -> dict[str, Any]:
    model, cores = platform.processor() or "?", os.cpu_count()
    try:
        text = Path("/proc/cpuinfo").read_text()
        models = [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")]
        model, cores = (models[0] if models else model), len(models) or cores
    except OSError:
        pass
    mem = ""
    try:
        kb = int(next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")).split()[1])
        mem = f"{kb / 2**20:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    return {"cpu": model, "cores": cores, "memory": mem, "python": platform.python_version(),
            "kernel": platform.release()}


# --------------------------------------------------------------------- running
class Runner:
    def __init__(self, args: argparse.Namespace, env_extra: dict[str, str]) -> None:
        self.args = args
        self.env_extra = env_extra
        self.log = open(args.work / "compare.log", "a")
        self.after_each: Any = None
        self.before_s3: Any = None

    def run(self, lib: str, workload: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Run once; a failed run is tried once more (Mosaic's S3 reader fails now and then
        on this machine), and the result says so."""
        if self.after_each is not None:
            self.after_each()  # save what ran before this one
        result = self._run_once(lib, workload, payload)
        if "error" in result and "timed out" not in result["error"]:
            first = result["error"]
            result = self._run_once(lib, workload, payload)
            result["failed_attempts"] = [first]
        return result

    def _run_once(self, lib: str, workload: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Every S3 run (retries too) meets a freshly started server: rclone computes an
        object's MD5 (its ETag) on the first request for it and keeps it, so a server that
        served the same objects before would make a "cold" epoch cheaper for whoever
        comes second."""
        if self.before_s3 is not None and (payload.get("source") == "s3" or workload == "s3_get"):
            self.before_s3()
        return self._run(lib, workload, payload)

    def _run(self, lib: str, workload: str, payload: dict[str, Any]) -> dict[str, Any]:
        venv = LIBS["ours" if lib == "physical" else lib]
        script = HERE / "peers" / f"{lib}_bench.py"
        env = {**os.environ, **self.env_extra, "PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '')}",
               "PYTHONUNBUFFERED": "1"}
        env.pop("PYTHONPATH", None)
        argv = [str(venv / "bin" / "python"), str(script), workload, json.dumps(payload)]
        began = time.perf_counter()
        label = f"{lib} {workload} {payload.get('source', '')} {'decoded' if payload.get('decode') else ''}".strip()
        print(f"  {label} ...", end="", flush=True)
        self.log.write(f"\n=== {dt.datetime.now().isoformat()} {label}\n")
        self.log.flush()
        try:
            proc = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True,
                                  timeout=self.args.timeout)
        except subprocess.TimeoutExpired as exc:
            print(f" timed out after {self.args.timeout}s", flush=True)
            self.log.write(f"timeout\n{exc.stdout or ''}\n{exc.stderr or ''}\n")
            return {"error": f"timed out after {self.args.timeout}s"}
        self.log.write(proc.stdout + "\n" + proc.stderr + "\n")
        self.log.flush()
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            print(f" failed (rc {proc.returncode}): {' | '.join(tail)[-300:]}", flush=True)
            return {"error": f"rc {proc.returncode}: {' | '.join(tail)[-500:]}"}
        result = json.loads(lines[-1][len("RESULT "):])
        result["wall_s"] = time.perf_counter() - began
        print(f" {result['wall_s']:.1f}s", flush=True)
        return result


class RestartingS3:
    """rclone serving ``root`` on 127.0.0.1 (each folder a bucket), restarted before each S3 run.

    rclone computes an object's MD5 on its first request and keeps it, so a server that
    already served the data would favour whoever runs second. ``options`` (storage
    options) and the runner's environment follow each new port.
    """

    def __init__(self, root: Path, log_dir: Path, runner: Runner) -> None:
        self.root, self.log_dir, self.runner = root, log_dir, runner
        self.options: dict[str, Any] = {}
        self.server: Any = None

    def restart(self) -> None:
        self.stop()
        self.server = servers.rclone_process(self.root, self.log_dir).start()
        self.options.update({"endpoint_url": self.server.url, "aws_access_key_id": servers.S3_KEY,
                             "aws_secret_access_key": servers.S3_SECRET, "region_name": "us-east-1"})
        self.runner.env_extra = {
            "AWS_ACCESS_KEY_ID": servers.S3_KEY, "AWS_SECRET_ACCESS_KEY": servers.S3_SECRET,
            "AWS_DEFAULT_REGION": "us-east-1", "S3_ENDPOINT_URL": self.server.url,  # Mosaic reads this
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


def venv_ok(lib: str) -> bool:
    return (LIBS[lib] / "bin" / "python").exists()


def chunk_files(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.iterdir() if p.suffix in (".bin", ".mds", ".tar"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny sizes, for a smoke test (about 2 minutes)")
    parser.add_argument("--images", type=int, default=8000)
    parser.add_argument("--tokens", type=int, default=50_000_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--token-batch-size", type=int, default=8)
    parser.add_argument("--block-size", type=int, default=2049)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-bytes", default="64MB", help="chunk / shard size of every format")
    parser.add_argument("--random-samples", type=int, default=300)
    parser.add_argument("--libs", default="ours,litdata,webdataset,mosaic")
    parser.add_argument("--workloads", default="convert,stream,tokens,random,limits")
    parser.add_argument("--sources", default="local,s3")
    parser.add_argument("--modes", default="raw,decoded")
    parser.add_argument("--work", type=Path, default=REPO / ".benchmarks" / "compare")
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--timeout", type=int, default=900, help="seconds per library run")
    parser.add_argument("--note", action="append", default=[], help="a line to add to RESULTS.md")
    args = parser.parse_args()
    if args.small:
        args.images, args.tokens, args.random_samples = 512, 2_000_000, 50
        args.chunk_bytes = "8MB"
        if args.work == REPO / ".benchmarks" / "compare":
            args.work = REPO / ".benchmarks" / "compare-small"
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    chunk_bytes = parse_size(args.chunk_bytes)
    # Token chunks: LitData's documented 8,012 blocks, fewer if that leaves fewer than 4
    # chunks per loader worker (the chunk is the unit of work of every library).
    total_blocks = args.tokens // args.block_size
    blocks_per_chunk = max(1, min(8012, chunk_bytes // 2 // args.block_size, total_blocks // (4 * args.workers)))
    libs = [lib for lib in args.libs.split(",") if lib]
    workloads = set(args.workloads.split(","))
    sources = args.sources.split(",")
    modes = args.modes.split(",")
    notes = list(args.note)
    missing = [lib for lib in libs if not venv_ok(lib)]
    for lib in missing:
        notes.append(f"{TITLES[lib]}: its venv ({LIBS[lib]}) is missing (it did not install): skipped.")
    libs = [lib for lib in libs if lib not in missing]
    started = time.perf_counter()
    when = dt.datetime.now(dt.timezone.utc)

    print(f"preparing data under {args.work}", flush=True)
    listing = prepare_images(args.work, args.images, args.workers)
    token_files = prepare_tokens(args.work, args.tokens)
    s3_root = args.work / "s3"  # one folder per library = one bucket each on the S3 server
    scratch = args.work / "scratch"
    scratch.mkdir(exist_ok=True)
    common = {"workers": args.workers, "scratch": str(scratch), "image_list": str(listing)}

    results: dict[str, dict[str, Any]] = {lib: {} for lib in libs}
    results_path = args.out / "results.json"
    limits: dict[str, Any] = {}

    def save_partial() -> None:
        """What has run so far, so that an interrupted run still leaves its figures."""
        (args.work / "partial.json").write_text(json.dumps({"results": results, "limits": limits}, indent=1))

    runner = Runner(args, {})
    runner.after_each = save_partial

    def where(lib: str, kind: str) -> dict[str, str]:
        return {"local_dir": str(s3_root / lib / kind), "s3_url": f"s3://{lib}/{kind}"}

    # ---- conversion (always: later workloads read what it writes) -----------------
    # Warm the page cache with the inputs first: the first library must not pay for disk.
    for path in [*json.loads(listing.read_text())["paths"], *token_files]:
        with open(path, "rb") as f:
            while f.read(1 << 22):
                pass
    print("conversion", flush=True)
    for lib in libs:
        out = s3_root / lib / "images"
        if "convert" in workloads or not (out / "index.json").exists() and not list(out.glob("*.tar")):
            results[lib]["convert_images"] = runner.run(lib, "convert_images", {
                **common, "output_dir": str(out), "chunk_bytes": chunk_bytes})
    for lib in libs:
        out = s3_root / lib / "tokens"
        if "tokens" in workloads:
            results[lib]["convert_tokens"] = runner.run(lib, "convert_tokens", {
                **common, "output_dir": str(out), "token_files": token_files, "block": args.block_size,
                "blocks_per_chunk": blocks_per_chunk})

    # ---- the S3 server: rclone serving s3_root, each library's folder a bucket ----
    log_dir = args.work / "logs"
    log_dir.mkdir(exist_ok=True)
    s3 = RestartingS3(s3_root, log_dir, runner)
    s3.restart()
    runner.before_s3 = s3.restart
    common["storage_options"] = s3.options
    try:
        # ---- physical limits -------------------------------------------------------
        ref = "ours" if "ours" in libs else libs[0]
        image_chunks = chunk_files(s3_root / ref / "images")
        total_image_bytes = sum(os.path.getsize(p) for p in json.loads(listing.read_text())["paths"])
        item_bytes = total_image_bytes // args.images
        if "limits" in workloads:
            print("physical limits", flush=True)
            limits["page_cache"] = runner.run("physical", "page_cache", {**common, "files": image_chunks, "images": args.images})
            limits["decode"] = runner.run("physical", "decode", {**common, "count": min(args.images, 2000)})
            limits["convert"] = runner.run("physical", "convert", common)
            limits["pread"] = runner.run("physical", "pread", {**common, "files": image_chunks, "item_bytes": item_bytes,
                                                              "samples": max(1000, args.random_samples)})
            limits["s3_get"] = runner.run("physical", "s3_get", {
                **common, "bucket": ref, "keys": [f"images/{os.path.basename(p)}" for p in image_chunks],
                "images": args.images, "item_bytes": item_bytes, "samples": max(200, args.random_samples)})
            if "tokens" in workloads:
                limits["memmap"] = runner.run("physical", "memmap", {
                    **common, "token_files": token_files, "batch": args.token_batch_size, "block": args.block_size})

        # ---- streaming images ----------------------------------------------------------
        if "stream" in workloads:
            for source in sources:
                for mode in modes:
                    print(f"streaming images from {source}, {mode}", flush=True)
                    for lib in libs:
                        results[lib][f"stream_{source}_{mode}"] = runner.run(lib, "stream_images", {
                            **common, **where(lib, "images"), "source": source, "decode": mode == "decoded",
                            "epochs": args.epochs, "batch_size": args.batch_size})

        # ---- tokens ------------------------------------------------------------------------
        if "tokens" in workloads:
            print("tokens", flush=True)
            for lib in libs:
                results[lib]["tokens_local"] = runner.run(lib, "stream_tokens", {
                    **common, **where(lib, "tokens"), "source": "local", "epochs": 1,
                    "batch_size": args.token_batch_size, "block": args.block_size})

        # ---- random access -----------------------------------------------------------
        if "random" in workloads:
            for source in sources:
                print(f"random access, {source}", flush=True)
                for lib in libs:
                    if (lib, "random_access") in SKIPS:
                        results[lib][f"random_{source}"] = {"skipped": SKIPS[(lib, "random_access")]}
                        continue
                    results[lib][f"random_{source}"] = runner.run(lib, "random_access", {
                        **common, **where(lib, "images"), "source": source, "samples": args.random_samples})
    finally:
        s3.stop()

    save_partial()
    report = {
        "date": when.strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "image_bytes_mean": item_bytes,
        "limits": limits,
        "results": results,
        "notes": notes,
        "elapsed_s": time.perf_counter() - started,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(report, indent=2))
    import report as report_module  # benchmarks/report.py

    report_module.write(report, args.out)
    print(f"wrote {args.out / 'RESULTS.md'}, results.json, results.png in {report['elapsed_s'] / 60:.1f} min")


if __name__ == "__main__":
    main()
