#!/usr/bin/env bash
# Interoperability check of the HTTP forwarder (sink type: http): a running tickwire daemon
# forwards Gupshup, Meta and Twilio corpus callbacks to a local receiver in every format
# (CloudEvents structured, binary and batch, native), and the requests are checked with the
# reference libraries from PyPI: standardwebhooks verifies every signature (also while two
# keys rotate), the cloudevents SDK parses every event, native bodies are the posted bytes.
# Needs the built daemon (.build/debug/tickwire or $TICKWIRE_BIN).
set -euo pipefail
cd "$(dirname "$0")"
python="$(../../scripts/interop-python)"
"$python" forwarder_interop.py
