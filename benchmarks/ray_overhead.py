"""Benchmark: what executor="ray" costs over local worker processes, on one machine.

    python benchmarks/ray_overhead.py [--images 3000] [--repeats 3]
    python benchmarks/ray_overhead.py --set writer --images 8000   # the writer benchmark's JPEGs

Converts synthetic JPEGs (``synthetic_photo``; ``--set small``: 160x120, generated once into
``.benchmarks/ray_overhead/images``; ``--set writer``: the 560x420 set of
``benchmarks/writer_jpeg.py``, about 60 KB each) with ``optimize()`` twice: ``num_workers=2`` local
processes, and ``executor="ray"`` on a ``ray.cluster_utils.Cluster`` of two 1-CPU worker
nodes (``num_nodes=2, num_workers=1``), i.e. the same two writer ranks on the same two
cores. ``fn`` returns ``Image.open(path)`` (stored as the file's bytes), so the run is
dominated by the writer itself and any fixed cost of Ray shows. Prints seconds per run
(best of ``--repeats``, cluster start excluded) and the ratio ray / local.
Not collected by pytest.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image
from synthetic_photo import make_photo  # benchmarks/, the folder of this script

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".benchmarks" / "ray_overhead" / "images"


def load(path: str) -> Image.Image:
    return Image.open(path)


def images(count: int) -> list[str]:
    CACHE.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = CACHE / f"{i:06d}.jpg"
        if not path.exists():
            make_photo(i, str(path), 160, 120, noise=7)
        paths.append(str(path))
    return paths


def timed(run: object, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        out = tempfile.mkdtemp(prefix="ray-overhead-")
        start = time.perf_counter()
        run(out)  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
        shutil.rmtree(out)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--set", choices=("small", "writer"), default="small", help="which JPEGs (default small)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray
    from ray.cluster_utils import Cluster

    from litdata_writer import optimize

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    if args.set == "writer":
        from writer_jpeg import ensure_images

        paths = ensure_images(args.images)
    else:
        paths = images(args.images)
    size = sum(os.path.getsize(p) for p in paths) / len(paths)
    print(f"{len(paths)} JPEGs, {size / 1024:.1f} KB each on average")
    common = {"chunk_bytes": "16MB", "verbose": False, "reorder_files": False}

    local = timed(lambda out: optimize(load, paths, out, num_workers=2, **common), args.repeats)
    print(f"local, num_workers=2:           {local:.2f} s ({len(paths) / local:.0f} images/s)")

    start = time.perf_counter()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    try:
        for _ in range(2):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        print(f"(cluster start: {time.perf_counter() - start:.1f} s, not counted)")
        on_ray = timed(
            lambda out: optimize(load, paths, out, num_nodes=2, num_workers=1, executor="ray", **common),
            args.repeats,
        )
    finally:
        ray.shutdown()
        cluster.shutdown()
    print(f"ray, 2 nodes x 1 worker:        {on_ray:.2f} s ({len(paths) / on_ray:.0f} images/s)")
    print(f"ratio ray / local:              {on_ray / local:.2f}")


if __name__ == "__main__":
    main()
