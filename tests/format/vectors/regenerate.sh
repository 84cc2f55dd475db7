#!/usr/bin/env bash
# Regenerate the LitData 0.2.76 test vectors under tests/format/vectors/data/,
# or (with --check-ours) check that LitData reads what our encoder writes.
#
#   tests/format/vectors/regenerate.sh              # (re)write data/ with LitData 0.2.76
#   tests/format/vectors/regenerate.sh --check-ours # our writer -> LitData reader
#
# The LitData venv lives at .venvs/litdata-0.2.76 (git-ignored; override with
# $LITDATA_VENV) and is created on first use. --check-ours writes with $PYTHON
# (default: python3), which must have litdata_format installed
# (pip install -e packages/litdata-format).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
VENV="${LITDATA_VENV:-$ROOT/.venvs/litdata-0.2.76}"
PYTHON="${PYTHON:-python3}"

ensure_venv() {
    if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import litdata, zstd, PIL, torch, polars" 2>/dev/null; then
        return
    fi
    echo "creating $VENV" >&2
    "$PYTHON" -m venv "$VENV"
    # Our constraints replace the machine-wide constraint file (/etc/xdg/pip/pip.conf).
    export PIP_CONSTRAINT="$HERE/constraints.txt"
    "$VENV/bin/python" -m pip install --quiet "torch==2.13.0" "litdata==0.2.76" zstd Pillow numpy "polars==2.1.0"
    # torchvision: a CUDA build that fails beside CPU torch; obstore: refuses http endpoints.
    "$VENV/bin/python" -m pip uninstall --quiet -y torchvision obstore || true
}

# Pickled sets of strings depend on str hashing: fix the seed so chunks are reproducible.
export PYTHONHASHSEED=0

mode="${1:-}"
ensure_venv
case "$mode" in
    "")
        "$VENV/bin/python" "$HERE/write_vectors.py" "$HERE/data"
        ;;
    --check-ours)
        tmp="$(mktemp -d)"
        trap 'rm -rf "$tmp"' EXIT
        "$PYTHON" "$HERE/check_litdata_reads_ours.py" write "$HERE/data" "$tmp"
        "$VENV/bin/python" "$HERE/check_litdata_reads_ours.py" read "$HERE/data" "$tmp"
        ;;
    *)
        echo "usage: $0 [--check-ours]" >&2
        exit 2
        ;;
esac
