#!/usr/bin/env bash
# Runs the demo on a fresh machine: optimizes a small dataset and streams it back,
# printing throughput. Extra arguments go to examples/demo.py.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check 'hatch>=1.16,<2'
exec python3 -m hatch run demo "$@"
