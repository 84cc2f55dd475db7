"""Shuffle quality side by side: how many classes a batch mixes, at what speed and cache cost.

    PY=<the workspace python>                   # hatch's env; ours is imported from this checkout
    bash benchmarks/setup_venvs.sh litdata mosaic   # .venvs/litdata-0.2.76, .venvs/bench-mosaic, once
    $PY benchmarks/shuffle_quality.py           # everything: about 7 minutes on 2 cores
    $PY benchmarks/shuffle_quality.py --small   # a smoke test of every adapter (--out: the work folder)
    $PY benchmarks/shuffle_quality.py --report-only   # redraw SHUFFLE.md from the JSON

The data is a class-sorted image dataset: ``--classes`` classes of ``--per-class``
synthetic JPEGs (about 100 KB, the generator of compare.py, whose image folder
``.benchmarks/compare/images`` is shared) with ``label = class``, written class after
class, one class per chunk (ours, read by ours and LitData 0.2.76: ``optimize(...,
chunk_size=per_class)``) or per shard (Mosaic MDS, ``flush_shard`` after each class). A
stored-order batch holds one class; a uniformly shuffled batch of 64 about 32 of 40.

Each configuration streams one epoch of raw bytes (batch 64, 2 DataLoader workers) in
its library's venv (``peers/<lib>_bench.py shuffle_epoch``), from local disk and from
``rclone serve s3`` on 127.0.0.1 (restarted before every S3 run, as compare.py does),
into an empty cache folder whose size this process samples every 20 ms. Reported: the
mean number of distinct classes per full batch, images/s over the epoch (worker start
included) and the peak cache bytes, medians over ``--repeats`` runs.

Then, on compare.py's JPEG streaming workload (8,000 images, 64 MB chunks, local, raw,
2 epochs), ours' images/s with ``shuffle_algo="chunk"`` against the default block
shuffle, runs alternated, and the ratio of their medians.

Writes ``benchmarks/SHUFFLE.md`` (``--out``) and ``.benchmarks/shuffle/results.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import compare  # noqa: E402  (also puts tests/ and peers/ on sys.path)

TITLES = {"ours": "ours", "litdata": "LitData 0.2.76", "mosaic": "Mosaic Streaming 0.13"}
DATA_LIB = {"ours": "ours", "litdata": "ours", "mosaic": "mosaic"}  # whose files each reads


def configurations(per_class: int, total: int) -> list[dict[str, Any]]:
    """(library, name, StreamingDataset kwargs) of every configuration, in run order."""
    configs: list[dict[str, Any]] = [
        {"lib": "ours", "name": 'shuffle_algo="chunk"', "kwargs": {"shuffle_algo": "chunk"}},
        {"lib": "ours", "name": '"block", default size (8 chunks)', "kwargs": {}},
    ]
    for chunks in (2, 4, 16):
        configs.append({"lib": "ours", "name": f'"block", {chunks} chunks',
                        "kwargs": {"shuffle_block_size": chunks * per_class}})
    configs += [
        {"lib": "ours", "name": '"block", full permutation', "kwargs": {"shuffle_block_size": total}},
        {"lib": "litdata", "name": "shuffle=True", "kwargs": {}},
        # Mosaic's default: max(4,000,000 / canonical nodes, 2^18); 1 canonical node for py1e.
        {"lib": "mosaic", "name": "py1e, default shuffle_block_size (2^18)", "kwargs": {"shuffle_algo": "py1e"}},
        {"lib": "mosaic", "name": "py1e, shuffle_block_size = 8 shards",
         "kwargs": {"shuffle_algo": "py1e", "shuffle_block_size": 8 * per_class}},
    ]
    for config in configs:
        config["key"] = f"{config['lib']}:{json.dumps(config['kwargs'], sort_keys=True)}"
    return configs


def uniform_distinct(classes: int, per_class: int, batch: int) -> float:
    """Expected distinct classes in a batch drawn uniformly without replacement."""
    total, absent = classes * per_class, 1.0
    for k in range(batch):
        absent *= (total - per_class - k) / (total - k)
    return classes * (1.0 - absent)


# ------------------------------------------------------------------ the cache folder
def folder_bytes(path: str) -> int:
    """Bytes of the files under ``path`` now (files may vanish while walking)."""
    total = 0
    stack = [path]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except FileNotFoundError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    total += entry.stat(follow_symlinks=False).st_size
            except FileNotFoundError:
                pass
    return total


class PeakSampler:
    """The largest size of a folder, sampled every ``interval`` s in a thread."""

    def __init__(self, path: str, interval: float = 0.02) -> None:
        self.path, self.interval, self.peak, self.samples = path, interval, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> None:
        self.peak = max(self.peak, folder_bytes(self.path))
        self.samples += 1

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


# ----------------------------------------------------------------------- the data
def class_listing(work: Path, classes: int, per_class: int, image_listing: Path) -> Path:
    """The first classes * per_class images of compare.py's folder, label = index // per_class."""
    paths = json.loads(image_listing.read_text())["paths"][: classes * per_class]
    listing = work / f"classes-{classes}x{per_class}.json"
    listing.write_text(json.dumps({"paths": paths, "labels": [i // per_class for i in range(len(paths))]}))
    return listing


def ensure_converted(runner: compare.Runner, lib: str, workload: str, out: Path, payload: dict[str, Any],
                     stamp: dict[str, Any]) -> dict[str, Any] | None:
    """Convert once: a stamp file beside ``out`` records what it was made from."""
    stamp_path = out.parent / f".{out.name}-{lib}.json"
    if (out / "index.json").exists() and stamp_path.exists() and json.loads(stamp_path.read_text()) == stamp:
        return None
    result = runner.run(lib, workload, {**payload, "output_dir": str(out)})
    if "error" in result:
        raise SystemExit(f"{lib} {workload} failed: {result['error']}")
    stamp_path.write_text(json.dumps(stamp))
    return result


def checkout() -> dict[str, Any]:
    """The commit measured, and the packages' files changed from it (ours is an editable install)."""
    def git(*argv: str) -> str:
        try:
            return subprocess.run(["git", *argv], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    return {"commit": git("rev-parse", "--short", "HEAD"),
            "changed_packages_files": git("status", "--porcelain", "--", "packages").splitlines()}


# --------------------------------------------------------------------- the summary
def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if "error" not in r]
    summary: dict[str, Any] = {"runs": len(runs), "ok": len(ok),
                               "errors": [r["error"] for r in runs if "error" in r]
                               + [e for r in ok for e in r.get("failed_attempts", [])]}
    if ok:
        for key in ("items_per_s", "distinct_mean", "peak_cache_bytes", "first_batch_s"):
            summary[key] = median([r[key] for r in ok if r.get(key) is not None])
        summary["items"] = sorted({r["items"] for r in ok})
        summary["distinct_min"] = min(r["distinct_min"] for r in ok)
        summary["distinct_max"] = max(r["distinct_max"] for r in ok)
        summary["complete"] = all(r.get("complete") for r in ok)
        for key in ("block_size", "shuffle_block_size", "num_canonical_nodes"):
            values = sorted({json.dumps(r.get(key)) for r in ok})
            summary[key] = json.loads(values[0]) if len(values) == 1 else values
        summary["warnings"] = sorted({w for r in ok for w in r.get("warnings", []) if "block" in w})
    return summary


def _n(value: Any, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _mb(value: Any) -> str:
    return "–" if value is None else f"{value / 1e6:,.0f} MB"


def checkout_line(tree: dict[str, Any] | None) -> str:
    if not tree:
        return ""
    changed = tree.get("changed_packages_files") or []
    return f"Ours: this checkout at commit {tree.get('commit')}" + (
        f", with uncommitted changes under packages/ ({', '.join(f.split()[-1] for f in changed)})." if changed
        else ", no uncommitted changes under packages/.")


def speed(s: dict[str, Any]) -> str:
    """Median images/s, and how many runs it comes from when some failed."""
    text = _n(s.get("items_per_s"))
    if s.get("runs") and s.get("ok", 0) < s["runs"]:
        text += f" ({s['ok']} of {s['runs']} runs)" if s.get("ok") else " (failed)"
    return text


def write_report(report: dict[str, Any], path: Path) -> None:
    cfg, m = report["config"], report["machine"]
    per_class, batch = cfg["per_class"], cfg["batch_size"]
    total = cfg["classes"] * per_class
    lines = [
        "# Shuffle quality: ours vs LitData 0.2.76 and Mosaic Streaming 0.13",
        "",
        f"Measured {report['date']} on a 2-core VM with 24 GB RAM ({m['cpu']}, {m['cores']} cores in "
        f"/proc/cpuinfo, {m['memory']} MemTotal, Python {m['python']}) in {report['elapsed_s'] / 60:.1f} min by",
        "",
        f"    {report['command']}",
        "",
        checkout_line(report.get("checkout")),
        "",
        f"Data: {cfg['classes']} classes × {per_class} synthetic JPEGs (mean {report['image_bytes_mean'] / 1e3:.0f} KB), "
        f"label = class, written class after class, one class per chunk / shard "
        f"({report['dataset_bytes'] / 1e6:,.0f} MB). One epoch of raw bytes per run, batch {batch}, "
        f"{cfg['workers']} DataLoader workers, empty cache first; S3 = `rclone serve s3` on 127.0.0.1, restarted "
        f"before each run. Figures are medians of {cfg['repeats']} runs (local) / {cfg['s3_repeats']} (S3), "
        "runs of all configurations interleaved. A shared, noisy 2-core machine: read ratios, not absolutes.",
        "",
        "- *distinct classes*: mean number of distinct labels in a full batch of "
        f"{batch} (min–max over all batches of all runs); a uniform random batch holds "
        f"{report['uniform_distinct']:.1f} on average, stored order 1 (or 2 at a class boundary).",
        "- *images/s*: the epoch's images over its time, DataLoader worker start and the first "
        "downloads included.",
        "- *first batch*: seconds from building the dataset to the first batch (imports excluded).",
        "- *peak cache*: the largest size of the cache folder sampled every 20 ms (local datasets "
        "are read in place by all three libraries).",
        "- *items*: images served in the epoch (the dataset holds "
        f"{cfg['classes'] * per_class:,}); *block*: the block size in effect (ours: after any shrinking to "
        "the cache budget; Mosaic: `shuffle_block_size`).",
        "",
        "| library | configuration | block (items) | distinct classes / batch, local | S3 | images/s, local | "
        "images/s, S3 | first batch, S3 | peak cache, local | peak cache, S3 | items |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes: list[str] = list(report.get("notes", []))
    for config in report["configs"]:
        row = report["summary"].get(config["key"], {})
        local, s3 = row.get("local", {}), row.get("s3", {})
        if not local and not s3:
            continue

        def distinct(s: dict[str, Any]) -> str:
            if s.get("distinct_mean") is None:
                return "failed" if s.get("runs") else "–"
            return f"{s['distinct_mean']:.1f} ({s['distinct_min']}–{s['distinct_max']})"

        block = next((s.get("block_size") or s.get("shuffle_block_size") for s in (local, s3)
                      if s.get("block_size") or s.get("shuffle_block_size")), None)
        block = block or config["kwargs"].get("shuffle_block_size")
        if config["lib"] == "mosaic" and block is None:
            block = 1 << 18
        block_text = "–" if block is None else (f"{block:,}" if isinstance(block, int) else str(block))
        if config["lib"] == "ours" and isinstance(block, int) and block > total:
            block_text = f"{total:,} (asked {block:,})"  # a block holds at most the whole dataset
        items = sorted({i for s in (local, s3) for i in s.get("items", [])})
        lines.append(
            f"| {TITLES[config['lib']]} | {config['name']} | {block_text} | {distinct(local)} | {distinct(s3)} | "
            f"{speed(local)} | {speed(s3)} | {_n(s3.get('first_batch_s'), 2)} s | {_mb(local.get('peak_cache_bytes'))} | "
            f"{_mb(s3.get('peak_cache_bytes'))} | {', '.join(f'{i:,}' for i in items) or '–'} |")
        for source, s in (("local", local), ("S3", s3)):
            for error in s.get("errors", []):
                notes.append(f"{TITLES[config['lib']]} {config['name']}, {source}: a run failed: `{error[-300:]}`")
            if s.get("ok") and not s.get("complete"):
                notes.append(f"{TITLES[config['lib']]} {config['name']}, {source}: the epoch did not serve every "
                             "image exactly once")
            for warning in s.get("warnings", []):
                notes.append(f"{TITLES[config['lib']]} {config['name']}, {source}: warned: {warning}")
    lines.append(f"| (reference) | uniform random batches | – | {report['uniform_distinct']:.1f} | "
                 f"{report['uniform_distinct']:.1f} | | | | | | |")
    bounded = report.get("bounded")
    if bounded:
        lines += [
            "",
            f"### ours from S3 with `max_cache_size=\"{bounded['max_cache_size']}\"`",
            "",
            "The default cache budget (100 GB) never evicts here, so every S3 run above caches the "
            "whole dataset; with a budget smaller than a block's chunks the block is shrunk (a "
            "warning says so) and the cache stays within the budget:",
            "",
            "| configuration | block in effect (items) | distinct classes / batch | images/s | first batch | "
            "peak cache |",
            "|---|---|---|---|---|---|",
        ]
        for config in report["configs"]:
            s = bounded["summary"].get(config["key"])
            if not s:
                continue
            text = "failed" if s.get("distinct_mean") is None else \
                f"{s['distinct_mean']:.1f} ({s['distinct_min']}–{s['distinct_max']})"
            block = s.get("block_size")
            block = min(block, total) if isinstance(block, int) else block
            lines.append(f"| {config['name']} | {'–' if block is None else f'{block:,}'} | {text} | "
                         f"{speed(s)} | {_n(s.get('first_batch_s'), 2)} s | {_mb(s.get('peak_cache_bytes'))} |")
            for error in s.get("errors", []):
                notes.append(f"bounded cache, {config['name']}: a run failed: `{error[-300:]}`")
            for warning in s.get("warnings", []):
                notes.append(f"bounded cache, {config['name']}: warned: {warning}")
    jpeg = report.get("jpeg")
    if jpeg:
        lines += [
            "",
            "## Block vs chunk shuffle on compare.py's JPEG workload",
            "",
            f"{jpeg['images']:,} images (about 100 KB), `optimize(chunk_bytes=\"64MB\")` "
            f"({jpeg['chunks']} chunks), local, raw bytes, {jpeg['epochs']} epochs, batch {batch}, "
            f"{cfg['workers']} workers; ours with `shuffle_algo=\"chunk\"` and with the default block shuffle "
            f"(block of {_n(jpeg.get('block_size'))} items), {jpeg['repeats']} runs each, alternated; medians.",
            "",
            "| shuffle | epoch 1 images/s | epoch 2 images/s | all epochs images/s | runs (all epochs images/s) |",
            "|---|---|---|---|---|",
        ]
        for name in ("chunk", "block"):
            s = jpeg["summary"][name]
            runs = ", ".join(f"{v:,.0f}" for v in s["all_runs"])
            lines.append(f"| {name} | {_n(s['epoch1'])} | {_n(s['epoch2'])} | {_n(s['all'])} | {runs} |")
        ratio = jpeg.get("ratio")
        if ratio is not None:
            verdict = "met" if ratio >= 0.9 else "NOT met"
            lines += ["", f"Default (block) / chunk: **{ratio:.3f}** (goal: at least 0.90, {verdict})."]
    if notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    if report.get("reading"):
        lines += ["", "## Reading these figures", "", *report["reading"]]
    path.write_text("\n".join(lines) + "\n")


# ------------------------------------------------------------------------ running
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny sizes, a smoke test (output in the work folder)")
    parser.add_argument("--classes", type=int, default=40)
    parser.add_argument("--per-class", type=int, default=300, help="images per class = items per chunk")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each configuration from local disk")
    parser.add_argument("--s3-repeats", type=int, default=2, help="runs of each configuration from S3")
    parser.add_argument("--libs", default="ours,litdata,mosaic")
    parser.add_argument("--sources", default="local,s3")
    parser.add_argument("--bounded-cache", default="600MB",
                        help="also run ours' configurations from S3 with this max_cache_size ('' to skip)")
    parser.add_argument("--jpeg-images", type=int, default=8000, help="the JPEG workload (0 to skip)")
    parser.add_argument("--jpeg-epochs", type=int, default=2)
    parser.add_argument("--jpeg-repeats", type=int, default=7, help="runs of each (epochs of 0.6 s: noisy)")
    parser.add_argument("--timeout", type=int, default=300, help="seconds per library run")
    parser.add_argument("--work", type=Path, default=REPO / ".benchmarks" / "shuffle")
    parser.add_argument("--images-work", type=Path, default=REPO / ".benchmarks" / "compare",
                        help="where the JPEGs are generated (shared with compare.py)")
    parser.add_argument("--out", type=Path, default=None, help="folder of SHUFFLE.md (default: benchmarks/)")
    parser.add_argument("--report-only", action="store_true", help="rewrite SHUFFLE.md from results.json")
    args = parser.parse_args()
    if args.small:
        args.classes, args.per_class, args.jpeg_images = 6, 100, 1000
        args.repeats = args.s3_repeats = 1
        args.jpeg_repeats = 1
        if args.work == REPO / ".benchmarks" / "shuffle":
            args.work = REPO / ".benchmarks" / "shuffle-small"
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    out = args.out or (args.work if args.small else HERE)
    results_path = args.work / "results.json"
    if args.report_only:
        write_report(json.loads(results_path.read_text()), out / "SHUFFLE.md")
        print(f"wrote {out / 'SHUFFLE.md'}")
        return

    # ours: .venvs/bench-ours if built, else this interpreter (the workspace env).
    if not compare.venv_ok("ours"):
        compare.LIBS["ours"] = Path(sys.executable).parent.parent
    libs = [lib for lib in args.libs.split(",") if lib]
    notes = []
    for lib in [lib for lib in libs if not compare.venv_ok(lib)]:
        notes.append(f"{TITLES[lib]}: its venv ({compare.LIBS[lib]}) is missing (it did not build): skipped.")
        libs.remove(lib)
    sources = [s for s in args.sources.split(",") if s]
    total = args.classes * args.per_class
    configs = [c for c in configurations(args.per_class, total) if c["lib"] in libs]
    started = time.perf_counter()
    when = dt.datetime.now(dt.timezone.utc)
    source_tree = checkout()
    runner_args = argparse.Namespace(work=args.work, timeout=args.timeout)
    runner = compare.Runner(runner_args, {})

    # ---- data: the JPEGs (compare.py's folder), then each format once ------------------
    count = max(total, args.jpeg_images)
    image_listing = compare.prepare_images(args.images_work.resolve(), count, args.workers)
    listing = class_listing(args.work, args.classes, args.per_class, image_listing)
    paths = json.loads(listing.read_text())["paths"]
    image_bytes = sum(os.path.getsize(p) for p in paths)
    s3_root = args.work / "s3"  # buckets: ours (read by ours and LitData), mosaic
    scratch = args.work / "scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    common = {"workers": args.workers, "scratch": str(scratch), "batch_size": args.batch_size}
    stamp = {"classes": args.classes, "per_class": args.per_class, "paths": len(paths), "bytes": image_bytes}
    print("converting (once)", flush=True)
    converted: dict[str, Any] = {}
    for lib in sorted({DATA_LIB[c["lib"]] for c in configs}):
        converted[lib] = ensure_converted(runner, lib, "convert_classes", s3_root / lib / "classes",
                                          {**common, "image_list": str(listing), "chunk_items": args.per_class},
                                          stamp)
    jpeg_dir = args.work / "jpeg" / "images"
    if args.jpeg_images and "ours" in libs:
        jpeg_listing = compare.prepare_images(args.images_work.resolve(), args.jpeg_images, args.workers)
        jpeg_stamp = {"images": args.jpeg_images, "chunk_bytes": "64MB"}
        converted["jpeg"] = ensure_converted(runner, "ours", "convert_images", jpeg_dir,
                                             {**common, "image_list": str(jpeg_listing),
                                              "chunk_bytes": compare.parse_size("64MB")}, jpeg_stamp)
    dataset_bytes = folder_bytes(str(s3_root / ("ours" if "ours" in libs else libs[0]) / "classes"))
    # Warm the page cache: the first configuration must not pay for the disk.
    for folder in (s3_root, jpeg_dir):
        for root, _, names in os.walk(folder):
            for name in names:
                with open(os.path.join(root, name), "rb") as f:
                    while f.read(1 << 22):
                        pass

    # ---- the S3 server ---------------------------------------------------------------
    log_dir = args.work / "logs"
    log_dir.mkdir(exist_ok=True)
    s3 = compare.RestartingS3(s3_root, log_dir, runner)
    options = s3.options

    runs: dict[str, dict[str, list[dict[str, Any]]]] = {c["key"]: {} for c in configs}
    bounded_runs: dict[str, list[dict[str, Any]]] = {}
    jpeg_runs: dict[str, list[dict[str, Any]]] = {"chunk": [], "block": []}
    counter = [0]

    def epoch(config: dict[str, Any], source: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        lib = config["lib"]
        counter[0] += 1
        cache = scratch / f"cache-{counter[0]}"
        cache.mkdir()
        data = DATA_LIB[lib]
        payload = {**common, "source": source, "local_dir": str(s3_root / data / "classes"),
                   "s3_url": f"s3://{data}/classes", "storage_options": options, "cache_dir": str(cache),
                   "dataset_kwargs": {**config["kwargs"], **(extra or {})}}
        print(f"[{time.perf_counter() - started:4.0f}s] {TITLES[lib]} {config['name']} {extra or ''}", flush=True)
        with PeakSampler(str(cache)) as sampler:
            result = runner.run(lib, "shuffle_epoch", payload)
        shutil.rmtree(cache, ignore_errors=True)
        result["peak_cache_bytes"] = sampler.peak
        result["cache_samples"] = sampler.samples
        if "label_counts" in result:
            counts = result.pop("label_counts")
            result["complete"] = len(counts) == args.classes and set(counts.values()) == {args.per_class}
        if "error" not in result:
            print(f"    {result['items_per_s']:,.0f} img/s, {result['distinct_mean']:.1f} classes/batch, "
                  f"peak cache {result['peak_cache_bytes'] / 1e6:,.0f} MB", flush=True)
        return result

    def build_report() -> dict[str, Any]:
        summary = {key: {source: summarize(r) for source, r in per.items()} for key, per in runs.items()}
        report: dict[str, Any] = {
            "date": when.strftime("%Y-%m-%d %H:%M UTC"),
            "machine": compare.machine(),
            "checkout": source_tree,
            "command": "$PY " + " ".join(shlex.quote(a) for a in ["benchmarks/shuffle_quality.py", *sys.argv[1:]])
            + f"   # PY={sys.executable}",
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "image_bytes_mean": image_bytes / len(paths),
            "dataset_bytes": dataset_bytes,
            "uniform_distinct": uniform_distinct(args.classes, args.per_class, args.batch_size),
            "configs": configs,
            "converted": converted,
            "runs": runs,
            "summary": summary,
            "notes": notes,
            "elapsed_s": time.perf_counter() - started,
        }
        if bounded_runs:
            report["bounded"] = {"max_cache_size": args.bounded_cache, "runs": bounded_runs,
                                 "summary": {k: summarize(v) for k, v in bounded_runs.items()}}
        if any(jpeg_runs.values()):
            report["jpeg"] = jpeg_report()
        return report

    def jpeg_report() -> dict[str, Any]:
        summary = {}
        for name, rs in jpeg_runs.items():
            ok = [r for r in rs if "error" not in r]
            totals = [sum(e["items"] for e in r["epochs"]) / sum(e["seconds"] for e in r["epochs"]) for r in ok]
            summary[name] = {
                "epoch1": median([r["epochs"][0]["items_per_s"] for r in ok]),
                "epoch2": median([r["epochs"][-1]["items_per_s"] for r in ok]),
                "all": median(totals), "all_runs": totals, "errors": [r["error"] for r in rs if "error" in r],
            }
        chunk, block = summary["chunk"]["all"], summary["block"]["all"]
        index = json.loads((jpeg_dir / "index.json").read_text())
        return {"images": args.jpeg_images, "epochs": args.jpeg_epochs, "repeats": args.jpeg_repeats,
                "chunks": len(index["chunks"]),
                "block_size": min(-(-8 * args.jpeg_images // len(index["chunks"])), args.jpeg_images),
                "runs": jpeg_runs, "summary": summary, "ratio": block / chunk if chunk and block else None}

    def save() -> None:
        results_path.write_text(json.dumps(build_report(), indent=1))

    runner.after_each = save
    s3.restart()
    runner.before_s3 = s3.restart
    try:
        # ---- the shuffle configurations, all interleaved ----------------------------
        for rep in range(max(args.repeats, args.s3_repeats)):
            for source in sources:
                if rep >= (args.s3_repeats if source == "s3" else args.repeats):
                    continue
                print(f"== {source}, run {rep + 1}", flush=True)
                for config in configs:
                    runs[config["key"]].setdefault(source, []).append(epoch(config, source))
                if source == "s3" and args.bounded_cache and "ours" in libs:
                    for config in configs:
                        if config["lib"] == "ours":
                            bounded_runs.setdefault(config["key"], []).append(
                                epoch(config, "s3", {"max_cache_size": args.bounded_cache}))
        # ---- chunk vs block on the JPEG workload ------------------------------------
        if args.jpeg_images and "ours" in libs:
            print("== JPEG workload: chunk vs block", flush=True)
            payload = {**common, "source": "local", "local_dir": str(jpeg_dir), "s3_url": "", "decode": False,
                       "epochs": args.jpeg_epochs}
            for _ in range(args.jpeg_repeats):
                for name, kwargs in (("chunk", {"shuffle_algo": "chunk"}), ("block", {})):
                    print(f"[{time.perf_counter() - started:4.0f}s] ours {name}", flush=True)
                    result = runner.run("ours", "stream_images", {**payload, "dataset_kwargs": kwargs})
                    jpeg_runs[name].append(result)
                    if "error" not in result:
                        print("    " + ", ".join(f"{e['items_per_s']:,.0f}" for e in result["epochs"]) + " img/s")
    finally:
        s3.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    report = build_report()
    results_path.write_text(json.dumps(report, indent=1))
    out.mkdir(parents=True, exist_ok=True)
    write_report(report, out / "SHUFFLE.md")
    print(f"wrote {out / 'SHUFFLE.md'} and {results_path} in {report['elapsed_s'] / 60:.1f} min")


if __name__ == "__main__":
    main()
