"""Size and read speed of the zstd layouts (``compression_level``) on many small items.

    python benchmarks/compression_levels.py                 # 200,000 short strings, 1 MB chunks
    python benchmarks/compression_levels.py --items 20000 --chunk-bytes 64MB --json out.json

For each layout (no compression, "batch" = framed ``.bin`` with 256 items per frame,
"chunk" = whole-chunk ``.zstd.bin``, "sample" = one zstd frame per item) it writes the
same seeded items with ``litdata_format.write_dataset`` (one process) and reports:

- bytes on disk (chunk files) and the ratio to the uncompressed layout;
- write time;
- sequential read: items/s iterating a fresh local ``StreamingDataset`` (shuffle off, no
  DataLoader workers, an empty cache dir, so whole-chunk files are inflated as read);
- random read: items/s of ``ds[i]`` over a seeded random permutation of ``--random`` indices
  (the last frame is kept per chunk, so "batch" inflates up to 256 items to return one).

Why small items: per-sample frames pay the zstd frame header and lose the shared
context of neighbouring items; "batch" is LitData's answer to that.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import time

LAYOUTS = {
    "none": dict(compression=None),
    "batch": dict(compression="zstd"),
    "chunk": dict(compression="zstd", compression_level="chunk"),
    "sample": dict(compression="zstd", compression_level="sample"),
}

_WORDS = (
    "alpha beta gamma delta stream chunk index frame token image label train valid test cloud "
    "bucket shard worker epoch batch sample record value field"
).split()


def make_items(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [f"{i}: " + " ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 6))) for i in range(count)]


def _dir_bytes(path: str) -> tuple[int, int]:
    names = [n for n in os.listdir(path) if n.endswith(".bin")]
    return sum(os.path.getsize(os.path.join(path, n)) for n in names), len(names)


def measure(name: str, items: list[str], root: str, chunk_bytes: str, random_reads: int) -> dict:
    from litdata_format import write_dataset
    from litdata_stream import StreamingDataset

    out = os.path.join(root, name)
    started = time.perf_counter()
    write_dataset(out, items, chunk_bytes=chunk_bytes, **LAYOUTS[name])
    write_s = time.perf_counter() - started
    size, chunks = _dir_bytes(out)

    cache = os.path.join(root, f"{name}-cache")
    ds = StreamingDataset(out, cache_dir=cache, shuffle=False)
    started = time.perf_counter()
    count, last = 0, None
    for item in ds:
        count += 1
        last = item
    seq_s = time.perf_counter() - started
    assert count == len(items) and last == items[-1]

    shutil.rmtree(cache, ignore_errors=True)
    ds = StreamingDataset(out, cache_dir=cache, shuffle=False)
    order = random.Random(1).sample(range(len(items)), min(random_reads, len(items)))
    started = time.perf_counter()
    for i in order:
        got = ds[i]
    rand_s = time.perf_counter() - started
    assert got == items[order[-1]]
    return {
        "layout": name,
        "bytes": size,
        "chunks": chunks,
        "write_s": round(write_s, 3),
        "seq_items_per_s": round(count / seq_s),
        "random_items_per_s": round(len(order) / rand_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--chunk-bytes", default="1MB")
    parser.add_argument("--random", type=int, default=20_000, help="random ds[i] reads per layout")
    parser.add_argument("--layouts", default=",".join(LAYOUTS))
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    items = make_items(args.items)
    raw = sum(len(s.encode()) for s in items)
    print(f"{args.items:,} strings, {raw / args.items:.1f} bytes of text on average, chunk_bytes={args.chunk_bytes}")
    root = tempfile.mkdtemp(prefix="compression-levels-")
    results = []
    try:
        for name in args.layouts.split(","):
            results.append(measure(name, items, root, args.chunk_bytes, args.random))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    base = next((r["bytes"] for r in results if r["layout"] == "none"), None)
    print(f"{'layout':8s} {'bytes':>11s} {'ratio':>6s} {'chunks':>6s} {'write s':>8s} {'seq items/s':>12s} {'random items/s':>15s}")
    for r in results:
        ratio = f"{r['bytes'] / base:.3f}" if base else "-"
        print(
            f"{r['layout']:8s} {r['bytes']:>11,} {ratio:>6s} {r['chunks']:>6d} {r['write_s']:>8.2f} "
            f"{r['seq_items_per_s']:>12,} {r['random_items_per_s']:>15,}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"items": args.items, "chunk_bytes": args.chunk_bytes, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
