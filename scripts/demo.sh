#!/usr/bin/env bash
# Runs the demo on a fresh machine (Python 3.10+ with venv; no Node.js): optimizes a small
# dataset into a local S3 server and streams it back, printing throughput. Installs hatch
# into .venv-tools/ and lets it build the development environment, both once. Extra
# arguments go to examples/demo.py.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools-env.sh
tools_hatch run demo "$@"
