#!/usr/bin/env bash
# Tickwire's benchmark: in ONE run, nginx (the HTTP ceiling), the FastAPI + SQLite peer and
# Tickwire with durability full and normal, at 32 and then 128 connections, with wrk posting
# signed Meta status bodies and Gupshup message-events. Prints the figures and the ratios.
#
#   bench/bench.sh                 # REPEATS=3 DURATION=10s by default; see bench/run.sh for knobs
#   REPEATS=1 DURATION=5s bench/bench.sh
set -euo pipefail
cd "$(dirname "$0")"
root="$(cd .. && pwd)"

# Load generator and peers: Debian's wrk and nginx, the FastAPI peer from PyPI (pinned).
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
if [ ${#need[@]} -gt 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; fi
venv="$root/.build/bench-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
cmp -s requirements.txt "$venv/.requirements" 2>/dev/null || { "$venv/bin/pip" install -q -r requirements.txt && cp requirements.txt "$venv/.requirements"; }

(cd "$root" && swift build -c release --product tickwire --scratch-path .build-release >&2)
bin="$root/.build-release/release/tickwire"

export HMAC_SECRET=${HMAC_SECRET:-bench-app-secret}
export META_PATH=/v1/webhooks/bench/meta
export GUPSHUP_PATH="/v1/webhooks/bench/gupshup?token=bench-token-0123456789"
# The journal is the store the harness counts rows in (acknowledged vs stored).
export ROWS_SQL="select count(*) from journal"
serve="ln -sf data/journal.sqlite \$SRV_DIR/events.db; exec $bin serve --config $PWD/tickwire.yaml"
stamp=$(date +%Y%m%d-%H%M%S)
for conns in 32 128; do
  OUT="results/$stamp-c$conns" CONNS=$conns PYTHON="$venv/bin/python" ./run.sh \
    -s "tickwire-full=export DURABILITY=full; $serve" -s "tickwire-normal=export DURABILITY=normal; $serve" nginx fastapi
  "$venv/bin/python" ratios.py "results/$stamp-c$conns/runs.tsv" "$conns"
done
