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

# TICKWIRE_BIN=path measures another build (an older commit, for a before/after figure).
if [ -z "${TICKWIRE_BIN:-}" ]; then
  (cd "$root" && swift build -c release --product tickwire --scratch-path .build-release >&2)
fi
bin="${TICKWIRE_BIN:-$root/.build-release/release/tickwire}"

export HMAC_SECRET=${HMAC_SECRET:-bench-app-secret}
export META_PATH=/v1/webhooks/bench/meta
export GUPSHUP_PATH="/v1/webhooks/bench/gupshup?token=bench-token-0123456789"
# The journal is the store the harness counts rows in (acknowledged vs stored).
export ROWS_SQL="select count(*) from journal"
serve="ln -sf data/journal.sqlite \$SRV_DIR/events.db; exec $bin serve --config $PWD/tickwire.yaml"
stamp=$(date +%Y%m%d-%H%M%S)
# Peers and Tickwire in separate harness calls of the same run: the peers serve the
# harness's default paths, Tickwire its own URLs.
for conns in 32 128; do
  (unset META_PATH GUPSHUP_PATH ROWS_SQL
   OUT="results/$stamp-c$conns-peers" CONNS=$conns PYTHON="$venv/bin/python" ./run.sh nginx fastapi)
  OUT="results/$stamp-c$conns-tickwire" CONNS=$conns PYTHON="$venv/bin/python" ./run.sh \
    -s "tickwire-full=export DURABILITY=full; $serve" -s "tickwire-normal=export DURABILITY=normal; $serve" none
  "$venv/bin/python" ratios.py "$conns" "results/$stamp-c$conns-peers/runs.tsv" "results/$stamp-c$conns-tickwire/runs.tsv"
done

# Memory: resident set of an idle daemon, and after a short load with the sinks caught up.
work=$(mktemp -d)
export PORT=18099 SRV_DIR=$work DURABILITY=full
"$bin" serve --config "$PWD/tickwire.yaml" >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.1; done
idle=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
wrk -t1 -c32 -d5s -s webhook.lua "http://127.0.0.1:$PORT" >/dev/null 2>&1
sleep 2
loaded=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
backlog=$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^tickwire_subscription_backlog_events/ {sum += $2} END {print sum + 0}')
kill $pid; wait $pid 2>/dev/null || true
rm -rf "$work"
echo
echo "tickwire RSS: idle $((idle / 1024)) MiB, after 5 s of load $((loaded / 1024)) MiB; backlog of the 3 subscriptions 2 s after the load: $backlog events"
