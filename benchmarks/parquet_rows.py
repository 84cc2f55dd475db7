"""Rows per second from a parquet dataset: ours against LitData 0.2.76, same files.

    $PY benchmarks/parquet_rows.py [--rows 400000] [--files 8] [--workers 2] [--out DIR]

Writes seeded parquet files (an int id, a short string, a float; row groups of 10,000
rows) once under ``--out``, indexes them with our ``index_parquet_dataset`` (LitData's
``index.json`` layout, which LitData then reads), and streams one shuffled epoch of
all rows through each library's ``StreamingDataLoader`` (batch 256, ``--workers``
spawned workers: LitData needs ``multiprocessing_context="spawn"`` with workers), each
in its own venv as a subprocess, ``--repeats`` times interleaved (the best epoch of
each counts: the machine is shared). Every row is checked to arrive once. Prints one
JSON line per epoch and the ratio ours / LitData from the same run (``rows_per_s``: the
whole epoch, worker start included; ``steady``: from the first batch on).

LitData's venv needs pyarrow and polars (``PIP_CONSTRAINT=tests/format/vectors/constraints.txt
.venvs/litdata-0.2.76/bin/python -m pip install pyarrow polars``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LITDATA_PY = Path(os.environ.get("LITDATA_VENV", REPO / ".venvs" / "litdata-0.2.76")) / "bin" / "python"

MEASURE = r"""
import json, sys, time
lib, folder, workers, expected = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if lib == "litdata":
    from litdata import StreamingDataLoader, StreamingDataset
    from litdata.streaming.item_loader import ParquetLoader
    ds = StreamingDataset(folder, item_loader=ParquetLoader(), shuffle=True, seed=1)
else:
    from litdata_stream import StreamingDataLoader, StreamingDataset
    ds = StreamingDataset(folder, shuffle=True, seed=1)
kwargs = {"multiprocessing_context": "spawn"} if workers else {}
loader = StreamingDataLoader(ds, batch_size=256, num_workers=workers, **kwargs)
start = time.perf_counter()
seen = []
first = None
for batch in loader:
    if first is None:
        first = time.perf_counter()
    seen.extend(int(x) for x in batch["id"])
end = time.perf_counter()
assert len(seen) == expected and len(set(seen)) == expected, (len(seen), len(set(seen)))
print("RESULT " + json.dumps({"lib": lib, "rows": len(seen), "seconds": end - start,
                              "rows_per_s": len(seen) / (end - start),
                              "steady_rows_per_s": len(seen) / (end - first), "startup_s": first - start}))
"""


def write_files(folder: Path, rows: int, files: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    per = rows // files
    for f in range(files):
        ids = np.arange(f * per, (f + 1) * per, dtype=np.int64)
        table = pa.table({"id": ids, "text": [f"sample text {i:09d}" for i in ids],
                          "value": rng.standard_normal(per)})
        pq.write_table(table, folder / f"part-{f:03d}.parquet", row_group_size=10_000)


def run(python: str, lib: str, folder: Path, workers: int, expected: int, cache: Path) -> dict:
    env = {**os.environ, "LITDATA_CACHE_DIR": str(cache / lib)}
    out = subprocess.run([python, "-c", MEASURE, lib, str(folder), str(workers), str(expected)], env=env,
                         capture_output=True, text=True, timeout=1800)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{lib} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="epochs per library, interleaved; the best counts")
    parser.add_argument("--out", type=Path, default=REPO / ".benchmarks" / "parquet_rows")
    args = parser.parse_args()
    folder = args.out / f"data-{args.rows}-{args.files}"
    expected = args.rows // args.files * args.files
    if not (folder / "index.json").exists():
        write_files(folder, args.rows, args.files)
        from litdata_stream.sources.parquet import index_parquet_dataset

        index_parquet_dataset(str(folder))
    cache = args.out / f"cache-{time.time_ns()}"
    results: dict[str, dict] = {}
    for repeat in range(args.repeats):  # interleaved, so that a busy moment hits both
        for lib, python in (("ours", sys.executable), ("litdata", str(LITDATA_PY))):
            result = run(python, lib, folder, args.workers, expected, cache)
            print(json.dumps({"repeat": repeat, **result}), flush=True)
            if lib not in results or result["rows_per_s"] > results[lib]["rows_per_s"]:
                results[lib] = result
    ratio = results["ours"]["rows_per_s"] / results["litdata"]["rows_per_s"]
    steady = results["ours"]["steady_rows_per_s"] / results["litdata"]["steady_rows_per_s"]
    print(json.dumps({"rows": expected, "workers": args.workers, "ratio_ours_over_litdata": round(ratio, 2),
                      "steady_ratio": round(steady, 2)}))


if __name__ == "__main__":
    main()
