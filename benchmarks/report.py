"""Turn compare.py's results.json into RESULTS.md and results.png.

    .venvs/bench-ours/bin/python benchmarks/report.py [benchmarks/results.json]
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

LIBS = ["ours", "litdata", "webdataset", "mosaic"]
TITLES = {"ours": "ours", "litdata": "LitData 0.2.76", "webdataset": "WebDataset 1.0.2", "mosaic": "Mosaic 0.13"}


def _get(d: Any, *keys: Any) -> Any:
    for k in keys:
        if d is None:
            return None
        if isinstance(d, dict):
            d = d.get(k)
        elif isinstance(d, list) and isinstance(k, int):
            d = d[k] if -len(d) <= k < len(d) else None
        else:
            return None
    return d


def _decode_limit(limits: Any) -> Any:
    """The decode + transform ceiling: with malloc keeping freed memory when measured."""
    return _get(limits, "decode", "decode_transform_tuned_images_per_s") or _get(
        limits, "decode", "decode_transform_images_per_s")


def _epoch(key: str, n: int) -> Callable[[dict], Any]:
    return lambda r: _get(r, key, "epochs", n, "items_per_s")


# (section, metric, value of a library's results, unit, physical limit, higher is better)
ROWS: list[tuple[str, str, Callable[[dict], Any], str, Callable[[dict], Any], bool]] = [
    ("Conversion (JPEG files)", "images/s", lambda r: _get(r, "convert_images", "images_per_s"), "img/s",
     lambda lim: _get(lim, "convert", "images_per_s"), True),
    ("Conversion (JPEG files)", "output MB", lambda r: (_get(r, "convert_images", "output_bytes") or 0) / 1e6 or None, "MB",
     lambda lim: None, False),
    ("Conversion (JPEG files)", "output files", lambda r: _get(r, "convert_images", "output_files"), "",
     lambda lim: None, False),
    ("Conversion (JPEG files)", "writer processes", lambda r: _get(r, "convert_images", "writer_processes"), "",
     lambda lim: None, False),
]
for source, limit_key in (("local", "page_cache"), ("s3", "s3_get")):
    for mode in ("raw", "decoded"):
        key = f"stream_{source}_{mode}"
        section = f"Stream images, {source}, {'raw bytes' if mode == 'raw' else 'decoded+RRC224+flip'}"
        if mode == "raw":
            limit = (lambda k: lambda lim: _get(lim, k, "images_per_s"))(limit_key)
        else:
            limit = _decode_limit
        ROWS.append((section, "epoch 1 images/s", _epoch(key, 0), "img/s", limit, True))
        ROWS.append((section, "epoch 2 images/s", _epoch(key, 1), "img/s", limit, True))
        ROWS.append((section, "time to first batch", (lambda k: lambda r: _get(r, k, "first_batch_s"))(key), "s",
                     lambda lim: None, False))
ROWS += [
    ("Tokens (local, block 2049, batch 8)", "tokens/s", _epoch("tokens_local", 0), "tok/s",
     lambda lim: _get(lim, "memmap", "tokens_per_s"), True),
    ("Tokens (local, block 2049, batch 8)", "time to first batch", lambda r: _get(r, "tokens_local", "first_batch_s"), "s",
     lambda lim: None, False),
    ("Random access ds[i], local", "p50", lambda r: _get(r, "random_local", "p50_ms"), "ms",
     lambda lim: _get(lim, "pread", "p50_ms"), False),
    ("Random access ds[i], local", "p99", lambda r: _get(r, "random_local", "p99_ms"), "ms",
     lambda lim: _get(lim, "pread", "p99_ms"), False),
    ("Random access ds[i], S3", "p50", lambda r: _get(r, "random_s3", "p50_ms"), "ms",
     lambda lim: _get(lim, "s3_get", "range_p50_ms"), False),
    ("Random access ds[i], S3", "p99", lambda r: _get(r, "random_s3", "p99_ms"), "ms",
     lambda lim: _get(lim, "s3_get", "range_p99_ms"), False),
    ("Random access ds[i], S3", "first read", lambda r: _get(r, "random_s3", "first_ms"), "ms",
     lambda lim: None, False),
]

# Sections whose limit column is a reference, not a bound: the libraries read a whole
# chunk once and then serve ds[i] from their local cache, the reference is one ranged GET.
REFERENCE_ONLY = {"Random access ds[i], S3"}

KEYS_OF_SECTION = {
    "Conversion": "convert_images", "Stream images, local, raw": "stream_local_raw",
    "Stream images, local, decoded": "stream_local_decoded", "Stream images, s3, raw": "stream_s3_raw",
    "Stream images, s3, decoded": "stream_s3_decoded", "Tokens": "tokens_local",
    "Random access ds[i], local": "random_local", "Random access ds[i], S3": "random_s3",
}


def _fmt(v: float, unit: str) -> str:
    if unit in ("ms", "s"):
        return f"{v:.3g} {unit}" if v < 100 else f"{v:,.0f} {unit}"
    if unit == "tok/s":
        return f"{v / 1e6:,.1f} M{unit}"
    if v >= 100:
        return f"{v:,.0f} {unit}".strip()
    return f"{v:.3g} {unit}".strip()


def _section_key(section: str) -> str | None:
    for prefix, key in KEYS_OF_SECTION.items():
        if section.startswith(prefix):
            return key
    return None


def table(report: dict[str, Any]) -> str:
    results, limits = report["results"], report["limits"]
    libs = [lib for lib in LIBS if lib in results]
    head = "| workload | metric | " + " | ".join(TITLES[lib] for lib in libs) + " | physical limit |"
    lines = [head, "|" + "---|" * (len(libs) + 3)]
    for section, metric, get, unit, limit_of, higher in ROWS:
        ours = get(results.get("ours", {})) if "ours" in results else None
        limit = limit_of(limits)
        cells = []
        for lib in libs:
            r = results[lib]
            key = _section_key(section)
            entry = r.get(key) if key else None
            value = get(r)
            if value is None:
                if isinstance(entry, dict) and "skipped" in entry:
                    cells.append("skipped")
                elif isinstance(entry, dict) and "error" in entry:
                    cells.append("failed")
                else:
                    cells.append("–")
                continue
            text = _fmt(value, unit)
            ratios = []
            if ours and lib != "ours" and unit not in ("", "MB") and metric != "writer processes":
                ratios.append(f"{value / ours:.2f}× ours")
            if limit and section not in REFERENCE_ONLY:
                ratios.append(f"{(value / limit if higher else limit / value):.2f} of limit")
            if ratios:
                text += " (" + ", ".join(ratios) + ")"
            cells.append(text)
        lines.append(f"| {section} | {metric} | " + " | ".join(cells) + f" | {_fmt(limit, unit) if limit else ''} |")
    return "\n".join(lines)


def failures(report: dict[str, Any]) -> list[str]:
    out = []
    for lib, res in report["results"].items():
        for key, r in res.items():
            if isinstance(r, dict) and "error" in r:
                out.append(f"- {TITLES.get(lib, lib)} `{key}`: {r['error']}")
            if isinstance(r, dict) and r.get("failed_attempts"):
                out.append(f"- {TITLES.get(lib, lib)} `{key}`: failed once, passed on the retry "
                           f"(the figure is the retry's): {r['failed_attempts'][0][-200:]}")
            if isinstance(r, dict) and "skipped" in r:
                out.append(f"- {TITLES.get(lib, lib)} `{key}`: skipped ({r['skipped']})")
    for key, r in report["limits"].items():
        if isinstance(r, dict) and "error" in r:
            out.append(f"- limit `{key}`: {r['error']}")
    return out


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results, limits = report["results"], report["limits"]
    libs = [lib for lib in LIBS if lib in results]
    panels = [
        ("Conversion (img/s)", [("JPEG files", lambda r: _get(r, "convert_images", "images_per_s"),
                                 _get(limits, "convert", "images_per_s"))]),
        ("Streaming raw bytes (img/s, epoch 2)", [
            ("local", _epoch("stream_local_raw", 1), _get(limits, "page_cache", "images_per_s")),
            ("S3", _epoch("stream_s3_raw", 1), _get(limits, "s3_get", "images_per_s"))]),
        ("Streaming decoded+RRC (img/s, epoch 2)", [
            ("local", _epoch("stream_local_decoded", 1), _decode_limit(limits)),
            ("S3", _epoch("stream_s3_decoded", 1), _decode_limit(limits))]),
        ("Tokens (M tokens/s)", [("local", lambda r: (_epoch("tokens_local", 0)(r) or 0) / 1e6,
                                  (_get(limits, "memmap", "tokens_per_s") or 0) / 1e6)]),
        ("Random access p50 (ms, lower is better)", [
            ("local", lambda r: _get(r, "random_local", "p50_ms"), _get(limits, "pread", "p50_ms")),
            ("S3", lambda r: _get(r, "random_s3", "p50_ms"), _get(limits, "s3_get", "range_p50_ms"))]),
        ("Time to first batch (s), S3 raw", [
            ("S3", lambda r: _get(r, "stream_s3_raw", "first_batch_s"), None)]),
    ]
    fig, axes = plt.subplots(2, 3, figsize=(16, 8.5))
    colors = {"ours": "#3b6fb6", "litdata": "#792ee5", "webdataset": "#2a9d4b", "mosaic": "#e07b28"}
    for ax, (title, groups) in zip(axes.flat, panels):
        width = 0.8 / max(1, len(libs))
        for g, (_, get, limit) in enumerate(groups):
            for k, lib in enumerate(libs):
                value = get(results[lib])
                if value:
                    ax.bar(g + (k - (len(libs) - 1) / 2) * width, value, width, color=colors[lib],
                           label=TITLES[lib] if g == 0 else None)
            if limit:
                ax.hlines(limit, g - 0.45, g + 0.45, colors="black", linestyles="dashed",
                          label="physical limit" if g == 0 else None)
        ax.set_xticks(range(len(groups)), [name for name, _, _ in groups])
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        if "Random" in title or "raw bytes" in title or "Tokens" in title:
            ax.set_yscale("log")  # the limit is orders of magnitude away
    axes.flat[0].legend(fontsize=8)
    m = report["machine"]
    fig.suptitle(f"{report['date']} — {m['cpu']}, {m['cores']} cores — {report['config']['images']} images, "
                 f"{report['config']['tokens'] / 1e6:.0f} M tokens", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write(report: dict[str, Any], out: Path) -> None:
    m, c = report["machine"], report["config"]
    lim = report["limits"]
    lines = [
        "# Benchmarks: ours vs LitData 0.2.76, WebDataset and Mosaic Streaming",
        "",
        f"Measured {report['date']} on {m['cpu']}, {m['cores']} cores (/proc/cpuinfo), {m['memory']} RAM, "
        f"Python {m['python']}, by `bash benchmarks/run.sh{' --small' if c.get('small') else ''}` "
        f"({report['elapsed_s'] / 60:.1f} min). A shared, noisy 2-core machine: read ratios, not absolutes.",
        "",
        f"Data: {c['images']:,} synthetic JPEGs (640×480, mean {report['image_bytes_mean'] / 1e3:.0f} KB, int label), "
        f"{c['tokens'] / 1e6:g} M uint16 tokens; chunks/shards of {c['chunk_bytes']} in every format; "
        f"{c['workers']} loader workers, batch {c['batch_size']} (tokens: batch {c['token_batch_size']} of "
        f"{c['block_size']}), {c['epochs']} epochs, shuffle on; S3 = `rclone serve s3` on 127.0.0.1, cache emptied "
        f"before the first epoch. Random access: {c['random_samples']} reads of `ds[i]` at random i.",
        "",
        "Cells: value (ratio to ours; fraction of the physical limit, 1.00 = at the limit; for latencies "
        "limit ÷ value). See README.md for what each limit measures.",
        "",
        table(report),
        "",
    ]
    if lim:
        lines += ["Physical limits measured on the same data:", ""]
        lines.append(f"- page cache read of the chunk files: {_get(lim, 'page_cache', 'MB_per_s') or 0:,.0f} MB/s")
        lines.append(f"- S3 GET of the chunk files (2 streams): {_get(lim, 's3_get', 'MB_per_s') or 0:,.0f} MB/s")
        lines.append(f"- JPEG decode, 2 processes: {_get(lim, 'decode', 'decode_images_per_s') or 0:,.0f} img/s; "
                     f"decode + RRC224 + flip: {_get(lim, 'decode', 'decode_transform_images_per_s') or 0:,.0f} img/s; "
                     f"the same with malloc keeping freed memory (as our workers do, the limit used for the "
                     f"decoded rows): {_get(lim, 'decode', 'decode_transform_tuned_images_per_s') or 0:,.0f} img/s")
        lines.append(f"- numpy memmap sweep of the token files: {(_get(lim, 'memmap', 'tokens_per_s') or 0) / 1e6:,.0f} M tokens/s")
        lines.append(f"- conversion floor (read every JPEG, append to one file, 1 process): "
                     f"{_get(lim, 'convert', 'images_per_s') or 0:,.0f} img/s")
        lines.append("")
    extra = failures(report) + [f"- {n}" for n in report.get("notes", [])]
    if extra:
        lines += ["Notes, skips and failures:", "", *extra, ""]
    lines += ["![results](results.png)", ""]
    (out / "RESULTS.md").write_text("\n".join(lines))
    try:
        plot(report, out / "results.png")
    except Exception as exc:  # the table matters more than the picture
        print(f"plot failed: {exc}", file=sys.stderr)


if __name__ == "__main__":
    src = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "results.json")
    write(json.loads(src.read_text()), src.parent)
