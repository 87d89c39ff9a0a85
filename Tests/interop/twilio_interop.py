"""Posts every Twilio corpus callback to a real tickwire daemon, signed with twilio-python's
RequestValidator exactly as Twilio signs them, and checks the answers:
- correctly signed (with and without a query string, with the default port) -> 200,
  TwiML for incoming messages and JSON for status callbacks;
- signed with another token, for another URL, or with a changed field -> 401.
"""
import json
import os
import sys
import tempfile
import urllib.parse

from twilio.request_validator import RequestValidator

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
from daemon import CORPUS, Daemon, free_port  # noqa: E402

TOKEN = "interop-auth-token-0123456789"
PUBLIC_URL = "https://gw.example.org/v1/webhooks/acme/twilio"
PATH = "/v1/webhooks/acme/twilio"


def write_config(directory, port):
    path = os.path.join(directory, "config.yaml")
    with open(path, "w") as f:
        f.write(f"""
server: {{ listen: "127.0.0.1:{port}" }}
storage: {{ directory: "{directory}/data", durability: normal }}
include: []
sinks:
  archive: {{ type: file, path: "{directory}/data/{{org}}/events.jsonl" }}
orgs:
  acme:
    api_keys: [ "interop-api-key-0123456789" ]
    channels:
      twilio:
        provider: twilio
        public_url: "{PUBLIC_URL}"
        auth: {{ type: twilio, auth_token: "{TOKEN}" }}
    subscriptions:
      - {{ sink: archive }}
""")
    return path


def load_fields(name):
    """Corpus files are JSON objects of the form fields, in the order Twilio sent them."""
    with open(os.path.join(CORPUS, "twilio", name)) as f:
        return json.load(f, object_pairs_hook=list)


def post(daemon, fields, query="", token=TOKEN, url=None):
    params = dict(fields)
    signed_url = url or (PUBLIC_URL + query)
    signature = RequestValidator(token).compute_signature(signed_url, params)
    body = urllib.parse.urlencode(fields).encode()
    status, answer = daemon.post(PATH + query, body, "application/x-www-form-urlencoded",
                                 {"X-Twilio-Signature": signature})
    return status, answer


def main():
    failures = []

    def check(condition, message):
        if not condition:
            failures.append(message)

    names = sorted(n for n in os.listdir(os.path.join(CORPUS, "twilio")) if n.endswith(".json"))
    check(names, f"no Twilio corpus files in {CORPUS}")
    with tempfile.TemporaryDirectory() as directory:
        port = free_port()
        daemon = Daemon(write_config(directory, port), port, os.path.join(directory, "daemon.log"))
        daemon.start()
        try:
            for name in names:
                fields = load_fields(name)
                inbound = "MessageStatus" not in dict(fields)
                for query in ("", "?source=interop&x=1"):
                    status, answer = post(daemon, fields, query)
                    check(status == 200, f"{name}{query}: expected 200, got {status} {answer[:200]!r}")
                    if inbound:
                        check(answer.startswith(b"<?xml") and b"<Response>" in answer, f"{name}: expected TwiML, got {answer[:80]!r}")
                    else:
                        check(json.loads(answer).get("accepted") == 1, f"{name}: expected a JSON ack, got {answer[:80]!r}")
                # Twilio may sign the URL with the default port; its validator accepts both.
                status, _ = post(daemon, fields, url=PUBLIC_URL.replace("gw.example.org", "gw.example.org:443"))
                check(status == 200, f"{name}: signature with :443 refused ({status})")
                status, _ = post(daemon, fields, token="another-accounts-token")
                check(status == 401, f"{name}: wrong token accepted ({status})")
                status, _ = post(daemon, fields, url="https://other.example.org" + PATH)
                check(status == 401, f"{name}: signature for another URL accepted ({status})")
                tampered = [(k, v + "x") if k == "MessageSid" else (k, v) for k, v in fields]
                params = dict(fields)
                signature = RequestValidator(TOKEN).compute_signature(PUBLIC_URL, params)
                status, _ = daemon.post(PATH, urllib.parse.urlencode(tampered).encode(), "application/x-www-form-urlencoded",
                                        {"X-Twilio-Signature": signature})
                check(status == 401, f"{name}: tampered body accepted ({status})")
            status, _ = daemon.post(PATH, b"MessageSid=SM1&MessageStatus=sent", "application/x-www-form-urlencoded")
            check(status == 401, f"unsigned request accepted ({status})")
        finally:
            daemon.stop()

    if failures:
        print("twilio interop: FAILED")
        for failure in failures:
            print("  " + failure)
        sys.exit(1)
    print(f"twilio interop: {len(names)} corpus callbacks signed by twilio-python accepted; forgeries refused")


if __name__ == "__main__":
    main()
