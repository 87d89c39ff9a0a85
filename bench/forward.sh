#!/usr/bin/env bash
# The HTTP forwarder's throughput (issue 6): events drained per second from a journal backlog
# to nginx answering 200 at once, one request per event and in batches, Standard Webhooks
# signatures on. One command; prints one line per case.
#
#   bench/forward.sh                 # EVENTS=100000 by default
set -euo pipefail
cd "$(dirname "$0")"
root="$(cd .. && pwd)"
events=${EVENTS:-100000}
command -v nginx >/dev/null || "$root/scripts/bootstrap" nginx-light
(cd "$root" && swift build -c release --product tickwire --scratch-path .build-release >&2)
bin="$root/.build-release/release/tickwire"

work=$(mktemp -d)
port=18199
mkdir -p "$work/tmp"
sed "s/@PORT@/$port/; s/@WORKERS@/1/" servers/nginx.conf >"$work/nginx.conf"
nginx -p "$work" -c nginx.conf -e error.log &
nginx_pid=$!
trap 'kill $nginx_pid 2>/dev/null; wait $nginx_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -s -o /dev/null -X POST "http://127.0.0.1:$port/" && break; sleep 0.1; done

echo "# $(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$root" rev-parse --short HEAD), $events events, nginx (1 worker) answering 200"
url="http://127.0.0.1:$port/hooks"
"$bin" bench-forward --url "$url" --events "$events" --format cloudevents --concurrency 8
"$bin" bench-forward --url "$url" --events "$events" --format cloudevents --concurrency 32
"$bin" bench-forward --url "$url" --events "$events" --format cloudevents-batch --batch-size 100 --concurrency 4
"$bin" bench-forward --url "$url" --events "$events" --format cloudevents-batch --batch-size 500 --concurrency 4
