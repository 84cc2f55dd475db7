#!/usr/bin/env bash
# Installs the Node.js tools the tests use (Azurite, the Azure Blob emulator) under .tools/.
# Azurite 3.35 is the newest release that runs on Node.js 20.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x .tools/node_modules/.bin/azurite-blob ]]; then
  npm install --prefix .tools --no-audit --no-fund --loglevel=error azurite@3.35 >/dev/null
fi
