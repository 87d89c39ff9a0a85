"""End-to-end checks of issue 3 against the built daemon: check, errors, ingest, dedupe,
refusals, and kill -9 right after a burst of acknowledged webhooks."""
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

from daemon import BINARY, CORPUS, ROOT, Daemon, check, failures, free_port, jsonl_ids, write_config

TOKEN = "e2e-token-0123456789"


def cli_checks(tmp):
    result = subprocess.run([BINARY, "check", "--config", os.path.join(ROOT, "config.yaml")], capture_output=True, text=True, cwd=ROOT)
    check(result.returncode == 0, "tickwire check on the default config.yaml exits 0")
    check("orgs:" in result.stdout and "demo" in result.stdout, "check prints a summary of orgs")
    bad = os.path.join(tmp, "bad.yaml")
    with open(bad, "w") as f:
        f.write("orgs:\n  acme:\n    channels:\n      gs:\n        provider: gupshup\n        auth: { type: token, tokn: x }\n")
    result = subprocess.run([BINARY, "check", "--config", bad], capture_output=True, text=True)
    check(result.returncode == 1, "a misspelled key makes check exit 1")
    check(f"{bad}:6: orgs.acme.channels.gs.auth: unknown key \"tokn\"" in result.stderr,
          "the error names file, line and key path: " + result.stderr.strip().splitlines()[0] if result.stderr else "no stderr")


def synthetic_delivered(n):
    return json.dumps({"app": "E2E", "timestamp": 1700000000000 + n, "version": 2, "type": "message-event",
                       "payload": {"id": f"wamid.e2e{n}", "gsId": f"gs-e2e-{n}", "type": "delivered",
                                   "destination": "919876543210", "payload": {"ts": 1700000000 + n}}}).encode()


def ingest_checks(daemon, tmp):
    with open(os.path.join(CORPUS, "gupshup", "jaimey_message_event_delivered.json"), "rb") as f:
        body = f.read()
    status, answer = daemon.post(f"/v1/webhooks/demo/gupshup?token={TOKEN}", body)
    check(status == 200, "POST of a Gupshup delivered event with the token answers 200")
    answer = json.loads(answer)
    check(answer.get("accepted") == 1 and len(answer.get("ids", [])) == 1, "answer is {accepted: 1, ids: [...]}")
    status2, answer2 = daemon.post(f"/v1/webhooks/demo/gupshup?token={TOKEN}", body)
    check(status2 == 200 and json.loads(answer2)["ids"] == answer["ids"], "the same POST again answers the same id")
    archive = os.path.join(tmp, "data", "demo", "events.jsonl")
    deadline = time.time() + 10
    while time.time() < deadline and not jsonl_ids(archive):
        time.sleep(0.05)
    time.sleep(0.3)
    lines = open(archive).read().splitlines() if os.path.exists(archive) else []
    check(len(lines) == 1, f"the file sink has exactly one line (has {len(lines)})")
    if lines:
        event = json.loads(lines[0])
        check(event["specversion"] == "1.0" and event["type"] == "message.delivered", "the line is a message.delivered CloudEvent")
        check(event["source"] == "/orgs/demo/channels/gupshup", "source is /orgs/demo/channels/gupshup")
        ids = event["data"]["provider_message_ids"]
        check("gBEGkYaYVSEEAgnZxQ3JmKK6Wvg" in ids and "ee4a68a0-1203-4c85-8dc3-49d0b3226a35" in ids, "both provider ids are kept")
    for path, data, ctype, expected in [
        ("/v1/webhooks/demo/gupshup?token=nope", body, "application/json", 401),
        (f"/v1/webhooks/ghost/gupshup?token={TOKEN}", body, "application/json", 404),
        (f"/v1/webhooks/demo/ghost?token={TOKEN}", body, "application/json", 404),
        (f"/v1/webhooks/demo/gupshup?token={TOKEN}", b"{not json", "application/json", 400),
        (f"/v1/webhooks/demo/gupshup?token={TOKEN}", b" " * (4 * 1024 * 1024 + 1), "application/json", 413),
    ]:
        status, answer = daemon.post(path, data, ctype)
        ok = status == expected
        try:
            ok = ok and "code" in json.loads(answer)["error"]
        except Exception:
            ok = False
        check(ok, f"{path.split('?')[0]} with a bad request answers {expected} with a JSON error (got {status})")
    # A chunked body over the limit (no Content-Length to refuse it early) once crashed the daemon.
    import http.client
    connection = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=10)
    chunks = (b" " * 65536 for _ in range(80))
    connection.request("POST", f"/v1/webhooks/demo/gupshup?token={TOKEN}", body=chunks,
                       headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"}, encode_chunked=True)
    check(connection.getresponse().status == 413, "a chunked body over the limit answers 413")
    connection.close()
    check(daemon.get("/healthz")[0] == 200, "the daemon still answers after it")
    conn = sqlite3.connect(os.path.join(tmp, "data", "journal.sqlite"))
    count = conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
    conn.close()
    check(count == 1, f"refused requests stored nothing (journal has {count} event)")


def crash_checks(daemon, tmp):
    acknowledged, lock = [], threading.Lock()
    stop = threading.Event()

    def worker(start):
        n = start
        while not stop.is_set():
            try:
                status, answer = daemon.post(f"/v1/webhooks/demo/gupshup?token={TOKEN}", synthetic_delivered(n))
            except OSError:
                return
            if status == 200:
                with lock:
                    acknowledged.extend(json.loads(answer)["ids"])
            n += 16
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    deadline = time.time() + 20
    while time.time() < deadline and len(acknowledged) < 400:
        time.sleep(0.01)
    daemon.kill9()
    stop.set()
    for t in threads:
        t.join()
    acked = set(acknowledged)
    check(len(acked) >= 400, f"{len(acked)} webhooks acknowledged before kill -9")
    conn = sqlite3.connect(os.path.join(tmp, "data", "journal.sqlite"))
    stored = {row[0] for row in conn.execute("SELECT event_id FROM journal")}
    conn.close()
    check(acked <= stored, f"every acknowledged event is in the journal after kill -9 (missing {len(acked - stored)})")
    daemon.start()
    archive = os.path.join(tmp, "data", "demo", "events.jsonl")
    deadline = time.time() + 30
    while time.time() < deadline and not acked <= set(jsonl_ids(archive)):
        time.sleep(0.1)
    missing = acked - set(jsonl_ids(archive))
    check(not missing, f"after the restart every acknowledged event reached the file sink (missing {len(missing)})")
    check(daemon.stop() == 0, "SIGTERM stops the daemon with exit code 0")


def main():
    if not os.path.exists(BINARY):
        print(f"FAIL the daemon binary {BINARY} is missing: build it first (swift build --product tickwire)")
        return 1
    with tempfile.TemporaryDirectory(prefix="tickwire-e2e-") as tmp:
        cli_checks(tmp)
        port = free_port()
        daemon = Daemon(write_config(tmp, port, TOKEN), port, os.path.join(tmp, "daemon.log"))
        daemon.start()
        try:
            ingest_checks(daemon, tmp)
            crash_checks(daemon, tmp)
        finally:
            daemon.stop()
            if failures:
                print(open(os.path.join(tmp, "daemon.log")).read()[-4000:])
    print(f"e2e foundation: {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
