#!/usr/bin/env bash
# Server CPU per request: the daemon's user + system time over a fixed load, divided by the
# requests answered, with the three subscriptions of bench/tickwire.yaml drained before the
# second reading. Throughput on a shared 2-core machine varies by 25 % between runs; CPU per
# request varies far less, so this is the figure to compare two builds with. It is also split
# by thread: the commit thread (`tw-commit`) and the event loops (NIO-SGLTN-*), finer when a
# change moves work between threads; TOP=1 prints every thread of each run.
#
#   bench/cpu.sh BIN [BIN ...]        # each build RUNS times (3), alternating; CONNS=8 DURATION=8s
#   CONFIG=path bench/cpu.sh BIN      # another configuration (e.g. without subscriptions)
set -euo pipefail
cd "$(dirname "$0")"
[ $# -gt 0 ] || { sed -n '2,10p' "${0##*/}" | sed 's/^# \{0,1\}//'; exit 2; }
command -v wrk >/dev/null || ../scripts/bootstrap wrk
export HMAC_SECRET=${HMAC_SECRET:-bench-app-secret} BODIES=both VARY=1
export META_PATH=/v1/webhooks/bench/meta GUPSHUP_PATH="/v1/webhooks/bench/gupshup?token=bench-token-0123456789"
config=${CONFIG:-$PWD/tickwire.yaml}
hz=$(getconf CLK_TCK)

# One line per thread: id, name, CPU ticks (user + system); sorted by id for join.
threads() { for task in /proc/$1/task/*; do echo "${task##*/} $(tr ' ' _ <"$task/comm") $(awk '{print $14 + $15}' "$task/stat")"; done | sort; }

# Prints "all commit loops req/s" for one run of BIN (CPU in µs per request).
measure() {
  local bin=$1 work pid before after requests rate
  work=$(mktemp -d)
  PORT=18097 SRV_DIR=$work DURABILITY=${DURABILITY:-full} "$bin" serve --config "$config" >"$work/log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:18097/healthz && break; sleep 0.1; done
  wrk -t1 -c"${CONNS:-8}" -d3s -s webhook.lua http://127.0.0.1:18097 >/dev/null 2>&1  # warm-up
  sleep 1
  before=$(awk '{print $14 + $15}' /proc/$pid/stat)
  threads $pid >"$work/before"
  wrk -t1 -c"${CONNS:-8}" -d"${DURATION:-8s}" -s webhook.lua http://127.0.0.1:18097 >"$work/wrk" 2>&1
  sleep 2  # the dispatchers finish what the load left
  after=$(awk '{print $14 + $15}' /proc/$pid/stat)
  threads $pid >"$work/after"
  kill $pid; wait $pid 2>/dev/null || true
  requests=$(awk '/requests in/ {print $1}' "$work/wrk")
  rate=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$work/wrk")
  # Threads started during the load count from 0.
  join -a 2 -e 0 -o 1.3,2.2,2.3 "$work/before" "$work/after" | awk -v n="$requests" -v hz="$hz" -v top="${TOP:-0}" \
    -v all="$(( (after - before) * 1000000 / hz / requests ))" -v rate="$rate" '
    NF == 3 { us = ($3 - $1) / hz * 1e6 / n; if ($2 ~ /^NIO-SGLTN/) loops += us; if ($2 == "tw-commit") commit += us
              if (top && us >= 0.5) printf "    %-20s %6.1f µs/request\n", $2, us > "/dev/stderr" }
    END { printf "%d %.1f %.1f %s\n", all, commit, loops, rate }'
  rm -rf "$work"
}

declare -A results
for _ in $(seq "${RUNS:-3}"); do
  for bin in "$@"; do results[$bin]+="$(measure "$bin");"; done
done
echo "CPU µs/request at ${CONNS:-8} connections, each run (sorted): the daemon, its commit thread, its event loops; req/s"
column() { tr ';' '\n' <<<"${results[$1]}" | awk -v c="$2" 'NF {print $c}' | sort -n | paste -sd' '; }
for bin in "$@"; do
  printf '%-32s all %s | commit %s | loops %s | req/s %s\n' "$bin" "$(column "$bin" 1)" "$(column "$bin" 2)" \
    "$(column "$bin" 3)" "$(column "$bin" 4)"
done
