#!/usr/bin/env bash
# The whole side-by-side benchmark in one command (see benchmarks/README.md):
#
#   bash benchmarks/run.sh            # full size, about 15 minutes on 2 cores
#   bash benchmarks/run.sh --small    # tiny sizes, a smoke test of every adapter
#
# Builds the venvs (.venvs/, once), prepares the data (.benchmarks/compare/, once), runs
# every workload for every library, writes benchmarks/RESULTS.md, results.json and
# results.png. Extra flags go to benchmarks/compare.py (--help lists them).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
# A library whose venv does not build is skipped (and noted in RESULTS.md); ours must build.
bash "$HERE/setup_venvs.sh" || echo "some venvs did not build: continuing without them" >&2
[ -x "$ROOT/.venvs/bench-ours/bin/python" ] || { echo "the venv of ours did not build" >&2; exit 1; }
exec "$ROOT/.venvs/bench-ours/bin/python" "$HERE/compare.py" "$@"
