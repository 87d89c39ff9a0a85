#!/usr/bin/env bash
# End-to-end operations checks (issue 7): kill -9 under load, reload under load, metrics
# parsed by prometheus_client, disk full. Uses the interop venv for prometheus_client.
set -euo pipefail
cd "$(dirname "$0")"
python="$(../../scripts/interop-python)"
"$python" operations.py
