#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine (Python 3.10+ with venv, Node.js 20+ with
# npm): installs hatch into .venv-tools/ and the npm package of the Azure emulator into
# .tools/, then runs pytest inside hatch's development environment (the five packages
# installed editable plus the test tools), all made once and reused. Extra arguments go
# to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools-env.sh
tools_install hatch "$HATCH_REQUIREMENT"
bash scripts/install-node-tools.sh
tools_hatch run test "$@"
