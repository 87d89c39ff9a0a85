"""Starts and stops a real tickwire daemon for end-to-end scripts (standard library only)."""
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("TICKWIRE_BIN", os.path.join(ROOT, ".build", "debug", "tickwire"))
CORPUS = os.path.abspath(os.path.join(ROOT, "..", "shared", "corpus"))
# Straight to 127.0.0.1: urllib's default opener follows http_proxy, which a CI machine may set.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout=15):
    """Polls until condition() holds or the time runs out; returns its last value."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


class Daemon:
    def __init__(self, config_path, port, log_path):
        self.config_path, self.port, self.log_path = config_path, port, log_path
        self.process = None

    def start(self, timeout=30):
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen([BINARY, "serve", "--config", self.config_path], stdout=log, stderr=log)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.process.returncode}; see {self.log_path}")
            try:
                if self.get("/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("daemon did not become ready")

    def kill9(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            return self.process.wait(timeout=30)
        return self.process.returncode if self.process else None

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path):
        try:
            with OPENER.open(self.url(path), timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def post(self, path, body, content_type="application/json", headers=None):
        request = urllib.request.Request(self.url(path), data=body, method="POST")
        request.add_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            request.add_header(k, v)
        try:
            with OPENER.open(request, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()


def write_config(directory, port, token, durability="full"):
    path = os.path.join(directory, "config.yaml")
    with open(path, "w") as f:
        f.write(f"""
server: {{ listen: "127.0.0.1:{port}" }}
storage: {{ directory: "{directory}/data", durability: {durability} }}
include: []
sinks:
  archive: {{ type: file, path: "{directory}/data/{{org}}/events.jsonl" }}
orgs:
  demo:
    api_keys: [ "e2e-api-key-0123456789" ]
    channels:
      gupshup: {{ provider: gupshup, auth: {{ type: token, token: "{token}" }} }}
    subscriptions:
      - {{ sink: archive }}
""")
    return path


def jsonl_ids(path):
    if not os.path.exists(path):
        return []
    ids = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                ids.append(json.loads(line)["id"])
    return ids


failures = []


def check(condition, message):
    """Prints one ok/FAIL line and remembers failures (scripts exit non-zero on any)."""
    print(("ok   " if condition else "FAIL ") + message)
    if not condition:
        failures.append(message)
