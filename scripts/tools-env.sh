# Sourced by the scripts of this folder: a virtual environment of the repository's own,
# .venv-tools/, for the tools that run the project (hatch; rclone for local-s3.sh).
#
# Why a virtual environment: a stock Debian or Ubuntu python3 refuses `pip install` into
# itself (PEP 668, "externally-managed-environment") and often has no pip at all, and a
# pip set to PIP_REQUIRE_VIRTUALENV=1 refuses it everywhere. `python3 -m venv` works on
# those, on pyenv and on conda alike, and brings its own pip. The environment is made
# once and reused; hatch then keeps the development environment in its own data folder
# (~/.local/share/hatch), also made once.
#
# Set PYTHON to build it from another interpreter (Python 3.10 or newer).

TOOLS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_VENV="$TOOLS_ROOT/.venv-tools"
TOOLS_PY="$TOOLS_VENV/bin/python"

_tools_fail() {
  echo "$*" >&2
  exit 1
}

# Creates .venv-tools/ unless a working one is there (a half-made one is made again).
tools_venv() {
  if [[ -x "$TOOLS_PY" ]] && "$TOOLS_PY" -c 'import pip' 2>/dev/null; then
    return 0
  fi
  local base="${PYTHON:-python3}"
  command -v "$base" >/dev/null 2>&1 || _tools_fail "error: $base not found: install Python 3.10 or newer (Debian/Ubuntu: sudo apt-get install python3 python3-venv)"
  "$base" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
    _tools_fail "error: $base is Python $("$base" -c 'import platform; print(platform.python_version())'); this project needs 3.10 or newer (set PYTHON=/path/to/python3.X)"
  if ! "$base" -c 'import venv, ensurepip' 2>/dev/null; then
    _tools_fail "error: $base cannot create virtual environments (its venv/ensurepip modules are missing).
On Debian/Ubuntu: sudo apt-get install python3-venv   (or python3.X-venv for the python3.X you use)"
  fi
  rm -rf "$TOOLS_VENV"
  if ! "$base" -m venv "$TOOLS_VENV" >&2; then
    rm -rf "$TOOLS_VENV"
    _tools_fail "error: '$base -m venv' failed (see above). On Debian/Ubuntu: sudo apt-get install python3-venv"
  fi
}

# tools_install NAME REQUIREMENT: pip-installs REQUIREMENT into .venv-tools/ unless it is
# there already (a marker per NAME records what was installed, so an interrupted install
# is done again and a changed REQUIREMENT is installed anew).
tools_install() {
  local name="$1" requirement="$2" marker="$TOOLS_VENV/.installed-$1"
  if [[ -f "$marker" && "$(cat "$marker")" == "$requirement" ]] && "$TOOLS_PY" -c '' 2>/dev/null; then
    return 0
  fi
  echo "first run: installing $name into .venv-tools/ (once; about a minute)..." >&2
  tools_venv
  rm -f "$marker"
  "$TOOLS_PY" -m pip install --quiet --disable-pip-version-check "$requirement" >&2 ||
    _tools_fail "error: could not install $requirement into $TOOLS_VENV (see above)"
  echo "$requirement" >"$marker"
}

HATCH_REQUIREMENT='hatch>=1.16,<2'

# Runs `hatch ARGS...` from .venv-tools/, saying so before hatch builds the development
# environment for the first time (torch and the test tools: a minute or more, silent).
tools_hatch() {
  tools_install hatch "$HATCH_REQUIREMENT"
  local hatch="$TOOLS_VENV/bin/hatch" env_dir
  env_dir="$(cd "$TOOLS_ROOT" && "$hatch" env find default 2>/dev/null || true)"
  if [[ -z "$env_dir" || ! -d "$env_dir" ]]; then
    echo "first run: hatch is building the development environment (the five packages, torch, the test tools; a few minutes, once)..." >&2
  fi
  cd "$TOOLS_ROOT" && exec "$hatch" "$@"
}
