"""Mixture scale benchmark: ``len()`` and the first batch of a CombinedStreamingDataset of two huge datasets.

    $PY benchmarks/mixture_scale.py                          # 500M + 200M items, the working tree
    $PY benchmarks/mixture_scale.py --rev HEAD               # the same against a committed litdata_stream
    $PY benchmarks/mixture_scale.py --sizes 50M,20M --rev HEAD

The mixed sequence of a rank is as long as the datasets together (700 M positions here):
a planner that lists it costs gigabytes before the first sample is read. This benchmark
isolates that cost. The datasets are those of ``benchmarks/scale.py`` (one real chunk of
10,000 items hard-linked N / 10,000 times, under ``.benchmarks/scale/``, reused), each
opened with ``StreamingDataset(dir, shuffle=True)`` and mixed with the default weights
(proportional to the sizes, ``iterate_over_all``).

Each measurement is a fresh child process (so one peak does not hide the next): ``len``
builds the mixture and takes ``len(mixture)``; ``batch`` builds it and takes the first
batch of ``StreamingDataLoader(mixture, batch_size=64, num_workers=0)``. The child
reports the wall time of that step and the growth of its peak RSS over the RSS just
before it (``ru_maxrss``). The parent kills a child whose RSS passes ``--mem-limit-gb``
and reports it as over the limit. ``--rev`` runs the children on ``litdata_stream`` as of
a git revision (``scale.stream_snapshot``), to compare before and after a change.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import build_dataset, human, parse_count, stream_snapshot  # noqa: E402

MARK = "MIXTURE "


def _rss_bytes(pid: str = "self") -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child_main(mode: str, folders: list[str]) -> None:
    from litdata_stream import CombinedStreamingDataset, StreamingDataLoader, StreamingDataset

    mixture = CombinedStreamingDataset([StreamingDataset(f, shuffle=True) for f in folders], seed=42)
    before = _rss_bytes()
    began = time.perf_counter()
    if mode == "len":
        result: Any = len(mixture)
    else:
        batch = next(iter(StreamingDataLoader(mixture, batch_size=64, num_workers=0)))
        result = len(batch["index"])
    seconds = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(MARK + json.dumps({"mode": mode, "seconds": seconds, "peak_growth_mb": (peak - before) / 1e6,
                             "result": result}), flush=True)


def measure(mode: str, folders: list[Path], src: str | None, limit_gb: float, timeout: float) -> dict[str, Any]:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen([sys.executable, __file__, "--child", mode, *map(str, folders)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    began, peak = time.perf_counter(), 0
    while proc.poll() is None:
        try:
            peak = max(peak, _rss_bytes(str(proc.pid)))
        except OSError:
            pass
        if peak > limit_gb * 1e9 or time.perf_counter() - began > timeout:
            proc.kill()
            proc.wait()
            why = f"over {limit_gb:g} GB RSS" if peak > limit_gb * 1e9 else f"over {timeout:g} s"
            return {"mode": mode, "failed": why, "seconds": time.perf_counter() - began}
        time.sleep(0.02)
    for line in proc.stdout.read().splitlines():  # type: ignore[union-attr]
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    return {"mode": mode, "failed": f"exit status {proc.returncode}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="500M,200M", help="the two datasets' item counts")
    parser.add_argument("--rev", default=None, help="measure litdata_stream as of this git revision")
    parser.add_argument("--mem-limit-gb", type=float, default=8.0)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child[0], args.child[1:])
        return
    sizes = [parse_count(s) for s in args.sizes.split(",")]
    folders = [build_dataset(n) for n in sizes]
    src, sha = stream_snapshot(args.rev) if args.rev else (None, "working tree")
    title = f"{' + '.join(human(n) for n in sizes)} items, litdata_stream at {sha[:12] if args.rev else sha}"
    print(f"| {title} | time | peak RSS growth |\n|---|---|---|")
    for mode in ("len", "batch"):
        out = measure(mode, folders, src, args.mem_limit_gb, args.timeout)
        if "failed" in out:
            print(f"| {mode} | {out['failed']} (after {out['seconds']:.1f} s) | - |", flush=True)
        else:
            print(f"| {mode} | {out['seconds']:.2f} s | {out['peak_growth_mb']:.1f} MB |", flush=True)


if __name__ == "__main__":
    main()
