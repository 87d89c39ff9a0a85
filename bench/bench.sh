#!/usr/bin/env bash
# Tickwire's benchmark: in ONE run, nginx (the HTTP ceiling), the FastAPI + SQLite peer and
# Tickwire with durability full and normal (and, for reference, full with no subscriptions:
# ingest alone), at 32 and then 128 connections, with wrk posting signed Meta status bodies
# and Gupshup message-events. Prints the figures and the ratios.
#
#   bench/bench.sh                 # REPEATS=3 DURATION=10s by default; see bench/run.sh for knobs
#   REPEATS=1 DURATION=5s bench/bench.sh
set -euo pipefail
cd "$(dirname "$0")"
root="$(cd .. && pwd)"

# Load generator and peers: Debian's wrk and nginx, the FastAPI peer from PyPI (pinned).
command -v wrk >/dev/null && command -v nginx >/dev/null || "$root/scripts/bootstrap" wrk nginx-light
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
serve="ln -sf data/journal.sqlite \$SRV_DIR/events.db; exec $bin serve --config"
stamp=$(date +%Y%m%d-%H%M%S)
# Peers and Tickwire in separate harness calls of the same run: the peers serve the
# harness's default paths, Tickwire its own URLs.
for conns in 32 128; do
  (unset META_PATH GUPSHUP_PATH ROWS_SQL
   OUT="results/$stamp-c$conns-peers" CONNS=$conns PYTHON="$venv/bin/python" ./run.sh nginx fastapi)
  OUT="results/$stamp-c$conns-tickwire" CONNS=$conns PYTHON="$venv/bin/python" ./run.sh \
    -s "tickwire-full=export DURABILITY=full; $serve $PWD/tickwire.yaml" \
    -s "tickwire-normal=export DURABILITY=normal; $serve $PWD/tickwire.yaml" \
    -s "tickwire-ingest=export DURABILITY=full; $serve $PWD/tickwire-ingest.yaml" none
  "$venv/bin/python" ratios.py "$conns" "results/$stamp-c$conns-peers/runs.tsv" "results/$stamp-c$conns-tickwire/runs.tsv"
done

# Memory, and the dispatchers under the same load: resident set of an idle daemon; then 10 s
# of load at 32 connections, the events each subscription delivered during it (events/s),
# its backlog when the load stops and 2 s later (it must drain, not grow).
work=$(mktemp -d)
export PORT=18099 SRV_DIR=$work DURABILITY=full
"$bin" serve --config "$PWD/tickwire.yaml" >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.1; done
idle=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
metric() { curl -s "http://127.0.0.1:$PORT/metrics" | awk -v name="$1" '$1 ~ "^"name"[{]" {split($1, a, "subscription=\""); split(a[2], b, "\""); print b[1], $2}' | sort; }
wrk -t1 -c32 -d10s -s webhook.lua "http://127.0.0.1:$PORT" >"$work/wrk" 2>&1
delivered=$(metric tickwire_subscription_delivered_events_total)
backlog_end=$(metric tickwire_subscription_backlog_events)
loaded=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
sleep 2
backlog_later=$(metric tickwire_subscription_backlog_events)
kill $pid; wait $pid 2>/dev/null || true
echo
echo "tickwire RSS: idle $((idle / 1024)) MiB, after 10 s of load $((loaded / 1024)) MiB"
echo "ingest during that load: $(awk '/Requests\/sec/ {print $2}' "$work/wrk") req/s"
echo "subscription        delivered/s  backlog at stop  2 s later"
join <(echo "$delivered") <(echo "$backlog_end") | join - <(echo "$backlog_later") |
  awk '{printf "%-18s %12.0f %16d %10d\n", $1, $2 / 10, $3, $4}'
rm -rf "$work"
