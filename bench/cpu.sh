#!/usr/bin/env bash
# Server CPU per request: the daemon's user + system time over a fixed load, divided by the
# requests answered, with the three subscriptions of bench/tickwire.yaml drained before the
# second reading. Throughput on a shared 2-core machine varies by 25 % between runs; CPU per
# request varies far less, so this is the figure to compare two builds with.
#
#   bench/cpu.sh BIN [BIN ...]        # each build RUNS times (3), alternating; CONNS=8 DURATION=8s
#   CONFIG=path bench/cpu.sh BIN      # another configuration (e.g. without subscriptions)
set -euo pipefail
cd "$(dirname "$0")"
[ $# -gt 0 ] || { sed -n '2,9p' "${0##*/}" | sed 's/^# \{0,1\}//'; exit 2; }
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
export HMAC_SECRET=${HMAC_SECRET:-bench-app-secret} BODIES=both VARY=1
export META_PATH=/v1/webhooks/bench/meta GUPSHUP_PATH="/v1/webhooks/bench/gupshup?token=bench-token-0123456789"
config=${CONFIG:-$PWD/tickwire.yaml}
hz=$(getconf CLK_TCK)

measure() {
  local bin=$1 work pid before after requests rate
  work=$(mktemp -d)
  PORT=18097 SRV_DIR=$work DURABILITY=full "$bin" serve --config "$config" >"$work/log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:18097/healthz && break; sleep 0.1; done
  wrk -t1 -c"${CONNS:-8}" -d3s -s webhook.lua http://127.0.0.1:18097 >/dev/null 2>&1  # warm-up
  sleep 1
  before=$(awk '{print $14 + $15}' /proc/$pid/stat)
  wrk -t1 -c"${CONNS:-8}" -d"${DURATION:-8s}" -s webhook.lua http://127.0.0.1:18097 >"$work/wrk" 2>&1
  sleep 2  # the dispatchers finish what the load left
  after=$(awk '{print $14 + $15}' /proc/$pid/stat)
  kill $pid; wait $pid 2>/dev/null || true
  requests=$(awk '/requests in/ {print $1}' "$work/wrk")
  rate=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$work/wrk")
  echo "$(( (after - before) * 1000000 / hz / requests )) $rate"
  rm -rf "$work"
}

declare -A results
for _ in $(seq "${RUNS:-3}"); do
  for bin in "$@"; do results[$bin]+="$(measure "$bin");"; done
done
printf '%-40s %s\n' "build" "CPU µs/request (runs), req/s (runs) at ${CONNS:-8} connections"
for bin in "$@"; do
  cpu=$(tr ';' '\n' <<<"${results[$bin]}" | awk 'NF {print $1}' | sort -n | paste -sd' ')
  rps=$(tr ';' '\n' <<<"${results[$bin]}" | awk 'NF {print $2}' | sort -n | paste -sd' ')
  printf '%-40s %s   |   %s\n' "$bin" "$cpu" "$rps"
done
