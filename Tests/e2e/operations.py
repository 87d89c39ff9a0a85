"""End-to-end checks of issue 7 against the built daemon, each bounded in time:
- crash safety: kill -9 several times under load; every acknowledged id is in the journal
  and reaches the file sink after the restarts;
- reload under load: ten config swaps (and one invalid file) with zero non-2xx answers;
- metrics: /metrics parsed by prometheus_client; the figures match what was sent;
- disk full: a full data directory answers 503 and /readyz 503, and both recover;
- one daemon per data directory: a second is refused and changes nothing;
- signals at awkward times: SIGHUP during start-up, SIGTERM during a reload;
- a sink stuck for good (a FIFO nobody reads) does not keep SIGTERM from ending the daemon."""
import http.client
import json
from contextlib import closing
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

from prometheus_client.parser import text_string_to_metric_families

from daemon import BINARY, Daemon, check, failures, free_port, jsonl_ids, wait_for

TOKEN = "ops-token-0123456789"


def config_text(directory, port, extra_sink=""):
    return f"""
server: {{ listen: "127.0.0.1:{port}", shutdown_grace: 5s }}
storage: {{ directory: "{directory}/data", durability: full }}
include: []
sinks:
  archive: {{ type: file, path: "{directory}/data/{{org}}/events.jsonl" }}
{extra_sink}
orgs:
  demo:
    channels:
      gupshup: {{ provider: gupshup, auth: {{ type: token, token: "{TOKEN}" }} }}
    subscriptions:
      - {{ sink: archive }}
"""


def body(n, status="delivered"):
    return json.dumps({"app": "OPS", "timestamp": 1700000000000 + n, "version": 2, "type": "message-event",
                       "payload": {"id": f"wamid.ops{n}", "gsId": f"gs-ops-{n}", "type": status,
                                   "destination": "919876543210", "payload": {"ts": 1700000000 + n}}}).encode()


class Load:
    """Posts distinct webhooks from a few threads; records acknowledged ids, non-2xx answers,
    requests that got no answer (`errors`: the connection refused, reset or timed out) and
    any other exception, which ends its thread (`crashes`)."""

    def __init__(self, daemon, start, threads=8):
        self.daemon, self.acked, self.bad, self.lock = daemon, [], [], threading.Lock()
        self.errors, self.crashes = [], []
        self.stop_flag = threading.Event()
        self.threads = [threading.Thread(target=self.worker, args=(start + i, threads)) for i in range(threads)]

    def worker(self, n, step):
        try:
            while not self.stop_flag.is_set():
                try:
                    status, answer = self.daemon.post(f"/v1/webhooks/demo/gupshup?token={TOKEN}", body(n))
                except (OSError, http.client.HTTPException) as error:
                    # The daemon is down (killed) or the answer was lost, or cut short by a
                    # kill: a provider retries the same webhook, which may already be journaled.
                    with self.lock:
                        self.errors.append(repr(error))
                    time.sleep(0.01)
                    continue
                with self.lock:
                    if status == 200:
                        self.acked.extend(json.loads(answer)["ids"])
                    else:
                        self.bad.append(status)
                n += step
        except Exception as error:  # a thread that dies silently would make the load look calm
            with self.lock:
                self.crashes.append(repr(error))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *args):
        self.stop_flag.set()
        for t in self.threads:
            t.join()


def journal_ids(tmp):
    conn = sqlite3.connect(os.path.join(tmp, "data", "journal.sqlite"))
    try:
        return {row[0] for row in conn.execute("SELECT event_id FROM journal")}
    finally:
        conn.close()


def crash_checks(daemon, tmp):
    with Load(daemon, 0) as load:
        for _ in range(3):
            deadline, before = time.time() + 10, len(load.acked)
            while time.time() < deadline and len(load.acked) < before + 150:
                time.sleep(0.01)
            daemon.kill9()
            time.sleep(0.2)
            daemon.start()
        time.sleep(0.5)
    acked = set(load.acked)
    check(not load.crashes, f"the load's threads ran to the end ({load.crashes[:3]})")
    check(len(acked) >= 450, f"{len(acked)} webhooks acknowledged across 3 kill -9 restarts")
    check(acked <= journal_ids(tmp), f"no acknowledged event missing from the journal ({len(acked - journal_ids(tmp))} missing)")
    archive = os.path.join(tmp, "data", "demo", "events.jsonl")
    deadline = time.time() + 30
    while time.time() < deadline and not acked <= set(jsonl_ids(archive)):
        time.sleep(0.1)
    check(acked <= set(jsonl_ids(archive)), "every acknowledged event reached the file sink")
    conn = sqlite3.connect(os.path.join(tmp, "data", "journal.sqlite"))
    rows, distinct = conn.execute("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM journal").fetchone()
    conn.close()
    check(rows == distinct, f"webhooks retried across the kills are journaled once ({rows} rows, {distinct} ids)")
    result = subprocess.run(["sqlite3", os.path.join(tmp, "data", "journal.sqlite"), "PRAGMA integrity_check"],
                            capture_output=True, text=True)
    check(result.stdout.strip() == "ok", "the journal passes PRAGMA integrity_check after the kills")


def reload_checks(daemon, tmp, config_path):
    port = daemon.port
    reloads = lambda: open(daemon.log_path).read().count("configuration reloaded")
    applied = 0
    with Load(daemon, 1_000_000) as load:
        for i in range(10):
            with open(config_path, "w") as f:
                f.write(config_text(tmp, port, f"  extra{i}: {{ type: file, path: \"{tmp}/data/extra{i}.jsonl\" }}"))
            before = reloads()
            daemon.process.send_signal(signal.SIGHUP)
            # Each one applied before the next is sent: signals sent during a reload merge.
            applied += wait_for(lambda: reloads() > before)
        with open(config_path, "w") as f:
            f.write(config_text(tmp, port) + "\nbogus_key: 1\n")
        daemon.process.send_signal(signal.SIGHUP)
        wait_for(lambda: "bogus_key" in open(daemon.log_path).read())
    check(not load.bad and not load.errors and not load.crashes and load.acked,
          f"every webhook answered 2xx during 10 reloads and one refused file ({len(load.acked)} accepted, "
          f"bad: {load.bad[:5]}, unanswered: {load.errors[:3]}, crashed: {load.crashes[:3]})")
    log = open(daemon.log_path).read()
    check(applied == 10, f"ten reloads were applied ({applied})")
    check("unknown key" in log and "bogus_key" in log, "the invalid file was refused with its error logged")
    check(daemon.get("/readyz")[0] == 200, "still ready after the refused reload")
    with open(config_path, "w") as f:
        f.write(config_text(tmp, port))
    before = reloads()
    result = subprocess.run([BINARY, "reload", "--config", config_path], capture_output=True, text=True)
    wait_for(lambda: reloads() > before)
    time.sleep(0.2)
    after = reloads()
    check(result.returncode == 0 and after == before + 1, f"tickwire reload checks the file and makes the daemon reload ({result.stdout.strip()})")
    with open(config_path, "a") as f:
        f.write("\nbogus_again: 1\n")
    result = subprocess.run([BINARY, "reload", "--config", config_path], capture_output=True, text=True)
    check(result.returncode == 1 and "bogus_again" in result.stderr, "tickwire reload refuses an invalid file without signalling")
    with open(config_path, "w") as f:
        f.write(config_text(tmp, port))
    return len(load.acked)


def metric_checks(daemon):
    status, text = daemon.get("/metrics")
    families = {family.name: family for family in text_string_to_metric_families(text.decode())}
    def value(name, **labels):
        for family in families.values():
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    return sample.value
        return None
    before = value("tickwire_http_requests_total", org="demo", channel="gupshup", code="200") or 0
    for n in range(5):
        daemon.post(f"/v1/webhooks/demo/gupshup?token={TOKEN}", body(2_000_000 + n, "read"))
    daemon.post("/v1/webhooks/demo/gupshup?token=wrong", body(1))
    status, text = daemon.get("/metrics")
    families = {family.name: family for family in text_string_to_metric_families(text.decode())}
    check(status == 200, "/metrics parses with prometheus_client")
    check(value("tickwire_http_requests_total", org="demo", channel="gupshup", code="200") == before + 5,
          "tickwire_http_requests_total counts the 5 accepted requests")
    check(value("tickwire_http_requests_total", org="demo", channel="gupshup", code="401") == 1,
          "tickwire_http_requests_total counts the refused one by code")
    check((value("tickwire_events_accepted_total", org="demo", type="message.read") or 0) >= 5,
          "tickwire_events_accepted_total counts events by type")
    check(value("tickwire_journal_commit_duration_seconds_count") is not None, "journal commit latency is exported")
    check(value("tickwire_subscription_backlog_events", subscription="demo/archive", sink="archive") is not None,
          "the subscription backlog is exported")


def second_daemon_checks(daemon, tmp, config_path):
    """A second daemon given the same storage.directory is refused before it opens anything:
    its config, without the first one's subscription, must not make the journal forget it."""
    def cursors():
        with closing(sqlite3.connect(f"file:{tmp}/data/journal.sqlite?mode=ro", uri=True)) as db:
            return db.execute("SELECT subscription FROM cursors ORDER BY subscription").fetchall()
    before = cursors()
    other = os.path.join(tmp, "other.yaml")
    with open(other, "w") as f:
        f.write(f"""
server: {{ listen: "127.0.0.1:{free_port()}" }}
storage: {{ directory: "{tmp}/data" }}
include: []
orgs:
  other:
    channels:
      gupshup: {{ provider: gupshup, auth: {{ type: token, token: "{TOKEN}" }} }}
""")
    result = subprocess.run([BINARY, "serve", "--config", other], capture_output=True, text=True, timeout=60)
    check(result.returncode != 0 and f"in use by process {daemon.process.pid}" in result.stderr,
          f"a second daemon on the same directory is refused, naming the first ({result.stderr.strip()[-200:]})")
    check(before and cursors() == before, f"and the first one's cursors are untouched ({before} -> {cursors()})")
    result = subprocess.run([BINARY, "reload", "--config", config_path], capture_output=True, text=True)
    check(result.returncode == 0 and str(daemon.process.pid) in result.stdout,
          f"tickwire reload still finds the first daemon ({result.stdout.strip()}{result.stderr.strip()})")


def stale_pid_checks(tmp, config_path):
    """After the daemon stopped, a pid file naming a live process (a reused pid after kill -9)
    must not make tickwire reload signal it."""
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        with open(os.path.join(tmp, "data", "tickwire.pid"), "w") as f:
            f.write(f"{bystander.pid}\n")
        result = subprocess.run([BINARY, "reload", "--config", config_path], capture_output=True, text=True)
        time.sleep(0.2)
        check(result.returncode == 1 and "no running daemon" in result.stderr and bystander.poll() is None,
              f"tickwire reload does not signal a process a stale pid file names ({result.stderr.strip()})")
    finally:
        bystander.kill()
        bystander.wait()


def replay_elsewhere_checks(config_path):
    """tickwire replay run where the configuration's relative storage.directory points at
    nothing: refused, and no empty journal is created there."""
    with tempfile.TemporaryDirectory(prefix="tickwire-elsewhere-") as elsewhere:
        relative = os.path.join(elsewhere, "relative.yaml")
        with open(config_path) as f:
            text = f.read()
        with open(relative, "w") as f:
            f.write(text.replace(f'directory: "{os.path.dirname(config_path)}/data"', 'directory: "data"'))
        result = subprocess.run([BINARY, "replay", "--config", relative, "--subscription", "demo/archive"],
                                capture_output=True, text=True, cwd=elsewhere)
        check(result.returncode == 1 and "no journal at data/journal.sqlite" in result.stderr
              and not os.path.exists(os.path.join(elsewhere, "data")),
              f"tickwire replay refuses a directory without a journal and creates none ({result.stderr.strip()})")


def early_reload_checks(tmp, config_path):
    """A SIGHUP while the daemon starts (a deploy's `tickwire reload` during a restart that
    opens and migrates the journal) is applied once it serves; it used to end the process."""
    port = int(open(config_path).read().split('listen: "127.0.0.1:')[1].split('"')[0])
    daemon = Daemon(config_path, port, os.path.join(tmp, "early.log"))
    log = open(daemon.log_path, "ab")
    daemon.process = subprocess.Popen([BINARY, "serve", "--config", config_path], stdout=log, stderr=log)
    pid_file = os.path.join(tmp, "data", "tickwire.pid")
    wait_for(lambda: os.path.exists(pid_file) and open(pid_file).read().strip() == str(daemon.process.pid), timeout=30)
    daemon.process.send_signal(signal.SIGHUP)

    def serving():
        try:
            return daemon.process.poll() is None and daemon.get("/readyz")[0] == 200
        except OSError:
            return False
    ready = wait_for(serving, timeout=30)
    reloaded = wait_for(lambda: "configuration reloaded" in open(daemon.log_path).read(), timeout=10)
    check(ready and reloaded, f"a SIGHUP during start-up is applied once the daemon serves (exit code {daemon.process.poll()})")
    daemon.stop()


class SlowConsole:
    """An HTTP receiver that takes 15 s to answer each POST: a console timing out."""

    def __init__(self):
        import http.server
        console = self
        self.requests = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("content-length", 0)))
                console.requests += 1
                time.sleep(15)
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def reload_then_shutdown_checks():
    """SIGTERM while a reload waits for a replaced dispatcher's delivery to a slow console:
    the reload is cancelled and the server stops accepting at once. It used to keep
    answering new webhooks until shutdown_grace ran out."""
    console = SlowConsole()
    with tempfile.TemporaryDirectory(prefix="tickwire-reload-stop-") as tmp:
        port = free_port()
        config_path = os.path.join(tmp, "config.yaml")

        def write(version):
            with open(config_path, "w") as f:
                f.write(config_text(tmp, port, extra_sink=f"""  console:
    type: http
    url: "http://127.0.0.1:{console.port}/hook"
    timeout: 20s
    concurrency: 1
    headers: {{ X-Version: "{version}" }}""").replace("      - { sink: archive }", "      - { sink: archive }\n      - { sink: console }"))

        write("v1")
        daemon = Daemon(config_path, port, os.path.join(tmp, "daemon.log"))
        daemon.start()
        try:
            daemon.post(f"/v1/webhooks/demo/gupshup?token={TOKEN}", body(9_000_000))
            check(wait_for(lambda: console.requests >= 1, timeout=10), "the console is sent the webhook's event")
            write("v2")
            daemon.process.send_signal(signal.SIGHUP)
            time.sleep(1)
            daemon.process.send_signal(signal.SIGTERM)
            stopped_at = time.time()

            def refused():
                # Refused or closed unanswered, not timed out: a daemon that accepts the
                # request and never answers must fail this.
                payload = body(9_000_001)
                request = (f"POST /v1/webhooks/demo/gupshup?token={TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n").encode() + payload
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
                        probe.sendall(request)
                        closed = probe.recv(64) == b""
                except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError):
                    closed = True
                except OSError:
                    closed = False
                return closed and time.time() - stopped_at < 3
            check(wait_for(refused, timeout=3),
                  "new requests are refused within 3 s of SIGTERM, a reload in progress or not")
            code = daemon.process.wait(timeout=30)
            check(code == 0, f"and the daemon exits cleanly ({code}, after {time.time() - stopped_at:.1f} s)")
        finally:
            daemon.stop()
            console.close()
            if failures:
                print(open(daemon.log_path).read()[-3000:])


def hung_sink_checks():
    """SIGTERM while a file sink is stuck for good: its path is a FIFO nobody reads, so the
    sink's open(2) never returns, as a write on a hung disk would not. The daemon still
    answers webhooks, then exits within twice shutdown_grace instead of waiting for ever,
    and the stuck subscription's cursor stays before the event (delivered after a restart)."""
    with tempfile.TemporaryDirectory(prefix="tickwire-hung-sink-") as tmp:
        port = free_port()
        config_path = os.path.join(tmp, "config.yaml")
        stuck = os.path.join(tmp, "stuck", "demo.jsonl")
        os.makedirs(os.path.dirname(stuck))
        os.mkfifo(stuck)
        with open(config_path, "w") as f:
            f.write(config_text(tmp, port, extra_sink=f"""  stuck: {{ type: file, path: "{tmp}/stuck/{{org}}.jsonl" }}""")
                    .replace("      - { sink: archive }", "      - { sink: archive }\n      - { sink: stuck }"))
        daemon = Daemon(config_path, port, os.path.join(tmp, "daemon.log"))
        try:
            daemon.start()
            daemon.post(f"/v1/webhooks/demo/gupshup?token={TOKEN}", body(9_500_000))

            def stuck_for():
                for family in text_string_to_metric_families(daemon.get("/metrics")[1].decode()):
                    for sample in family.samples:
                        if sample.name == "tickwire_subscription_delivery_in_flight_seconds" and sample.labels.get("subscription") == "demo/stuck":
                            return sample.value
                return 0
            check(wait_for(lambda: stuck_for() >= 1, timeout=10), "the stuck delivery shows on /metrics, its age growing")
            status, _ = daemon.post(f"/v1/webhooks/demo/gupshup?token={TOKEN}", body(9_500_001))
            check(status == 200, f"a webhook is accepted while a sink is stuck ({status})")
            check(wait_for(lambda: len(jsonl_ids(os.path.join(tmp, "data", "demo", "events.jsonl"))) == 2, timeout=10),
                  "and the other file sink has both events")
            daemon.process.send_signal(signal.SIGTERM)
            stopped_at = time.time()
            try:
                code = daemon.process.wait(timeout=25)
            except subprocess.TimeoutExpired:
                code = None
            elapsed = time.time() - stopped_at
            check(code == 0 and elapsed < 2 * 5 + 3,
                  f"SIGTERM ends a daemon whose sink is stuck within twice shutdown_grace (exit {code} after {elapsed:.1f} s; grace 5 s)")
            log = open(daemon.log_path).read()
            check(any("sink did not close within server.shutdown_grace" in line and "stuck" in line for line in log.splitlines()),
                  "and it says which sink it gave up on")
            with closing(sqlite3.connect(os.path.join(tmp, "data", "journal.sqlite"))) as db:
                cursor = db.execute("SELECT seq FROM cursors WHERE subscription = 'demo/stuck'").fetchone()
            check(cursor == (0,), f"the stuck subscription's cursor stays before the event ({cursor})")
        finally:
            if daemon.process and daemon.process.poll() is None:
                daemon.kill9()
            if failures:
                print(open(daemon.log_path).read()[-3000:])


def disk_full_checks():
    mount = tempfile.mkdtemp(prefix="tickwire-diskfull-")
    # Mounting needs root: as another user, sudo without a password prompt (scripts/bootstrap
    # uses sudo the same way).
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    result = subprocess.run(sudo + ["mount", "-t", "tmpfs", "-o", f"size=3m,uid={os.getuid()}", "tmpfs", mount],
                            capture_output=True, text=True)
    check(result.returncode == 0, f"a 3 MiB tmpfs is mounted for the disk-full test (needs root or sudo; {result.stderr.strip()})")
    if result.returncode != 0:
        return
    daemon, log_dir = None, None
    try:
        port = free_port()
        path = os.path.join(mount, "config.yaml")
        with open(path, "w") as f:
            f.write(config_text(mount, port))
        log_dir = tempfile.mkdtemp(prefix="tickwire-diskfull-log-")
        daemon = Daemon(path, port, os.path.join(log_dir, "daemon.log"))
        daemon.start()
        filler = os.path.join(mount, "filler")
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k", "count=100"], capture_output=True)
        statuses = []
        for n in range(4000):
            status, _ = daemon.post(f"/v1/webhooks/demo/gupshup?token={TOKEN}", body(3_000_000 + n))
            statuses.append(status)
            if status == 503:
                break
        check(503 in statuses, f"a full disk answers 503 (after {len(statuses)} requests)")
        check(daemon.get("/readyz")[0] == 503, "/readyz reports 503 while the journal cannot be written")
        os.remove(filler)
        # A not-ready instance gets no webhooks behind a load balancer: readiness must come
        # back by itself.
        check(wait_for(lambda: daemon.get("/readyz")[0] == 200, timeout=10),
              "once space returns /readyz is 200 again, with no webhook sent")
        status, _ = daemon.post(f"/v1/webhooks/demo/gupshup?token={TOKEN}", body(3_999_999))
        check(status == 200, "and the next webhook is accepted")
        check(daemon.stop() == 0, "the daemon stops cleanly")
    finally:
        if daemon:
            try:
                daemon.stop()
            except subprocess.TimeoutExpired:
                daemon.kill9()
        subprocess.run(sudo + ["umount", "-l", mount])
        os.rmdir(mount)
        if log_dir:
            shutil.rmtree(log_dir, ignore_errors=True)


def leaving_client_checks(daemon, tmp):
    """Clients that send a webhook and hang up before the answer (the connection is gone by
    the time the journal commits): the daemon stays up and still journals them."""
    before = len(journal_ids(tmp))
    for n in range(300):
        payload = body(7_000_000 + n)
        request = (f"POST /v1/webhooks/demo/gupshup?token={TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n").encode() + payload
        try:
            with socket.create_connection(("127.0.0.1", daemon.port)) as client:
                client.sendall(request)
        except OSError as error:
            check(False, f"clients that hang up before their answer do not stop the daemon (connection {n}: {error})")
            return
    wait_for(lambda: len(journal_ids(tmp)) - before >= 300)
    check(daemon.process.poll() is None and daemon.get("/readyz")[0] == 200,
          "clients that hang up before their answer do not stop the daemon")
    check(len(journal_ids(tmp)) - before == 300, f"and their webhooks are journaled ({len(journal_ids(tmp)) - before} of 300)")


def shutdown_checks(daemon, tmp):
    """SIGTERM while webhooks are in flight: a clean exit, nothing acknowledged lost, and
    every database's WAL left empty."""
    with Load(daemon, 6_000_000, threads=16) as load:
        deadline = time.time() + 10
        while time.time() < deadline and len(load.acked) < 300:
            time.sleep(0.01)
        check(daemon.stop() == 0, "SIGTERM under load stops the daemon with exit code 0")
    acked = set(load.acked)
    check(acked <= journal_ids(tmp), f"no acknowledged event missing after SIGTERM ({len(acked - journal_ids(tmp))} missing)")
    for name in ("journal.sqlite-wal", "journal-ids.sqlite-wal"):
        path = os.path.join(tmp, "data", name)
        size = os.path.getsize(path) if os.path.exists(path) else 0
        check(size == 0, f"{name} is empty after a clean stop ({size} bytes)")


def main():
    with tempfile.TemporaryDirectory(prefix="tickwire-ops-") as tmp:
        port = free_port()
        config_path = os.path.join(tmp, "config.yaml")
        with open(config_path, "w") as f:
            f.write(config_text(tmp, port))
        daemon = Daemon(config_path, port, os.path.join(tmp, "daemon.log"))
        daemon.start()
        try:
            crash_checks(daemon, tmp)
            reload_checks(daemon, tmp, config_path)
            second_daemon_checks(daemon, tmp, config_path)
            metric_checks(daemon)
            leaving_client_checks(daemon, tmp)
            shutdown_checks(daemon, tmp)
            stale_pid_checks(tmp, config_path)
            early_reload_checks(tmp, config_path)
            replay_elsewhere_checks(config_path)
        finally:
            daemon.stop()
            if failures:
                print(open(daemon.log_path).read()[-3000:])
    reload_then_shutdown_checks()
    hung_sink_checks()
    disk_full_checks()
    print(f"e2e operations: {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
