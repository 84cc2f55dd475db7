"""Per-item costs side by side: ours against LitData 0.2.76 on small raw-bytes items.

    PY=<a python where ours is installed>      # .venvs/bench-ours, or the workspace env
    bash benchmarks/setup_venvs.sh litdata     # .venvs/litdata-0.2.76, once
    $PY benchmarks/small_items.py                       # 58 KB set, 3 repeats: ~3 min
    $PY benchmarks/small_items.py --sets 4KB,58KB,100KB --repeats 5
    $PY benchmarks/small_items.py --report-only         # redraw SMALL_ITEMS.md

The 100 KB images of ``compare.py`` make per-byte costs dominate; with smaller items the
per-item costs of a loader (locating the item, decoding it, moving a list of ``bytes``
through the result pipe) are what is left. Each set is 8,000 seeded synthetic JPEGs
(``synthetic_photo.py``; the 58 KB set varies its noise per image so sizes spread as a
photo collection's do), written by each library's own ``optimize`` (2 workers, 64 MB
chunks) and streamed from local disk: raw bytes collated as a list, batch 64, 2 workers,
shuffle, 2 epochs, an empty cache (``peers/litdata_api.py: stream_images``, the adapter
compare.py uses). Libraries alternate run by run; medians of ``--repeats`` runs. CPU is
the whole process tree's (the benchmark process plus the loader workers it reaped), from
building the dataset to the end of epoch 2. The page-cache limit reads ours' chunk files
in one process (``peers/physical_bench.py page_cache``). Writes ``benchmarks/SMALL_ITEMS.md``
and ``.benchmarks/small/results.json``. ``--s3-repeats N`` also times the first batch
(and epoch 1) from ``rclone serve s3`` with an empty cache, restarted before every run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from compare import machine  # noqa: E402
from synthetic_photo import make_photo  # noqa: E402

#: name -> (width, height, lowest noise, highest noise): mean JPEG size about the name.
SETS = {
    "4KB": (128, 96, 2.0, 6.0),
    "58KB": (480, 360, 4.0, 16.0),
    "100KB": (640, 480, 10.0, 10.0),
}
TITLES = {"ours": "ours", "litdata": "LitData 0.2.76"}


def pythons() -> dict[str, str]:
    ours = REPO / ".venvs" / "bench-ours" / "bin" / "python"
    litdata = Path(os.environ.get("LITDATA_VENV", REPO / ".venvs" / "litdata-0.2.76")) / "bin" / "python"
    return {"ours": str(ours) if ours.exists() else sys.executable, "litdata": str(litdata)}


def _noise(seed: int, low: float, high: float) -> float:
    return low + (high - low) * ((seed * 2654435761) % 1000) / 999


def _make(job: tuple[str, str, list[int]]) -> None:
    name, folder, seeds = job
    width, height, low, high = SETS[name]
    for i in seeds:
        path = os.path.join(folder, f"{i:06d}.jpg")
        if not os.path.exists(path):
            make_photo(i, path, width, height, noise=_noise(i, low, high))


def prepare(work: Path, name: str, count: int) -> Path:
    folder = work / name / "images"
    folder.mkdir(parents=True, exist_ok=True)
    missing = [i for i in range(count) if not (folder / f"{i:06d}.jpg").exists()]
    if missing:
        print(f"generating {len(missing)} JPEGs of the {name} set", flush=True)
        with ProcessPoolExecutor(2) as pool:
            list(pool.map(_make, [(name, str(folder), missing[k::2]) for k in range(2)]))
    paths = [str(folder / f"{i:06d}.jpg") for i in range(count)]
    listing = work / name / "images.json"
    listing.write_text(json.dumps({"paths": paths, "labels": [i % 1000 for i in range(count)]}))
    return listing


#: ``--baseline DIR``: ours, with the ``litdata_stream`` package found in DIR instead.
BASELINE = "ours@baseline"


def run(python: str, lib: str, workload: str, payload: dict[str, Any], baseline: Path | None = None) -> dict[str, Any]:
    script_lib = "ours" if lib == BASELINE else lib
    script = HERE / "peers" / ("physical_bench.py" if lib == "physical" else f"{script_lib}_bench.py")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PYTHONPATH", None)
    if lib == BASELINE:
        env["PYTHONPATH"] = str(baseline)
    proc = subprocess.run([python, str(script), workload, json.dumps(payload)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{lib} {workload} failed (rc {proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def dataset_dir(work: Path, lib: str, name: str) -> Path:
    """Where ``lib``'s dataset of set ``name`` lives: ``work/s3/<lib>`` is a bucket of the
    S3 server, the set a prefix in it (bucket names may not hold capitals)."""
    return work / "s3" / lib / f"items-{name.lower()}"


def s3_first_batches(work: Path, name: str, libs: list[str], py: dict[str, str], common: dict[str, Any],
                     repeats: int) -> dict[str, Any]:
    """Time to first batch from S3 (``rclone serve s3``, restarted before every run; an
    empty cache; dataset construction included), one epoch; medians of ``repeats``."""
    sys.path.insert(0, str(REPO / "tests"))
    import servers

    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    firsts: dict[str, list[float]] = {lib: [] for lib in libs}
    rates: dict[str, list[float]] = {lib: [] for lib in libs}
    for k in range(repeats):
        for lib in libs if k % 2 == 0 else libs[::-1]:
            server = servers.rclone_process(work / "s3", logs).start()
            try:
                options = {"endpoint_url": server.url, "aws_access_key_id": servers.S3_KEY,
                           "aws_secret_access_key": servers.S3_SECRET, "region_name": "us-east-1"}
                result = run(py[lib], lib, "stream_images", {
                    **common, "s3_url": f"s3://{lib}/items-{name.lower()}", "storage_options": options,
                    "source": "s3", "decode": False, "epochs": 1, "batch_size": 64})
            finally:
                server.stop()
            firsts[lib].append(result["first_batch_s"])
            rates[lib].append(result["epochs"][0]["items_per_s"])
            print(f"{name} {lib} s3 run {k + 1}: first batch {result['first_batch_s']:.3f} s, "
                  f"{result['epochs'][0]['items_per_s']:,.0f} img/s", flush=True)
    return {lib: {"first_batch_s": median(firsts[lib]), "epoch1": median(rates[lib]), "all_first_batch_s": firsts[lib]}
            for lib in libs}


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "runs": len(runs),
        "epoch1": median([r["epochs"][0]["items_per_s"] for r in runs]),
        "epoch2": median([r["epochs"][1]["items_per_s"] for r in runs]) if len(runs[0]["epochs"]) > 1 else None,
        "first_batch_s": median([r["first_batch_s"] for r in runs]),
        "cpu_ms_per_item": median([r["cpu_ms_per_item"] for r in runs]),
        "items": runs[0]["epochs"][0]["items"],
    }


def write_report(report: dict[str, Any], path: Path) -> None:
    m = report["machine"]
    lines = [
        "# Small items: ours vs LitData 0.2.76 (per-item costs)",
        "",
        f"Measured {report['date']} on {m['cpu']}, {m['cores']} cores, {m['memory']} RAM, Python {m['python']}, "
        f"by `benchmarks/small_items.py` ({report['repeats']} runs per library and set, alternated; medians). "
        "A shared, noisy 2-core machine: read the ratios of one run.",
        "",
        "Data: 8,000 synthetic JPEGs per set, written by each library's `optimize` (2 workers, 64 MB chunks, "
        "`{\"image\": bytes, \"label\": int}`). Streaming from local disk: raw bytes collated as a list, batch 64, "
        "2 workers, shuffle, 2 epochs, empty cache. CPU: the whole process tree, dataset construction to the end "
        "of epoch 2, per image served.",
        "",
        "| set | mean item | metric | ours | LitData 0.2.76 | ours / LitData | page-cache limit |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, entry in report["sets"].items():
        ours, lit, limit = entry["ours"], entry["litdata"], entry.get("page_cache_images_per_s")
        size = f"{entry['mean_bytes'] / 1000:.0f} KB"
        for key, label in (("epoch1", "epoch 1 img/s"), ("epoch2", "epoch 2 img/s")):
            frac = f"{ours[key] / limit:.2f} of {limit:,.0f}" if limit else ""
            lines.append(f"| {name} | {size} | {label} | {ours[key]:,.0f} | {lit[key]:,.0f} | "
                         f"{ours[key] / lit[key]:.2f}x | {frac} |")
        lines.append(f"| {name} | {size} | CPU ms per image | {ours['cpu_ms_per_item']:.3f} | "
                     f"{lit['cpu_ms_per_item']:.3f} | {ours['cpu_ms_per_item'] / lit['cpu_ms_per_item']:.2f}x | |")
        lines.append(f"| {name} | {size} | time to first batch | {ours['first_batch_s']:.3f} s | "
                     f"{lit['first_batch_s']:.3f} s | {ours['first_batch_s'] / lit['first_batch_s']:.2f}x | |")
        base = entry.get(BASELINE)
        if base:
            for key, label in (("epoch1", "epoch 1 img/s"), ("epoch2", "epoch 2 img/s")):
                lines.append(f"| {name} | {size} | {label}, ours before (baseline) | {base[key]:,.0f} | | "
                             f"ours {ours[key] / base[key]:.2f}x baseline | |")
            lines.append(f"| {name} | {size} | CPU ms per image, ours before (baseline) | "
                         f"{base['cpu_ms_per_item']:.3f} | | | |")
        s3 = entry.get("s3_first_batch")
        if s3:
            o, li = s3["ours"], s3["litdata"]
            lines.append(f"| {name} | {size} | S3 (cold) time to first batch | {o['first_batch_s']:.3f} s | "
                         f"{li['first_batch_s']:.3f} s | {o['first_batch_s'] / li['first_batch_s']:.2f}x | |")
            lines.append(f"| {name} | {size} | S3 (cold) epoch 1 img/s | {o['epoch1']:,.0f} | "
                         f"{li['epoch1']:,.0f} | {o['epoch1'] / li['epoch1']:.2f}x | |")
    for note in report.get("notes", []):
        lines += ["", note]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="58KB", help=f"comma-separated, of {', '.join(SETS)}")
    parser.add_argument("--images", type=int, default=8000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--libs", default="ours,litdata")
    parser.add_argument("--work", type=Path, default=REPO / ".benchmarks" / "small")
    parser.add_argument("--out", type=Path, default=HERE / "SMALL_ITEMS.md")
    parser.add_argument("--reconvert", action="store_true", help="write the datasets again")
    parser.add_argument("--s3-repeats", type=int, default=0,
                        help="also time the first batch from S3 (rclone), this many runs per library")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="a folder holding another litdata_stream package: also run ours with it (local only)")
    parser.add_argument("--note", action="append", default=[])
    args = parser.parse_args()
    work: Path = args.work.resolve()
    results_path = work / "results.json"
    if args.report_only:
        write_report(json.loads(results_path.read_text()), args.out)
        return
    work.mkdir(parents=True, exist_ok=True)
    py = pythons()
    libs = args.libs.split(",")
    py[BASELINE] = py["ours"]
    scratch = work / "scratch"
    scratch.mkdir(exist_ok=True)
    report: dict[str, Any] = {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                              "machine": machine(), "repeats": args.repeats, "sets": {}, "notes": args.note}
    for name in args.sets.split(","):
        listing = prepare(work, name, args.images)
        paths = json.loads(listing.read_text())["paths"]
        mean_bytes = sum(os.path.getsize(p) for p in paths) / len(paths)
        common = {"workers": 2, "scratch": str(scratch), "image_list": str(listing)}
        for lib in libs:
            out = dataset_dir(work, lib, name)
            if args.reconvert or not (out / "index.json").exists():
                print(f"{name}: converting with {lib}", flush=True)
                run(py[lib], lib, "convert_images", {**common, "output_dir": str(out), "chunk_bytes": 64_000_000})
        chunks = sorted(str(p) for p in dataset_dir(work, libs[0], name).glob("*.bin"))
        limit = run(py["ours"], "physical", "page_cache", {**common, "files": chunks, "images": len(paths)})
        local_libs = [*libs, BASELINE] if args.baseline else libs
        runs: dict[str, list[dict[str, Any]]] = {lib: [] for lib in local_libs}
        for k in range(args.repeats):
            for lib in local_libs if k % 2 == 0 else local_libs[::-1]:
                began = time.perf_counter()
                result = run(py[lib], lib, "stream_images", {
                    **common, "local_dir": str(dataset_dir(work, "ours" if lib == BASELINE else lib, name)),
                    "source": "local", "decode": False, "epochs": 2, "batch_size": 64}, args.baseline)
                for epoch in result["epochs"]:
                    assert epoch["items"] == len(paths), (lib, epoch)  # every image exactly once per epoch
                runs[lib].append(result)
                e = result["epochs"]
                print(f"{name} {lib} run {k + 1}: {e[0]['items_per_s']:,.0f} / {e[1]['items_per_s']:,.0f} img/s, "
                      f"cpu {result['cpu_ms_per_item']:.3f} ms/img, first batch {result['first_batch_s']:.3f} s "
                      f"({time.perf_counter() - began:.1f} s)", flush=True)
        report["sets"][name] = {"mean_bytes": mean_bytes, "page_cache_images_per_s": limit["images_per_s"],
                                "raw": runs, **{lib: summarize(runs[lib]) for lib in local_libs}}
        if args.s3_repeats:
            report["sets"][name]["s3_first_batch"] = s3_first_batches(work, name, libs, py, common, args.s3_repeats)
    previous = json.loads(results_path.read_text()) if results_path.exists() else {}
    previous.setdefault("sets", {}).update(report["sets"])
    report["sets"] = previous["sets"]
    results_path.write_text(json.dumps(report, indent=1))
    write_report(report, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
