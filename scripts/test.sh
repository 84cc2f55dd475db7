#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine (Python 3.10+, pip, Node.js): installs
# hatch, the npm package of the Azure emulator, then pytest inside hatch's environment
# (which installs the five packages editable plus the test tools). Extra arguments go
# to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check 'hatch>=1.16,<2'
bash scripts/install-node-tools.sh
exec python3 -m hatch run test "$@"
