"""Real processes for integration tests: the demo app (uvicorn), loopcanary,
and helpers to scrape, poll and stop them.

Everything binds 127.0.0.1 on free ports, every process is stopped by its PID
(never by name), and every wait is a condition with a deadline.

Environment (set by ctest; defaults work from a source checkout):
  LOOPCANARY_BIN     the loopcanary binary
  LOOPCANARY_SOURCE  the source tree (for deploy/lab/app)
"""

import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

SOURCE = os.environ.get(
    "LOOPCANARY_SOURCE", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
)
BINARY = os.environ.get("LOOPCANARY_BIN", os.path.join(SOURCE, "build", "release", "exporter", "loopcanary"))
PYTHON = "/usr/bin/python3"  # Debian's, with fastapi and uvicorn


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout, interval=0.05, message="condition"):
    """Polls `condition()` until it returns something truthy; returns it.
    Raises AssertionError naming `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except (OSError, urllib.error.URLError, ValueError, KeyError) as e:
            last_error = e
        if time.monotonic() >= deadline:
            extra = f" (last error: {last_error})" if last_error else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {message}{extra}")
        time.sleep(interval)


LEVELS = {"healthy": 0, "degraded": 1, "critical": 2, "unresponsive": 3}


def starved(t):
    """True when a target's status (from /api/v1/status) is unknown because
    loopcanary said its own timers were late (prober_starved)."""
    return t["status"] == -1 and t["signals"]["prober_starved"]


def evidence_level(t, finding=None):
    """The highest level at which a finding's evidence held in this status
    read (every finding but prober_starved, or only `finding`); -1 when none
    held. On a busy machine loopcanary withholds its verdict (status unknown,
    prober_starved) but still measures and lists the evidence: a detection
    test reads that instead of the status, and says how often it had to."""
    held = [LEVELS.get(e["level"], -1) for f in t["findings"]
            if f["finding"] != "prober_starved" and (finding is None or f["finding"] == finding)
            for e in f["evidence"] if e["holds"]]
    return max(held, default=-1)


def judged_level(t, finding=None):
    """The status, or while loopcanary was starved the level its evidence
    held at (see evidence_level)."""
    return evidence_level(t, finding) if starved(t) else t["status"]


def http(method, url, body=None, timeout=5.0, headers=None):
    """Returns (status, body text, headers); never raises on HTTP error codes."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace"), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace"), dict(e.headers)


_started = []


@atexit.register
def _stop_leftovers():
    """A test that failed between starting a process and its try/finally (say,
    loopcanary refused its config after the demo app started) would leave the
    app running: stop whatever is still alive when the test run ends."""
    for p in _started:
        p.stop(timeout=2.0)


class Process:
    """A child process with its output in a log file, stopped by PID."""

    def __init__(self, args, log_path, env=None):
        self.args = args
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            args, stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        self.pid = self.proc.pid
        _started.append(self)

    def alive(self):
        return self.proc.poll() is None

    def output(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def stop(self, timeout=5.0):
        """SIGTERM, then SIGKILL after `timeout`; returns the exit status."""
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log.close()
        return self.proc.returncode


class DemoApp:
    """deploy/lab/app run by Debian's uvicorn on a free loopback port; with
    `workers` > 1 a pre-fork server of that many worker processes, each with
    its own event loop: `uvicorn --workers N`, or with server="gunicorn"
    Debian's gunicorn with uvicorn's worker class."""

    def __init__(self, workdir, port=None, workers=1, server="uvicorn", wait=True):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        app_dir = os.path.join(SOURCE, "deploy", "lab", "app")
        if server == "gunicorn":
            args = [
                PYTHON, "-m", "gunicorn", "app:app", "--chdir", app_dir,
                "-k", "uvicorn.workers.UvicornWorker", "-w", str(workers),
                "-b", f"127.0.0.1:{self.port}", "--log-level", "warning",
            ]
        else:
            args = [
                PYTHON, "-m", "uvicorn", "app:app", "--app-dir", app_dir,
                "--host", "127.0.0.1", "--port", str(self.port),
                "--loop", "asyncio", "--http", "h11", "--no-access-log", "--log-level", "warning",
            ]
            if workers > 1:
                args += ["--workers", str(workers)]
        self.process = Process(args, os.path.join(workdir, f"app-{self.port}.log"))
        if not wait:
            return
        try:
            wait_for(lambda: self.get("/health")[0] == 200, 20, message="the demo app to answer /health")
        except AssertionError:
            print(self.process.output(), file=sys.stderr)
            self.process.stop()
            raise

    def get(self, path, timeout=5.0):
        return http("GET", self.url + path, timeout=timeout)

    def truth(self, reset=True):
        status, body, _ = self.get(f"/internal/truth?reset={'true' if reset else 'false'}")
        assert status == 200, body
        return json.loads(body)

    def block(self, ms, delay_ms=0, at=None):
        """Blocks the event loop of the worker that takes this request (the
        only one without --workers) for `ms` ms, `delay_ms` from now or at
        CLOCK_MONOTONIC time `at`; returns the app's answer (with its pid)."""
        query = f"ms={ms}&delay_ms={delay_ms}" + (f"&at={at}" if at is not None else "")
        status, body, _ = http("POST", f"{self.url}/internal/block?{query}")
        assert status == 200, body
        return json.loads(body)

    def every_truth(self, pids, attempts=500, required=True):
        """Every worker's /internal/truth (without reset), by pid: asks on
        fresh connections until each worker has answered once. A worker that
        never answered in `attempts` fails, or with required=False is left
        out of the result."""
        seen = {}
        for _ in range(attempts):
            body = self.truth(reset=False)
            seen[body["pid"]] = body
            if set(pids) <= set(seen):
                return seen
        if not required:
            return seen
        raise AssertionError(f"workers {sorted(set(pids) - set(seen))} never answered /internal/truth")

    def block_worker(self, pid, ms, at, attempts=500):
        """Blocks worker `pid` at CLOCK_MONOTONIC `at`: asks on fresh
        connections (the kernel gives each to whichever worker accepts it;
        the others decline) until that worker takes it."""
        for _ in range(attempts):
            status, body, _ = http("POST", f"{self.url}/internal/block?ms={ms}&at={at}&pid={pid}")
            assert status == 200, body
            answer = json.loads(body)
            if answer["scheduled"]:
                return answer
        raise AssertionError(f"worker {pid} never took a block request in {attempts} tries")

    def pids(self, timeout=20):
        """The worker pids, learned from /health answers on fresh connections."""
        seen = set()

        def all_seen():
            _, body, _ = self.get("/health")
            seen.add(json.loads(body)["pid"])
            return len(seen) >= self.workers

        wait_for(all_seen, timeout, interval=0.01, message=f"{self.workers} workers to answer")
        return sorted(seen)

    def wait_block_done(self, count, timeout):
        """Waits until `count` injected blocks have ended; returns them."""
        return wait_for(
            lambda: (lambda b: b if len(b) >= count else None)(self.truth(reset=False)["blocks"]),
            timeout, interval=0.05, message=f"{count} injected blocks to end",
        )

    def stop(self):
        return self.process.stop()


class Metrics:
    """One parsed scrape of /metrics."""

    def __init__(self, text):
        self.text = text
        self.samples = []
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                self.samples.append(s)

    def get(self, name, **labels):
        """The value of the one sample named `name` whose labels include
        `labels`, or None when there is none."""
        found = [s.value for s in self.samples
                 if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
        if len(found) > 1:
            raise AssertionError(f"{name}{labels} matches {len(found)} samples")
        return found[0] if found else None

    def sum(self, name, **labels):
        return sum(s.value for s in self.samples
                   if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))

    def names(self):
        return {s.name for s in self.samples}


class Loopcanary:
    """The loopcanary binary with a config written to a temp dir, on a free port
    (it listens on :0 and logs the address it got)."""

    def __init__(self, workdir, config_text, args=(), env=None, wait_ready=True):
        self.workdir = workdir
        self.config_path = os.path.join(workdir, f"loopcanary-{time.monotonic_ns()}.yaml")
        with open(self.config_path, "w") as f:
            f.write(config_text)
        self.process = Process(
            [BINARY, f"--config.file={self.config_path}", "--web.listen-address=127.0.0.1:0",
             "--log.level=debug", *args],
            self.config_path + ".log", env=env,
        )
        self.url = None
        if wait_ready:
            self.wait_listening()

    def wait_listening(self, timeout=15):
        def address():
            if not self.process.alive():
                raise AssertionError(f"loopcanary exited: {self.process.output()}")
            m = re.search(r'msg="listening" address=(\S+)', self.process.output())
            return m.group(1) if m else None
        try:
            self.url = "http://" + wait_for(address, timeout, message="loopcanary to listen")
            wait_for(lambda: self.get("/-/ready")[0] == 200, timeout, message="loopcanary /-/ready")
        except AssertionError:
            print(self.process.output()[-5000:], file=sys.stderr)
            raise
        return self.url

    def write_config(self, text):
        with open(self.config_path, "w") as f:
            f.write(text)

    def get(self, path, timeout=5.0):
        return http("GET", self.url + path, timeout=timeout)

    def post(self, path, timeout=5.0):
        return http("POST", self.url + path, body=b"", timeout=timeout)

    def metrics(self):
        status, body, _ = self.get("/metrics")
        assert status == 200, body
        return Metrics(body)

    def status(self):
        status, body, _ = self.get("/api/v1/status")
        assert status == 200, body
        return json.loads(body)

    def target_status(self, target):
        for t in self.status()["targets"]:
            if t["name"] == target:
                return t
        raise KeyError(target)

    def stop(self):
        return self.process.stop()


class Workdir:
    """A temp dir removed at the end unless LOOPCANARY_KEEP_TMP is set."""

    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="loopcanary-test-")
        return self.path

    def __exit__(self, *exc):
        if not os.environ.get("LOOPCANARY_KEEP_TMP"):
            shutil.rmtree(self.path, ignore_errors=True)
        else:
            print(f"kept {self.path}", file=sys.stderr)


def canary_config(url, interval="10ms", idle_interval=None, timeout="5s", window="10s",
                  extra_canary="", routes="", scenarios="", thresholds="", global_extra=""):
    """A one-target config with a /health canary; pieces can be appended."""
    idle = f"idle_interval: {idle_interval}, " if idle_interval else f"idle_interval: {interval}, "
    text = f"""
global: {{ window: {window}{global_extra} }}
targets:
  - name: demo
    url: {url}
    canaries:
      - {{ name: health, path: /health, interval: {interval}, {idle}timeout: {timeout}{extra_canary} }}
"""
    if routes:
        text += "    routes:\n" + routes
    if scenarios:
        text += "scenarios:\n" + scenarios
    if thresholds:
        text += "thresholds:\n" + thresholds
    return text
