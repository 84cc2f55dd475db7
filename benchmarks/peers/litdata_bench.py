"""Benchmark adapter for LitData 0.2.76 (run in .venvs/litdata-0.2.76).

    python benchmarks/peers/litdata_bench.py WORKLOAD '{json args}'   (see compare.py)
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
from litdata_api import make_handlers  # noqa: E402

import litdata  # noqa: E402

if __name__ == "__main__":
    assert litdata.__version__ == "0.2.76", litdata.__version__
    common.main(make_handlers(litdata))
