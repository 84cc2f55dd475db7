"""Tokens/s through dataset compositions: ours next to LitData 0.2.76, on the same files.

Two token datasets (written once by our writer; LitData reads the format as is) are read
through

- ``ParallelStreamingDataset([a, b])``: a block of each per sample, batches of tuples;
- ``CombinedStreamingDataset([a, b], weights=[0.5, 0.5], iterate_over_all=False,
  batching_method="per_stream")``: each batch holds blocks of one dataset;

with the same ``StreamingDataLoader`` settings for both libraries. Each library runs in its
own venv as a subprocess of this script (``run`` mode), importing ``litdata``: the venv
decides which one. The table goes to ``benchmarks/COMPOSITION.md``.

    $PY benchmarks/composition.py                    # writes benchmarks/COMPOSITION.md
    $PY benchmarks/composition.py --tokens 4000000   # smaller
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LITDATA_PYTHON = ROOT / ".venvs" / "litdata-0.2.76" / "bin" / "python"
WORKLOADS = ("parallel", "per_stream")


def prepare(work: Path, tokens: int) -> list[str]:
    """Two token datasets of ``tokens`` int32 tokens each, in 16 MB chunks (written once)."""
    import numpy as np

    from litdata_format import write_dataset

    paths = []
    for name, seed in (("web", 1), ("code", 2)):
        path = work / f"{name}-{tokens}"
        if not (path / "index.json").exists():
            rng = np.random.default_rng(seed)
            documents = [rng.integers(0, 50_000, size=1 << 16, dtype=np.int32) for _ in range(tokens >> 16)]
            write_dataset(path, documents, chunk_bytes=16 << 20, item_loader="TokensLoader")
        paths.append(str(path))
    return paths


def run(args: dict) -> dict:
    """One workload in this venv's ``litdata``: tokens/s over ``epochs`` epochs."""
    import torch

    import litdata

    def datasets():
        return [litdata.StreamingDataset(p, item_loader=litdata.TokensLoader(block_size=args["block"]), shuffle=True)
                for p in args["paths"]]

    if args["workload"] == "parallel":
        dataset = litdata.ParallelStreamingDataset(datasets())
    else:
        dataset = litdata.CombinedStreamingDataset(datasets(), weights=[0.5, 0.5], iterate_over_all=False,
                                                   batching_method="per_stream")
    loader = litdata.StreamingDataLoader(dataset, batch_size=args["batch_size"], num_workers=args["workers"])
    tokens = batches = 0
    start = time.perf_counter()
    for _ in range(args["epochs"]):
        for batch in loader:
            parts = batch if isinstance(batch, (list, tuple)) else [batch]
            tokens += sum(int(torch.as_tensor(p).numel()) for p in parts)
            batches += 1
    seconds = time.perf_counter() - start
    return {"tokens": tokens, "batches": batches, "seconds": seconds, "tokens_per_s": tokens / seconds}


def measure(python: str, args: dict) -> dict:
    out = subprocess.run([python, __file__, "run", json.dumps(args)], capture_output=True, text=True, timeout=1800,
                         env={**os.environ, "LITDATA_CACHE_DIR": tempfile.mkdtemp()})
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        return {"error": (out.stderr or out.stdout)[-600:]}
    return json.loads(lines[-1][len("RESULT "):])


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "run":
        print("RESULT " + json.dumps(run(json.loads(sys.argv[2]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=32 << 20, help="tokens per dataset")
    parser.add_argument("--block", type=int, default=2049)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--work", default=str(ROOT / ".benchmarks" / "composition"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "COMPOSITION.md"))
    options = parser.parse_args()
    work = Path(options.work)
    work.mkdir(parents=True, exist_ok=True)
    paths = prepare(work, options.tokens)
    rows = []
    for workload in WORKLOADS:
        args = {"workload": workload, "paths": paths, "block": options.block, "batch_size": options.batch_size,
                "workers": options.workers, "epochs": options.epochs}
        ours, theirs = measure(sys.executable, args), measure(str(LITDATA_PYTHON), args)
        rows.append((workload, ours, theirs))
        print(workload, ours, theirs, flush=True)

    def cell(result: dict) -> str:
        if "error" in result:
            return "failed: " + result["error"].strip().splitlines()[-1].replace("|", "/")
        return f"{result['tokens_per_s'] / 1e6:.1f} M ({result['batches']} batches, {result['seconds']:.1f} s)"

    lines = [
        "# Compositions: tokens/s, ours vs LitData 0.2.76",
        "",
        f"Written by `benchmarks/composition.py` (one run): two token datasets of {options.tokens:,} int32 tokens "
        f"each (16 MB chunks, local disk), `TokensLoader(block_size={options.block})`, `shuffle=True`, "
        f"`StreamingDataLoader(batch_size={options.batch_size}, num_workers={options.workers})`, "
        f"{options.epochs} epochs timed from the first `iter()` (worker start-up included), "
        f"on {os.cpu_count()} cores. Tokens counted from the batches received.",
        "",
        "| composition | ours (tokens/s) | LitData 0.2.76 (tokens/s) | ours / LitData |",
        "|---|---|---|---|",
    ]
    for workload, ours, theirs in rows:
        ratio = (f"{ours['tokens_per_s'] / theirs['tokens_per_s']:.2f}x"
                 if "error" not in ours and "error" not in theirs else "-")
        name = ("`ParallelStreamingDataset([a, b])`" if workload == "parallel" else
                '`CombinedStreamingDataset([a, b], weights=[0.5, 0.5], batching_method="per_stream")`')
        lines.append(f"| {name} | {cell(ours)} | {cell(theirs)} | {ratio} |")
    lines += [
        "",
        "Per batch, both of ours run at the same rate; a parallel batch holds a block of each dataset per "
        "sample, hence twice the tokens. The per_stream batch counts differ because the epochs do: ours draws "
        "each batch by weight and stops before the first draw from an exhausted dataset "
        "(`iterate_over_all=False`); LitData switches dataset after every batch, so both run out together.",
        "",
    ]
    Path(options.out).write_text("\n".join(lines))


if __name__ == "__main__":
    main()
