"""Scale benchmark: a dataset of up to a billion samples, opened by ours and by LitData 0.2.76.

    $PY benchmarks/scale.py --samples 10M              # both libraries, world sizes 1 and 1,024
    $PY benchmarks/scale.py --samples 1B --libs litdata
    $PY benchmarks/scale.py --samples 1B --libs ours    # once the epoch plan no longer needs O(N)

What grows with the number of samples is not the data a first batch reads but what a loader
builds before it: the parsed index, the shuffled epoch plan, the per-rank and per-worker
split. This benchmark isolates that. It writes one real chunk of 10,000 small items with our
writer and hard-links it N / 10,000 times, so a billion-sample dataset costs one chunk of
disk and an index of 100,000 entries (under ``.benchmarks/scale/``, git-ignored, reused).

Each (library, size, world size) runs in a child process of that library's venv, which
imports ``litdata``, builds ``StreamingDataset(dir, shuffle=True)`` and
``StreamingDataLoader(ds, batch_size=64, num_workers=2)`` and takes one batch. With a world
size above 1 the child gets ``WORLD_SIZE`` and ``RANK``/``GLOBAL_RANK`` (the names ours and
LitData read) and no process group, as one rank of a large job would see them. Meanwhile
this process samples the memory of the child's whole process tree (it and its loader
workers) every ``--interval`` seconds from ``/proc/PID/smaps_rollup``: the peak sum of PSS
(pages shared by forked workers counted once, split between them: what the machine
really spends) and the peak sum of RSS (what ``top`` shows, shared pages counted in
every process). A tree whose PSS passes ``--mem-limit-gb`` is killed and reported as over
it; a run past ``--timeout`` is killed and reported as such.

It also loads the 100,000-chunk index with ``litdata_format.Index.load`` in a fresh
process (time, memory), and measures how much of a forked worker's memory stops being
shared when the worker touches the parent's index objects, with and without ``gc.freeze()``
before the fork.

Results: a markdown table on stdout, ``benchmarks/SCALE.md`` and
``.benchmarks/scale/results.json``. Runs of other sizes or libraries already in
results.json are kept, so the 1 B run of ours can be added later without redoing the rest.

The child and index-probe modes (``--child``, ``--index-probe``) are for this script's own use;
the child mode imports only the standard library and ``litdata``, so it runs in any venv.
"""

from __future__ import annotations

import argparse
import datetime as dt
import errno
import gc
import json
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = REPO / ".benchmarks" / "scale"
CHUNK_ITEMS = 10_000
MB = 1_000_000
PYTHONS = {
    "ours": Path(sys.executable),
    "litdata": Path(os.environ.get("LITDATA_VENV", REPO / ".venvs" / "litdata-0.2.76")) / "bin" / "python",
}
TITLES = {"ours": "ours", "litdata": "LitData 0.2.76"}
MARK = "SCALE "  # the child's result lines start with this; anything else is log


# ------------------------------------------------------------------ the child
def child_main(dataset: str, batch_size: int, workers: int) -> None:
    """One measured run: import, build the dataset and loader, take one batch, report.

    The result lines go to stdout as ``SCALE {json}`` so that library warnings on the same
    stream do not get in the way; the parent uses the ``imported`` line to tell the memory
    of the imports (torch mostly) from what building the dataset adds.
    """

    def say(**fields: Any) -> None:
        print(MARK + json.dumps(fields), flush=True)

    began = time.perf_counter()
    import litdata

    imported_pkg = time.perf_counter()
    # Our litdata imports its parts on first use: resolving the two names imports them
    # (torch included), so that "import" means the same for both libraries.
    dataset_cls, loader_cls = litdata.StreamingDataset, litdata.StreamingDataLoader
    imported = time.perf_counter()
    say(event="imported", import_s=imported - began, import_litdata_s=imported_pkg - began,
        litdata_file=litdata.__file__, version=getattr(litdata, "__version__", "?"),
        dataset_file=getattr(sys.modules.get(dataset_cls.__module__), "__file__", "?"))

    t0 = time.perf_counter()
    ds = dataset_cls(dataset, shuffle=True)
    built = time.perf_counter()
    loader = loader_cls(ds, batch_size=batch_size, num_workers=workers)
    batches = iter(loader)
    batch = next(batches)
    first = time.perf_counter()
    rows = len(batch["index"]) if isinstance(batch, dict) else len(batch)
    say(event="first_batch", dataset_s=built - t0, first_batch_s=first - t0, rank_samples=len(ds),
        batch_rows=rows)
    del batches, loader  # shut the workers down before exiting


# ----------------------------------------------------------- memory sampling
def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return kids
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return kids


def process_tree(root: int) -> list[int]:
    """``root`` and every descendant (DataLoader workers, their helpers), from /proc."""
    seen, todo = [], [root]
    while todo:
        pid = todo.pop()
        seen.append(pid)
        todo.extend(_children(pid))
    return seen


def rss_pss_kb(pid: int) -> tuple[int, int] | None:
    """(RSS, PSS) of one process in kB from smaps_rollup; None once it has gone."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
                    break
    except (OSError, ValueError):
        return None
    return rss, pss


class TreeSampler(threading.Thread):
    """Samples the tree's summed RSS and PSS until stopped, keeping the peaks of each phase.

    Why a thread in the parent: the child must not measure itself (its workers would
    have to report, and the sampling would cost the run it measures beyond one core's
    share of smaps reads); and the watchdog must be able to kill a tree that is eating
    the machine, which only something outside the tree can do reliably.
    """

    def __init__(self, root: int, interval: float, limit_kb: int, on_limit: Any) -> None:
        super().__init__(daemon=True)
        self.root, self.interval, self.limit_kb, self.on_limit = root, interval, limit_kb, on_limit
        self.phase = "import"
        self.peaks: dict[str, dict[str, int]] = {}
        self.samples = 0
        self.max_procs = 0
        self.over_limit = False
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            rss = pss = procs = 0
            for pid in process_tree(self.root):
                got = rss_pss_kb(pid)
                if got is not None:
                    rss, pss, procs = rss + got[0], pss + got[1], procs + 1
            if procs:
                self.samples += 1
                self.max_procs = max(self.max_procs, procs)
                peak = self.peaks.setdefault(self.phase, {"rss_kb": 0, "pss_kb": 0, "procs_at_pss_peak": 0})
                peak["rss_kb"] = max(peak["rss_kb"], rss)
                if pss > peak["pss_kb"]:
                    peak["pss_kb"], peak["procs_at_pss_peak"] = pss, procs
                if pss > self.limit_kb and not self.over_limit:
                    self.over_limit = True
                    self.on_limit()
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def _kill_session(proc: subprocess.Popen) -> None:
    """SIGKILL the child's session: the child and its workers, started in a session of their own."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _dir_bytes(path: Path) -> int:
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


def measure(lib: str, dataset: Path, samples: int, world_size: int, rank: int, args: argparse.Namespace) -> dict[str, Any]:
    """Run one child under the sampler and the watchdog; return its figures or why it failed."""
    result: dict[str, Any] = {"lib": lib, "samples": samples, "world_size": world_size,
                              "rank": rank if world_size > 1 else 0, "status": "ok"}
    python = PYTHONS[lib]
    if not python.exists():
        result.update(status="not installed", error=f"{python} is missing: bash benchmarks/setup_venvs.sh {lib}")
        return result
    with tempfile.TemporaryDirectory(prefix=f"scale-{lib}-", dir=args.tmp) as tmp:
        env = {k: v for k, v in os.environ.items()
               if k not in ("WORLD_SIZE", "RANK", "GLOBAL_RANK", "LOCAL_RANK", "NNODES", "LOCAL_WORLD_SIZE")}
        env.update(LITDATA_CACHE_DIR=os.path.join(tmp, "cache"), TMPDIR=tmp, PYTHONUNBUFFERED="1")
        if lib == "ours" and args.ours_stream_src:
            env["PYTHONPATH"] = os.pathsep.join(p for p in (args.ours_stream_src, env.get("PYTHONPATH")) if p)
        if world_size > 1:
            env.update(WORLD_SIZE=str(world_size), RANK=str(rank), GLOBAL_RANK=str(rank))
        cmd = [str(python), str(Path(__file__).resolve()), "--child", str(dataset),
               "--batch-size", str(args.batch_size), "--workers", str(args.workers)]
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)
        events: dict[str, dict[str, Any]] = {}
        log: list[str] = []
        done = threading.Event()

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith(MARK):
                    event = json.loads(line[len(MARK):])
                    events[event["event"]] = event
                    if event["event"] == "imported":
                        sampler.phase = "dataset"
                    elif event["event"] == "first_batch":
                        done.set()
                else:
                    log.append(line.rstrip())
                    del log[:-40]
            done.set()

        sampler = TreeSampler(proc.pid, args.interval, int(args.mem_limit_gb * 1e6), lambda: _kill_session(proc))
        sampler.start()
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        timed_out = not done.wait(args.timeout)
        sampler.stop()  # the figures cover the run up to the first batch, not the teardown
        wall = time.perf_counter() - started
        if timed_out:
            _kill_session(proc)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            _kill_session(proc)
            proc.wait()
        _kill_session(proc)  # a worker left behind by a crash
        reader.join(timeout=10)
        result["cache_bytes"] = _dir_bytes(Path(tmp) / "cache")

    peaks = sampler.peaks
    overall = {key: max(p.get(key, 0) for p in peaks.values()) for key in ("rss_kb", "pss_kb")} if peaks else {}
    result.update(
        peak_pss_mb=overall.get("pss_kb", 0) * 1000 / MB,
        peak_rss_mb=overall.get("rss_kb", 0) * 1000 / MB,
        import_pss_mb=peaks.get("import", {}).get("pss_kb", 0) * 1000 / MB,
        procs_at_pss_peak=max((p["procs_at_pss_peak"] for p in peaks.values()), default=0),
        max_procs=sampler.max_procs,
        memory_samples=sampler.samples,
        wall_s=wall,
        returncode=proc.returncode,
    )
    for event in events.values():
        result.update({k: v for k, v in event.items() if k != "event"})
    if sampler.over_limit:
        result.update(status=f"> {args.mem_limit_gb:g} GB", error=f"killed: tree PSS passed {args.mem_limit_gb:g} GB")
    elif timed_out:
        result.update(status=f"timeout > {args.timeout:g} s", error="\n".join(log[-15:]))
    elif "first_batch" not in events:
        oom = proc.returncode == -signal.SIGKILL or any("MemoryError" in line or "Killed" in line for line in log)
        result.update(status="out of memory" if oom else f"failed (rc {proc.returncode})", error="\n".join(log[-15:]))
    return result


# ------------------------------------------------------------------ the data
def parse_count(text: str) -> int:
    """``10M``, ``1B``, ``1e9``, ``250k``, ``1000000`` -> a number of samples."""
    match = re.fullmatch(r"([0-9.e+]+)\s*([kKmMbBgG]?)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a sample count: {text!r}")
    factor = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "g": 10**9}[match.group(2).lower()]
    value = float(match.group(1)) * factor
    if value != int(value) or int(value) <= 0 or int(value) % CHUNK_ITEMS:
        raise argparse.ArgumentTypeError(f"{text}: the sample count must be a positive multiple of {CHUNK_ITEMS:,}")
    return int(value)


def human(n: int) -> str:
    for factor, unit in ((10**9, "B"), (10**6, "M"), (10**3, "k")):
        if n >= factor and n % factor == 0:
            return f"{n // factor}{unit}"
    return f"{n:,}"


def master_chunk() -> tuple[Path, Any]:
    """The one real chunk (10,000 items), written by our writer once; returns (file, index)."""
    from litdata_format import Index, write_dataset

    folder = WORK / "master"
    if not (folder / "index.json").exists():
        # {"index": int, "data": 16 bytes}: int and bytes leaves, a format LitData 0.2.76 reads.
        items = ({"index": i, "data": i.to_bytes(8, "little") * 2} for i in range(CHUNK_ITEMS))
        write_dataset(folder, items, chunk_size=CHUNK_ITEMS)
    index = Index.load(folder)
    assert len(index.chunks) == 1 and index.chunks[0].chunk_size == CHUNK_ITEMS, index.chunks
    return folder / index.chunks[0].filename, index


def linked_index(chunks: int, master_index: Any) -> Any:
    """An index listing ``chunk-0-0.bin`` .. ``chunk-0-{chunks-1}.bin``, every entry the master's."""
    from litdata_format import ChunkInfo, Index

    first = master_index.chunks[0]
    entries = [ChunkInfo(f"chunk-0-{i}.bin", first.chunk_size, first.chunk_bytes, first.dim, first.checksum)
               for i in range(chunks)]
    return Index(chunks=entries, config=master_index.config)


def build_dataset(samples: int) -> Path:
    """``.benchmarks/scale/n{samples}``: hard links to the master chunk, then index.json (last,
    so a folder with an index is complete; an interrupted build resumes where it stopped)."""
    folder = WORK / f"n{samples}"
    if (folder / "index.json").exists():
        return folder
    chunk, master_index = master_chunk()
    folder.mkdir(parents=True, exist_ok=True)
    chunks = samples // CHUNK_ITEMS
    began = time.perf_counter()
    source, copies = chunk, 0
    for i in range(chunks):
        link = folder / f"chunk-0-{i}.bin"
        if link.exists():
            continue
        try:
            os.link(source, link)
        except OSError as exc:
            if exc.errno != errno.EMLINK:
                raise
            # A file system caps the links to one file (ext4: 65,000): go on from a byte-identical
            # copy of the chunk, which then has the same size and checksum as the index says.
            copies += 1
            source = chunk.with_name(f"{chunk.stem}-copy-{copies}.bin")
            if not source.exists():
                shutil.copyfile(chunk, source)
            os.link(source, link)
    linked_index(chunks, master_index).dump(folder)
    print(f"built {folder} ({chunks:,} links) in {time.perf_counter() - began:.1f} s", file=sys.stderr)
    return folder


def stream_snapshot(rev: str) -> tuple[str, str]:
    """``packages/litdata-stream/src`` as of git revision ``rev``, extracted (read-only
    ``git archive``) under ``.benchmarks/scale/``; ours' children import litdata_stream
    from it. Why: to measure a committed loader while the working tree is mid-change."""
    sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--verify", f"{rev}^{{commit}}"],
                         check=True, capture_output=True, text=True).stdout.strip()
    folder = WORK / f"stream-{sha[:12]}"
    if not (folder / "packages" / "litdata-stream" / "src" / "litdata_stream" / "__init__.py").exists():
        folder.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", sha, "packages/litdata-stream/src"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return str(folder / "packages" / "litdata-stream" / "src"), sha


# ------------------------------------------------------------ index loading
def _statm_rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _private_dirty_kb() -> int:
    with open("/proc/self/smaps_rollup") as f:
        return sum(int(line.split()[1]) for line in f if line.startswith("Private_Dirty:"))


def _forked_private_growth(index: Any, touch: str) -> float:
    """MB of memory a forked child stops sharing with this process when it ``touch``es the index.

    "gc": a full collection, which writes the GC header of every tracked object (each
    ChunkInfo and its ``extra`` dict); "read": reading every entry's fields, which writes
    the reference counts. Either copies the pages those objects sit on (copy-on-write).
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: measure, report, leave without running any cleanup
        os.close(read_fd)
        before = _private_dirty_kb()
        if touch == "gc":
            gc.collect()
        else:
            total = 0
            for chunk in index.chunks:
                total += chunk.chunk_size + chunk.chunk_bytes + len(chunk.filename)
        os.write(write_fd, str(_private_dirty_kb() - before).encode())
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        grown_kb = int(f.read() or 0)
    os.waitpid(pid, 0)
    return grown_kb * 1000 / MB


def index_probe(path: str, repeat: int) -> None:
    """Load one index.json with ``Index.load`` in this (fresh) process and print its costs."""
    import tracemalloc

    import litdata_format
    from litdata_format import Index

    size = os.path.getsize(path)
    gc.collect()
    # A full collection in a forked child touches every tracked object of the process, the
    # interpreter's and the imported modules' too: measured before the index exists, it is
    # the part of the "gc" figures below that is not the index's.
    cow = {"gc_without_index_mb": _forked_private_growth(None, "gc")}
    rss0 = _statm_rss()
    began = time.perf_counter()
    index = Index.load(path)
    first_s = time.perf_counter() - began
    rss_growth = _statm_rss() - rss0  # what the process keeps (allocator arenas included)
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        Index.load(path)
        times.append(time.perf_counter() - began)
    with open(path, "rb") as f:
        text = f.read()
    began = time.perf_counter()
    json.loads(text)
    json_s = time.perf_counter() - began
    del text
    gc.collect()
    tracemalloc.start()
    kept = Index.load(path)
    retained, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del kept
    gc.collect()
    for frozen in (False, True):
        if frozen:
            gc.freeze()  # what a loader could do just before starting its workers
        for touch in ("gc", "read"):
            cow[f"{touch}{'_frozen' if frozen else ''}_mb"] = _forked_private_growth(index, touch)
        if frozen:
            gc.unfreeze()
    print(MARK + json.dumps({
        "path": path, "chunks": len(index.chunks), "json_bytes": size, "format_file": litdata_format.__file__,
        "first_load_s": first_s, "best_load_s": min(times), "json_loads_s": json_s,
        "rss_growth_mb": rss_growth / MB, "tracemalloc_retained_mb": retained / MB,
        "tracemalloc_peak_mb": peak / MB, "fork_private_growth": cow,
    }), flush=True)


def measure_index(chunks: int, repeat: int) -> dict[str, Any]:
    """Write a ``chunks``-entry index (same entries as the linked datasets) and probe it in a fresh process."""
    _, master_index = master_chunk()
    folder = WORK / f"index-{chunks}"
    if not (folder / "index.json").exists():
        folder.mkdir(parents=True, exist_ok=True)
        linked_index(chunks, master_index).dump(folder)
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--index-probe", str(folder / "index.json"),
                          "--repeat", str(repeat)], capture_output=True, text=True, timeout=600)
    for line in out.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    raise RuntimeError(f"the index probe failed:\n{out.stdout}\n{out.stderr}")


# ---------------------------------------------------------------- reporting
def machine() -> dict[str, Any]:
    model, cores = platform.processor() or "?", os.cpu_count()
    try:
        models = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")]
        model, cores = (models[0] if models else model), len(models) or cores
    except OSError:
        pass
    memory = "?"
    try:
        kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
        memory = f"{kb / 2**20:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    return {"cpu": model, "cores": cores, "memory": memory, "python": platform.python_version(),
            "kernel": platform.release()}


def _fmt_s(value: Any) -> str:
    return "–" if value is None else f"{value:.2f}"


def _fmt_mb(value: Any) -> str:
    if not value:
        return "–"
    return f"{value / 1000:.2f} GB" if value >= 1000 else f"{value:.0f} MB"


def _title(run: dict[str, Any]) -> str:
    source = run.get("ours_stream")
    title = TITLES.get(run["lib"], run["lib"])
    return f"{title} ({source})" if source and source != "working tree" else title


def table(runs: list[dict[str, Any]]) -> str:
    head = ("| library | samples | world size (rank) | import s | dataset s | construction → first batch s "
            "| peak PSS | peak RSS | PSS after import | procs | status |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    order = {"litdata": 0, "ours": 1}
    for r in sorted(runs, key=lambda r: (r["samples"], order.get(r["lib"], 9), r["world_size"])):
        ws = f"{r['world_size']:,}" + (f" (rank {r['rank']})" if r["world_size"] > 1 else "")
        dataset_s = r.get("dataset_s")
        lines.append(
            f"| {_title(r)} | {human(r['samples'])} | {ws} | {_fmt_s(r.get('import_s'))} "
            f"| {_fmt_s(dataset_s)} | {_fmt_s(r.get('first_batch_s'))} | {_fmt_mb(r.get('peak_pss_mb'))} "
            f"| {_fmt_mb(r.get('peak_rss_mb'))} | {_fmt_mb(r.get('import_pss_mb'))} | {r.get('max_procs', '–')} "
            f"| {r['status']} |"
        )
    return "\n".join(lines)


def index_section(probe: dict[str, Any] | None) -> str:
    if not probe:
        return "Not measured in these runs.\n"
    cow = probe["fork_private_growth"]
    return (
        f"`litdata_format.Index.load` of an index.json of {probe['chunks']:,} chunks "
        f"({probe['json_bytes'] / MB:.1f} MB of JSON), in a fresh process:\n\n"
        f"| first load | best later load (first index still alive: more for the GC to scan) | `json.loads` alone | RSS growth (kept) "
        f"| tracemalloc retained | tracemalloc peak |\n|---|---|---|---|---|---|\n"
        f"| {probe['first_load_s']:.3f} s | {probe['best_load_s']:.3f} s | {probe['json_loads_s']:.3f} s "
        f"| {probe['rss_growth_mb']:.1f} MB | {probe['tracemalloc_retained_mb']:.1f} MB "
        f"| {probe['tracemalloc_peak_mb']:.1f} MB |\n\n"
        "Copy-on-write in a forked worker: memory the child stops sharing (Private_Dirty growth) "
        "when it touches the parent's loaded index:\n\n"
        "| worker does | no freeze | `gc.freeze()` before fork |\n|---|---|---|\n"
        f"| a full `gc.collect()`, before the index is loaded | {cow['gc_without_index_mb']:.1f} MB | |\n"
        f"| a full `gc.collect()` | {cow['gc_mb']:.1f} MB | {cow['gc_frozen_mb']:.1f} MB |\n"
        f"| reads every entry (refcounts) | {cow['read_mb']:.1f} MB | {cow['read_frozen_mb']:.1f} MB |\n"
    )


def write_report(results: dict[str, Any], path: Path) -> None:
    m = results["machine"]
    commands = sorted({(r.get("date", "?"), r.get("command", "?")) for r in results["runs"]})
    text = f"""# Scale: a billion samples, peak memory and time to first batch

Written by `benchmarks/scale.py` (see benchmarks/README.md). Machine: {m['cpu']}, {m['cores']} cores,
{m['memory']} ({m.get('note', 'a VM shared with other work')}); Python {m['python']}, Linux {m['kernel']}.

Runs (date, command):

{chr(10).join(f"- {date}: `{command}`" for date, command in commands)}

The dataset: one real chunk of 10,000 items `{{"index": int, "data": 16 bytes}}` written by
our writer, hard-linked N / 10,000 times (`chunk-0-{{i}}.bin`), and an index.json listing every
link (100,000 entries at 1 B samples). Each row is one child process in the library's venv
(ours: this checkout; LitData 0.2.76: `.venvs/litdata-0.2.76`) that builds
`StreamingDataset(dir, shuffle=True)` and `StreamingDataLoader(ds, batch_size=64,
num_workers=2)` and takes the first batch; a fresh `LITDATA_CACHE_DIR` per run. A world size
above 1 is `WORLD_SIZE` and `RANK`/`GLOBAL_RANK` in the child's environment, no process group.

{table(results["runs"])}

- **import s**: `import litdata` and resolving `StreamingDataset` and `StreamingDataLoader`
  (ours imports its parts, torch included, on first use of a name; LitData on `import litdata`).
- **dataset s**: the `StreamingDataset(...)` constructor. **construction → first batch s**: from
  just before the constructor to the first batch in hand (loader workers started, their plan
  built, the first items read).
- **Memory**: every {results['interval_s'] * 1000:.0f} ms this script sums, over the child and
  all its descendants (found through `/proc/PID/task/*/children`), the `Pss` and the `Rss` of
  `/proc/PID/smaps_rollup`, from the child's start to its first batch; the columns are the
  peaks of those sums. PSS splits each shared page between the processes sharing it, so
  the forked workers' pages still shared with the main process are counted once: that is
  what the machine spends. RSS counts them in every process. "PSS after import" is the peak
  before the dataset is built (the interpreter, torch and the library). "procs": most
  processes in the tree at once. A tree whose PSS passes {results['mem_limit_gb']:g} GB is killed
  and reported as such; a run gets {results['timeout_s']:g} s.

## Loading a 100,000-chunk index

{index_section(results.get("index_load"))}
## Notes

- One run per row on a shared machine: the times move by up to 2x from one run to the next
  (other work on the same two cores); the memory figures by a few percent.
- Every link is the same file, in the page cache after the first run: the first batch reads
  no disk, so the times are the libraries' own work. `index` repeats from chunk to chunk.
- "ours (stream @ SHA)": ours with `litdata_stream` as of that commit (`--ours-stream-rev`),
  the rest of the packages from the working tree.

{results.get("notes", "")}
"""
    path.write_text(text)


def load_results(path: Path) -> dict[str, Any]:
    if path.exists():
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            pass
    return {"runs": []}


# ---------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--samples", default="1B", help="sample counts, comma-separated: 10M,1B (default 1B)")
    parser.add_argument("--libs", default="litdata,ours", help="litdata,ours (default both)")
    parser.add_argument("--world-sizes", default="1,1024", help="default 1,1024")
    parser.add_argument("--rank", type=int, default=517, help="the rank a world size > 1 runs as (default 517)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per run (default 300)")
    parser.add_argument("--mem-limit-gb", type=float, default=12.0, help="kill a tree past this PSS (default 12)")
    parser.add_argument("--interval", type=float, default=0.02, help="memory sampling period, s (default 0.02)")
    parser.add_argument("--index-chunks", type=int, default=100_000, help="index size to probe; 0 skips it")
    parser.add_argument("--repeat", type=int, default=3, help="index loads timed after the first (default 3)")
    parser.add_argument("--tmp", default=None, help="where the runs' temporary cache folders go")
    parser.add_argument("--report", type=Path, default=HERE / "SCALE.md")
    parser.add_argument("--results", type=Path, default=WORK / "results.json")
    parser.add_argument("--machine-note", default="a VM shared with other work", help="said of the machine in SCALE.md")
    parser.add_argument("--ours-stream-rev", default=None, metavar="REV",
                        help="run ours with litdata_stream as of this git revision (e.g. HEAD), not the working tree")
    parser.add_argument("--note", default=None, help="a paragraph for SCALE.md's notes (kept in results.json)")
    parser.add_argument("--report-only", action="store_true", help="rewrite SCALE.md from results.json, run nothing")
    parser.add_argument("--child", metavar="DATASET", help=argparse.SUPPRESS)
    parser.add_argument("--index-probe", metavar="INDEX_JSON", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        child_main(args.child, args.batch_size, args.workers)
        return
    if args.index_probe:
        index_probe(args.index_probe, args.repeat)
        return

    counts = [parse_count(s) for s in args.samples.split(",")]
    libs = [lib.strip() for lib in args.libs.split(",")]
    for lib in libs:
        if lib not in PYTHONS:
            parser.error(f"unknown library {lib!r}: use {', '.join(PYTHONS)}")
    world_sizes = [int(w) for w in args.world_sizes.split(",")]
    if any(not 0 <= args.rank < w for w in world_sizes if w > 1):
        parser.error(f"--rank {args.rank} must be below every world size above 1")
    WORK.mkdir(parents=True, exist_ok=True)
    args.ours_stream_src, stream_sha = stream_snapshot(args.ours_stream_rev) if args.ours_stream_rev else (None, "")
    command = "$PY benchmarks/scale.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    date = dt.date.today().isoformat()

    results = load_results(args.results)
    if args.note is not None:
        results["notes"] = args.note

    def save() -> None:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(results, indent=1))
        write_report(results, args.report)

    if args.report_only:
        if not results.get("runs") or "machine" not in results:
            parser.error(f"no runs in {args.results}")
        save()
        print(table(results["runs"]))
        return
    results.update(machine={**machine(), "note": args.machine_note}, interval_s=args.interval,
                   mem_limit_gb=args.mem_limit_gb, timeout_s=args.timeout)
    runs = results.setdefault("runs", [])

    if args.index_chunks:
        probe = measure_index(args.index_chunks, args.repeat)
        results["index_load"] = {**probe, "date": date, "command": command}
        print(f"index load, {probe['chunks']:,} chunks: first {probe['first_load_s']:.3f} s, best "
              f"{probe['best_load_s']:.3f} s, RSS +{probe['rss_growth_mb']:.1f} MB, tracemalloc retained "
              f"{probe['tracemalloc_retained_mb']:.1f} MB, peak {probe['tracemalloc_peak_mb']:.1f} MB; forked "
              f"private growth {probe['fork_private_growth']}", file=sys.stderr)
        save()

    for samples in counts:
        dataset = build_dataset(samples)
        for lib in libs:
            for world_size in world_sizes:
                rank = args.rank if world_size > 1 else 0
                print(f"{lib} {human(samples)} world {world_size} rank {rank} ...", file=sys.stderr, flush=True)
                result = measure(lib, dataset, samples, world_size, rank, args)
                result.update(date=date, command=command)
                if lib == "ours":
                    result["ours_stream"] = f"stream @ {stream_sha[:7]}" if stream_sha else "working tree"
                runs[:] = [r for r in runs if (r["lib"], r["samples"], r["world_size"]) !=
                           (lib, samples, world_size)] + [result]
                print(f"  {result['status']}: first batch {_fmt_s(result.get('first_batch_s'))} s, peak PSS "
                      f"{_fmt_mb(result.get('peak_pss_mb'))}, peak RSS {_fmt_mb(result.get('peak_rss_mb'))}"
                      + (f"\n  {result['error']}" if result.get("error") else ""), file=sys.stderr, flush=True)
                save()
    print(table(runs))


if __name__ == "__main__":
    main()
