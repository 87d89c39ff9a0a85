#!/usr/bin/env bash
# End-to-end checks of the foundation (issue 3) against the built daemon.
set -euo pipefail
cd "$(dirname "$0")"
python3 foundation.py
