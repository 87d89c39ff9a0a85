#!/usr/bin/env bash
# CPU per request of each of the daemon's threads (from /proc/PID/task/*/stat) under the
# load of bench/cpu.sh, for builds alternating: the commit thread (`tw-commit`), the event
# loops (NIO-SGLTN-*), and the whole daemon, counted during the load only (cpu.sh also
# counts what the dispatchers finish after it). Finer than cpu.sh when a change moves work
# between threads; TOP=1 also prints every thread of each run.
#
#   bench/threads.sh BIN [BIN ...]    # RUNS=3 CONNS=32 DURATION=8
set -euo pipefail
cd "$(dirname "$0")"
[ $# -gt 0 ] || { sed -n '2,8p' "${0##*/}" | sed 's/^# \{0,1\}//'; exit 2; }
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
export HMAC_SECRET=${HMAC_SECRET:-bench-app-secret} BODIES=both VARY=1
export META_PATH=/v1/webhooks/bench/meta GUPSHUP_PATH="/v1/webhooks/bench/gupshup?token=bench-token-0123456789"
duration=${DURATION:-8}

# One line per thread: id, name, CPU ticks (user + system); sorted by id for join.
snapshot() { for task in /proc/$1/task/*; do echo "${task##*/} $(tr ' ' _ <"$task/comm") $(awk '{print $14 + $15}' "$task/stat")"; done | sort; }

measure() {
  local bin=$1 work pid requests
  work=$(mktemp -d)
  PORT=18098 SRV_DIR=$work DURABILITY=${DURABILITY:-full} "$bin" serve --config "$PWD/tickwire.yaml" >"$work/log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:18098/healthz && break; sleep 0.1; done
  wrk -t1 -c"${CONNS:-32}" -d3s -s webhook.lua http://127.0.0.1:18098 >/dev/null 2>&1  # warm-up
  snapshot $pid >"$work/before"
  wrk -t1 -c"${CONNS:-32}" -d"${duration}s" -s webhook.lua http://127.0.0.1:18098 >"$work/wrk" 2>&1
  snapshot $pid >"$work/after"
  kill $pid; wait $pid 2>/dev/null || true
  requests=$(awk '/requests in/ {print $1}' "$work/wrk")
  # Threads started during the load count from 0.
  join -a 2 -e 0 -o 1.3,2.2,2.3 "$work/before" "$work/after" | awk -v n="$requests" -v hz="$(getconf CLK_TCK)" \
    -v name="$(basename "$bin")" -v top="${TOP:-0}" -v secs="$duration" '
    NF == 3 { us = ($3 - $1) / hz * 1e6 / n; all += us; if ($2 ~ /^NIO-SGLTN/) loops += us; if ($2 == "tw-commit") commit += us
              if (top && us >= 0.5) printf "    %-20s %6.1f µs/request\n", $2, us }
    END { printf "%-24s req/s %6.0f  commit %5.1f  loops %5.1f  all %6.1f µs/request\n", name, n / secs, commit, loops, all }'
  rm -rf "$work"
}

for _ in $(seq "${RUNS:-3}"); do
  for bin in "$@"; do measure "$bin"; done
done
