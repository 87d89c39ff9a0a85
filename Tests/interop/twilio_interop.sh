#!/usr/bin/env bash
# Interoperability check: requests signed by Twilio's own helper library (twilio-python's
# RequestValidator, from PyPI) are accepted by a running tickwire daemon, and tampered ones
# are refused. Needs the built daemon (.build/debug/tickwire or $TICKWIRE_BIN).
set -euo pipefail
cd "$(dirname "$0")"
root="$(cd ../.. && pwd)"
python=python3
if ! python3 -c "import twilio.request_validator" 2>/dev/null; then
  venv="$root/.build/interop-venv"
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
  fi
  "$venv/bin/python" -c "import twilio.request_validator" 2>/dev/null || "$venv/bin/pip" install -q "twilio>=9,<10"
  python="$venv/bin/python"
fi
"$python" twilio_interop.py
