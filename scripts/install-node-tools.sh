#!/usr/bin/env bash
# Installs the Node.js tools the tests use (Azurite, the Azure Blob emulator) under .tools/.
# Azurite 3.35 is the newest release that runs on Node.js 20. Only the tests need it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x .tools/node_modules/.bin/azurite-blob ]]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "error: the tests need Node.js 20+ and npm for Azurite (the Azure emulator)." >&2
    echo "On Debian/Ubuntu: sudo apt-get install nodejs npm   (or see https://nodejs.org)" >&2
    exit 1
  fi
  echo "first run: installing Azurite into .tools/ with npm (once)..." >&2
  npm install --prefix .tools --no-audit --no-fund --loglevel=error azurite@3.35 >/dev/null
fi
