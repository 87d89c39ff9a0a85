"""Interop check of the HTTP forwarder (sink type: http) against the reference libraries.

Starts a stdlib receiver and a real tickwire daemon whose org forwards every event to four
http sinks on the receiver, one per format (cloudevents, cloudevents-binary,
cloudevents-batch, native), each with a Standard Webhooks secret (the structured one with
`secrets: [old, new]`, as during a rotation). Posts Gupshup, Meta and Twilio corpus callbacks
(signed the providers' way), waits for the forwarded requests, and checks them with the
libraries a receiver would use:
- every request verifies with standardwebhooks.Webhook(secret).verify (both keys while
  rotating), and does not with another secret or a changed body;
- structured and binary requests parse with the cloudevents SDK (core HTTP binding) and
  carry the id, type, source, subject and extensions the daemon reported; binary equals the
  structured copy;
- batch requests are application/cloudevents-batch+json arrays whose elements parse with the
  SDK's JSON format, at most batch_size each; together they hold exactly the events of the
  other modes;
- native requests carry the posted body byte for byte, in the posted content type (every
  event of a callback that yields several);
- `tickwire replay` (run beside the daemon) refuses an unknown subscription and sends each
  event of a fifth sink once more.
"""
import base64
import hashlib
import hmac
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cloudevents.core.bindings.http import HTTPMessage, from_http_event
from cloudevents.core.formats.json import JSONFormat
from standardwebhooks import Webhook
from twilio.request_validator import RequestValidator

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
from daemon import BINARY, CORPUS, Daemon, free_port  # noqa: E402

ORG = "acme"
GUPSHUP_TOKEN = "interop-gupshup-token-0123456789"
META_APP_SECRET = "interop-meta-app-secret-0123456789"
TWILIO_TOKEN = "interop-twilio-auth-token-0123456789"
TWILIO_PUBLIC_URL = f"https://gw.example.org/v1/webhooks/{ORG}/twilio"
BATCH_SIZE = 10
BINARY_WAIT = 20 * 60
DELIVERY_TIMEOUT = 30

# (channel, corpus file, content type to post with, event types the callback must yield)
CALLBACKS = [
    ("gupshup", "jaimey_message_event_enqueued.json", "application/json", ["message.enqueued"]),
    ("gupshup", "jaimey_message_event_delivered.json", "application/json", ["message.delivered"]),
    ("gupshup", "jaimey_message_event_read.json", "application/json; charset=utf-8", ["message.read"]),
    ("gupshup", "gupshupdocs_message_event_failed_async_470.json", "application/json", ["message.failed"]),
    ("gupshup", "glific_inbound_text.json", "application/json", ["message.received"]),
    ("gupshup", "jaimey_user_event_opted_in.json", "application/json", ["user.opted_in"]),
    ("meta", "pywa_status_sent.json", "application/json", ["message.sent"]),
    ("meta", "pywa_status_delivered.json", "application/json", ["message.delivered"]),
    ("meta", "pywa_status_failed.json", "application/json", ["message.failed"]),
    ("meta", "pywa_message_text.json", "application/json", ["message.received"]),
    ("meta", "pywa_message_reaction.json", "application/json", ["message.received"]),
    ("meta", "connectors_mixed_messages_and_statuses_batch.json", "application/json",
     ["message.received", "message.received", "message.delivered"]),
    ("twilio", "courier_inbound_text.json", "application/x-www-form-urlencoded", ["message.received"]),
    ("twilio", "chatwoot_status_delivered.json", "application/x-www-form-urlencoded", ["message.delivered"]),
]


failures = []
passed = []


def check(condition, message):
    """Remembers the outcome; failures are printed at once and again in the summary."""
    if condition:
        passed.append(message)
    else:
        failures.append(message)
        print("FAIL " + message, flush=True)


def new_secret():
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


# Sink name -> format, receiver path, signing secrets.
SINKS = {
    "ce_structured": {"format": "cloudevents", "path": "/structured", "secrets": [new_secret(), new_secret()]},
    "ce_binary": {"format": "cloudevents-binary", "path": "/binary", "secrets": [new_secret()]},
    "ce_batch": {"format": "cloudevents-batch", "path": "/batch", "secrets": [new_secret()]},
    "native": {"format": "native", "path": "/native", "secrets": [new_secret()]},
    # Only for the replay check: `tickwire replay` sends its events a second time.
    "replayed": {"format": "cloudevents", "path": "/replayed", "secrets": [new_secret()]},
}


class Receiver:
    """Records every POST (path, headers, raw body) and answers 200 with an empty body."""

    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    body = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        chunk = self.rfile.read(size + 2)[:size]
                        if size == 0:
                            break
                        body += chunk
                else:
                    body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.lock:
                    outer.requests.append({"path": self.path, "headers": list(self.headers.items()), "body": body})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def received(self, path):
        with self.lock:
            return [r for r in self.requests if r["path"] == path]


def header(request, name):
    """The value of a header (the first if repeated), by case-insensitive name."""
    for k, v in request["headers"]:
        if k.lower() == name.lower():
            return v
    return None


def headers_dict(request):
    return {k.lower(): v for k, v in request["headers"]}


def write_config(directory, port, receiver_port):
    sinks = ""
    for name, sink in SINKS.items():
        keys = sink["secrets"]
        signing = f'secret: "{keys[0]}"' if len(keys) == 1 else "secrets: [" + ", ".join(f'"{k}"' for k in keys) + "]"
        batch = f"\n    batch_size: {BATCH_SIZE}" if sink["format"] == "cloudevents-batch" else ""
        sinks += f"""  {name}:
    type: http
    url: "http://127.0.0.1:{receiver_port}{sink['path']}"
    format: {sink['format']}
    {signing}{batch}
    retry: {{ max_attempts: 3, initial_backoff: 100ms, max_backoff: 1s }}
"""
    subscriptions = "".join(f"      - {{ sink: {name} }}\n" for name in SINKS)
    path = os.path.join(directory, "config.yaml")
    with open(path, "w") as f:
        f.write(f"""server: {{ listen: "127.0.0.1:{port}" }}
storage: {{ directory: "{directory}/data", durability: normal }}
include: []
sinks:
{sinks}orgs:
  {ORG}:
    api_keys: [ "interop-api-key-0123456789" ]
    channels:
      gupshup: {{ provider: gupshup, auth: {{ type: token, token: "{GUPSHUP_TOKEN}" }} }}
      meta: {{ provider: meta, auth: {{ type: meta, app_secret: "{META_APP_SECRET}", verify_token: "interop-verify" }} }}
      twilio:
        provider: twilio
        public_url: "{TWILIO_PUBLIC_URL}"
        auth: {{ type: twilio, auth_token: "{TWILIO_TOKEN}" }}
    subscriptions:
{subscriptions}""")
    os.chmod(path, 0o600)
    return path


def wait_for_binary():
    deadline = time.time() + BINARY_WAIT
    announced = False
    while not (os.path.isfile(BINARY) and os.access(BINARY, os.X_OK)):
        if time.time() > deadline:
            print(f"forwarder interop: no daemon binary at {BINARY} after {BINARY_WAIT // 60} minutes")
            sys.exit(2)
        if not announced:
            print(f"waiting for {BINARY} to be built…", flush=True)
            announced = True
        time.sleep(5)
    if announced:  # a binary just built: let the linker finish writing it
        last = None
        while last != (os.stat(BINARY).st_size, os.stat(BINARY).st_mtime):
            last = (os.stat(BINARY).st_size, os.stat(BINARY).st_mtime)
            time.sleep(3)


def body_for(channel, name):
    """The bytes a provider would send for a corpus file: Gupshup's as written (pretty JSON),
    Meta's compact with escaped unicode and slashes (as Meta signs them), Twilio's form."""
    with open(os.path.join(CORPUS, channel, name), "rb") as f:
        raw = f.read()
    if channel == "gupshup":
        return raw
    if channel == "meta":
        return json.dumps(json.loads(raw), separators=(",", ":"), ensure_ascii=True).replace("/", "\\/").encode()
    fields = json.loads(raw, object_pairs_hook=list)
    return urllib.parse.urlencode(fields).encode()


def post_callback(daemon, channel, name, content_type):
    body = body_for(channel, name)
    path = f"/v1/webhooks/{ORG}/{channel}"
    headers = {}
    if channel == "gupshup":
        path += "?token=" + GUPSHUP_TOKEN
    elif channel == "meta":
        headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(META_APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    else:
        fields = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
        headers["X-Twilio-Signature"] = RequestValidator(TWILIO_TOKEN).compute_signature(TWILIO_PUBLIC_URL, fields)
    status, answer = daemon.post(path, body, content_type, headers)
    return body, status, answer


def wait_for_deliveries(receiver, n):
    """Until every mode has n events (or the timeout); then a moment for extras to show."""
    deadline = time.time() + DELIVERY_TIMEOUT

    def complete():
        batch_ids = set()
        for request in receiver.received(SINKS["ce_batch"]["path"]):
            try:
                batch_ids |= {e.get("id") for e in json.loads(request["body"])}
            except (ValueError, AttributeError, TypeError):
                pass
        return (len(receiver.received(SINKS["ce_structured"]["path"])) >= n
                and len(receiver.received(SINKS["ce_binary"]["path"])) >= n
                and len(receiver.received(SINKS["native"]["path"])) >= n
                and len(batch_ids) >= n)

    while time.time() < deadline and not complete():
        time.sleep(0.1)
    done = complete()
    time.sleep(0.5)
    return done


def resolve(receiver, posted, unresolved):
    """Finds the event ids of callbacks answered without them (Twilio's TwiML): the structured
    events of that channel and type that no other callback claimed."""
    for origin in unresolved:
        found = []
        for request in receiver.received(SINKS["ce_structured"]["path"]):
            try:
                event = json.loads(request["body"])
            except ValueError:
                continue
            if (event.get("id") not in posted and event.get("channel") == origin["channel"]
                    and event.get("type") in origin["types"]):
                found.append(event["id"])
        check(len(found) == len(origin["types"]), f"post {origin['channel']}/{origin['name']}: 200 (TwiML), "
              f"its {len(origin['types'])} event(s) found among the forwarded ones (found {len(found)})")
        for event_id in found:
            posted[event_id] = origin


def replay_checks(config, receiver, expected):
    """`tickwire replay` against the running daemon's journal: unknown subscriptions are
    refused, there are no dead letters, and a replay of everything sends each event once more."""
    path = SINKS["replayed"]["path"]

    def wait_for(count):
        deadline = time.time() + DELIVERY_TIMEOUT
        while time.time() < deadline and len(receiver.received(path)) < count:
            time.sleep(0.1)
        time.sleep(0.5)  # room for extras to show
        return [header(r, "webhook-id") for r in receiver.received(path)]

    def replay(*args):
        return subprocess.run([BINARY, "replay", "--config", config, *args], capture_output=True, text=True)

    first = wait_for(expected)
    check(len(first) == expected, f"replayed sink: {expected} events before the replay (got {len(first)})")
    unknown = replay("--subscription", f"{ORG}/nope")
    check(unknown.returncode == 1 and "no subscription" in unknown.stderr,
          f"replay of an unknown subscription is refused (exit {unknown.returncode}: {unknown.stderr.strip()!r})")
    dead = replay("--subscription", f"{ORG}/replayed", "--dead-only")
    check(dead.returncode == 0 and dead.stdout.startswith("0 event"),
          f"replay --dead-only finds no dead letters (exit {dead.returncode}: {(dead.stdout + dead.stderr).strip()!r})")
    everything = replay("--subscription", f"{ORG}/replayed", "--since", "2000-01-01T00:00:00Z")
    check(everything.returncode == 0 and everything.stdout.startswith(f"{expected} event"),
          f"replay --since queues all {expected} events (exit {everything.returncode}: {(everything.stdout + everything.stderr).strip()!r})")
    after = wait_for(2 * expected)
    check(sorted(after[expected:]) == sorted(first) and len(after) == 2 * expected,
          f"the running daemon sends each replayed event once more ({len(after) - len(first)} requests after the replay)")


def verify_signatures(receiver):
    """Standard Webhooks: every request verifies with its sink's key(s), not with another key
    nor with a changed body."""
    stranger = Webhook(new_secret())
    for name, sink in SINKS.items():
        for i, request in enumerate(receiver.received(sink["path"])):
            where = f"{name} request {i + 1}"
            headers = headers_dict(request)
            signatures = (headers.get("webhook-signature") or "").split(" ")
            check(len(signatures) == len(sink["secrets"]) and all(s.startswith("v1,") for s in signatures),
                  f"{where}: {len(sink['secrets'])} v1 signature(s) in webhook-signature (got {headers.get('webhook-signature')!r})")
            for k, key in enumerate(sink["secrets"]):
                try:
                    Webhook(key).verify(request["body"], headers, json_parse=False)
                    ok, why = True, ""
                except Exception as e:  # noqa: BLE001 - report any failure of the library
                    ok, why = False, f": {type(e).__name__}: {e}"
                label = f"key {k + 1} of {len(sink['secrets'])}" if len(sink["secrets"]) > 1 else "its key"
                check(ok, f"{where}: standardwebhooks verifies with {label}{why}")
            for label, webhook, body in (("another key", stranger, request["body"]),
                                         ("a changed body", Webhook(sink["secrets"][-1]), request["body"] + b" ")):
                try:
                    webhook.verify(body, headers, json_parse=False)
                    refused = False
                except Exception:  # noqa: BLE001
                    refused = True
                check(refused, f"{where}: standardwebhooks refuses {label}")


def parse_single(request, where):
    try:
        return from_http_event(HTTPMessage(headers=headers_dict(request), body=request["body"]))
    except Exception as e:  # noqa: BLE001
        check(False, f"{where}: cloudevents SDK cannot parse it: {type(e).__name__}: {e}")
        return None


def attributes(event):
    return dict(event.get_attributes())


def stop(daemon):
    """SIGTERM, then SIGKILL if the daemon has not exited after 30 s; its exit code, or a
    description of what happened."""
    try:
        return daemon.stop()
    except subprocess.TimeoutExpired:
        daemon.kill9()
        return "none: still running 30 s after SIGTERM, killed"


def main():
    wait_for_binary()
    receiver = Receiver()
    receiver.start()
    posted = {}  # event id -> the callback it came from: channel, name, body, content_type, types
    try:
        with tempfile.TemporaryDirectory() as directory:
            port = free_port()
            config = write_config(directory, port, receiver.port)
            checked = subprocess.run([BINARY, "check", "--config", config], capture_output=True, text=True)
            check(checked.returncode == 0, f"tickwire check --config accepts the config (exit {checked.returncode})"
                  + ("" if checked.returncode == 0 else ": " + (checked.stderr or checked.stdout).strip()))
            if checked.returncode != 0:
                finish(posted)
            log = os.path.join(directory, "daemon.log")
            daemon = Daemon(config, port, log)
            try:
                daemon.start(timeout=60)  # the machine may be busy building
                unresolved = []  # callbacks whose answer names no ids (Twilio's TwiML)
                for channel, name, content_type, types in CALLBACKS:
                    body, status, answer = post_callback(daemon, channel, name, content_type)
                    origin = {"channel": channel, "name": name, "body": body, "content_type": content_type,
                              "types": types}
                    if status == 200 and answer.lstrip().startswith(b"<"):
                        unresolved.append(origin)
                        continue
                    ids = json.loads(answer).get("ids", []) if status == 200 else []
                    check(len(ids) == len(types), f"post {channel}/{name}: 200 with {len(types)} event id(s) "
                          f"(got {status} {answer[:160]!r})")
                    for event_id in ids:
                        posted[event_id] = origin
                expected = sum(len(types) for *_, types in CALLBACKS)
                complete = wait_for_deliveries(receiver, expected)
                counts = {name: len(receiver.received(s["path"])) for name, s in SINKS.items()}
                check(complete, f"all {expected} events reached every sink within {DELIVERY_TIMEOUT}s (requests: {counts})")
                resolve(receiver, posted, unresolved)
                replay_checks(config, receiver, expected)
            except RuntimeError as e:
                check(False, f"daemon: {e}")
            finally:
                code = stop(daemon)
            check(code == 0, f"daemon stopped cleanly on SIGTERM (exit {code})")
            if failures:
                with open(log, errors="replace") as f:
                    tail = f.read()[-4000:]
                print("daemon log (tail):\n" + tail)
    finally:
        receiver.stop()
    verify_signatures(receiver)
    verify_events(receiver, posted)
    finish(posted, receiver)


def verify_events(receiver, posted):
    # Structured: the reference copy of each event.
    structured = {}
    for i, request in enumerate(receiver.received(SINKS["ce_structured"]["path"])):
        where = f"structured request {i + 1}"
        ctype = header(request, "content-type") or ""
        check(ctype.split(";")[0].strip() == "application/cloudevents+json", f"{where}: content-type application/cloudevents+json (got {ctype!r})")
        check(not any(k.lower().startswith("ce-") for k, _ in request["headers"]), f"{where}: no ce-* headers in structured mode")
        event = parse_single(request, where)
        if event is None:
            continue
        check(header(request, "webhook-id") == event.get_id(), f"{where}: webhook-id is the event id")
        check(event.get_id() not in structured, f"{where}: event {event.get_id()} delivered once")
        structured[event.get_id()] = event
    check(set(structured) == set(posted), f"structured: exactly the {len(posted)} accepted events "
          f"(missing {sorted(set(posted) - set(structured))}, unexpected {sorted(set(structured) - set(posted))})")
    for event_id, event in structured.items():
        origin = posted.get(event_id)
        if origin is None:
            continue
        where = f"structured {origin['channel']}/{origin['name']} ({event_id})"
        check(event.get_specversion() == "1.0", f"{where}: specversion 1.0")
        check(event.get_type() in origin["types"], f"{where}: type {event.get_type()!r} in {origin['types']}")
        check(event.get_source() == f"/orgs/{ORG}/channels/{origin['channel']}", f"{where}: source {event.get_source()!r}")
        check(bool(event.get_subject()), f"{where}: has a subject")
        check(event.get_time() is not None and event.get_time().tzinfo is not None, f"{where}: has a zoned time")
        check(event.get_datacontenttype() == "application/json" and isinstance(event.get_data(), dict), f"{where}: JSON object data")
        check((event.get_extension("org"), event.get_extension("channel"), event.get_extension("provider"))
              == (ORG, origin["channel"], origin["channel"]), f"{where}: org/channel/provider extensions")
    want_types = sorted(t for _, _, _, types in CALLBACKS for t in types)
    got_types = sorted(e.get_type() for e in structured.values())
    check(got_types == want_types, f"structured: the event types the callbacks must yield (got {got_types})")

    # Binary: the same attributes as ce-* headers, data as the body.
    binary = {}
    for i, request in enumerate(receiver.received(SINKS["ce_binary"]["path"])):
        where = f"binary request {i + 1}"
        check(header(request, "ce-specversion") == "1.0" and header(request, "ce-id"), f"{where}: ce-specversion and ce-id headers")
        event = parse_single(request, where)
        if event is None:
            continue
        reference = structured.get(event.get_id())
        check(reference is not None, f"{where}: event {event.get_id()} is one of the structured events")
        check(event.get_id() not in binary, f"{where}: event {event.get_id()} delivered once")
        binary[event.get_id()] = event
        check(header(request, "webhook-id") == event.get_id(), f"{where}: webhook-id is the event id")
        if reference is not None:
            want, got = attributes(reference), attributes(event)
            diff = {k: (want.get(k), got.get(k)) for k in set(want) | set(got) if want.get(k) != got.get(k)}
            check(not diff, f"{where}: attributes equal the structured copy" + (f": differ {diff}" if diff else ""))
            check(event.get_data() == reference.get_data(), f"{where}: data equals the structured copy's data")
    check(set(binary) == set(structured), "binary: the same events as structured")

    # Batch: arrays of structured events, each parsed by the SDK's JSON format.
    batched = []
    for i, request in enumerate(receiver.received(SINKS["ce_batch"]["path"])):
        where = f"batch request {i + 1}"
        ctype = header(request, "content-type") or ""
        check(ctype.split(";")[0].strip() == "application/cloudevents-batch+json", f"{where}: content-type application/cloudevents-batch+json (got {ctype!r})")
        try:
            elements = json.loads(request["body"])
        except ValueError as e:
            check(False, f"{where}: body is JSON ({e})")
            continue
        check(isinstance(elements, list) and 1 <= len(elements) <= BATCH_SIZE, f"{where}: a JSON array of 1 to {BATCH_SIZE} events (got {len(elements) if isinstance(elements, list) else type(elements).__name__})")
        if not isinstance(elements, list):
            continue
        for k, element in enumerate(elements):
            try:
                event = JSONFormat().read(None, json.dumps(element).encode())
            except Exception as e:  # noqa: BLE001
                check(False, f"{where} element {k + 1}: cloudevents SDK cannot parse it: {type(e).__name__}: {e}")
                continue
            batched.append(event.get_id())
            reference = structured.get(event.get_id())
            if reference is None:
                check(False, f"{where} element {k + 1}: event {event.get_id()} is one of the structured events")
                continue
            check(attributes(event) == attributes(reference) and event.get_data() == reference.get_data(),
                  f"{where} element {k + 1}: equals the structured copy of {event.get_id()}")
    check(sorted(batched) == sorted(structured), f"batch: the union of all batches is the structured events, each once "
          f"({len(batched)} batched, {len(set(batched))} distinct, {len(structured)} structured)")

    # Native: the provider's payload as posted.
    native = {}
    for i, request in enumerate(receiver.received(SINKS["native"]["path"])):
        event_id = header(request, "webhook-id")
        origin = posted.get(event_id)
        where = f"native request {i + 1}" + (f" {origin['channel']}/{origin['name']}" if origin else "")
        check(origin is not None, f"{where}: webhook-id {event_id} is an accepted event")
        check(event_id not in native, f"{where}: event {event_id} delivered once")
        native[event_id] = request
        if origin is None:
            continue
        ctype = header(request, "content-type")
        check(ctype == origin["content_type"], f"{where}: content-type is the posted {origin['content_type']!r} (got {ctype!r})")
        # Every event of a callback carries that callback's body (one Meta POST may hold several).
        same = request["body"] == origin["body"]
        check(same, f"{where}: body is the posted body byte for byte" + ("" if same else
              f" (posted {len(origin['body'])} bytes {origin['body'][:60]!r}…, got {len(request['body'])} bytes {request['body'][:60]!r}…)"))
    check(set(native) == set(structured), "native: the same events as structured")


def finish(posted, receiver=None):
    print(f"forwarder interop: {len(CALLBACKS)} callbacks posted, {len(posted)} events accepted")
    if receiver is not None:
        for name, sink in SINKS.items():
            keys = len(sink["secrets"])
            print(f"  {name:<14} {sink['format']:<19} {len(receiver.received(sink['path'])):>3} requests, "
                  f"{keys} signing key{'s' if keys > 1 else ''}")
    print(f"  {len(passed)} checks passed, {len(failures)} failed")
    if failures:
        print("forwarder interop: FAILED")
        for failure in failures:
            print("  " + failure)
        sys.exit(1)
    print("forwarder interop: OK: standardwebhooks verifies every request (both keys while rotating), the cloudevents "
          "SDK parses every structured, binary and batched event, native bodies are the posted bytes, tickwire replay sends each event once more")


if __name__ == "__main__":
    main()
