#!/usr/bin/env bash
# Interoperability check: requests signed by Twilio's own helper library (twilio-python's
# RequestValidator, from PyPI) are accepted by a running tickwire daemon, and tampered ones
# are refused. Needs the built daemon (.build/debug/tickwire or $TICKWIRE_BIN).
set -euo pipefail
cd "$(dirname "$0")"
python="$(../../scripts/interop-python)"
"$python" twilio_interop.py
