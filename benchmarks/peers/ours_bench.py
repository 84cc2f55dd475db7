"""Benchmark adapter for this checkout (run in .venvs/bench-ours, where ``litdata`` is ours).

    python benchmarks/peers/ours_bench.py WORKLOAD '{json args}'   (see compare.py)
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
from litdata_api import make_handlers  # noqa: E402

import litdata  # noqa: E402

if __name__ == "__main__":
    assert litdata.__file__.startswith(os.path.join(os.path.dirname(__file__), "..", "..")) or "packages" in litdata.__file__, litdata.__file__
    common.main(make_handlers(litdata))
