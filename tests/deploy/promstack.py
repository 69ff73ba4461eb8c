"""A real Prometheus and Alertmanager (Debian's binaries) for tests: free
loopback ports, temp storage, stopped by PID. Built on the integration
harness's Process, free_port, wait_for and http (tests/integration/harness.py).
"""

import json
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness  # noqa: E402

PROMETHEUS = os.environ.get("PROMETHEUS_BIN", "/usr/bin/prometheus")
ALERTMANAGER = os.environ.get("ALERTMANAGER_BIN", "/usr/bin/prometheus-alertmanager")


def _get_json(url, timeout=5.0):
    status, body, _ = harness.http("GET", url, timeout=timeout)
    if status != 200:
        raise AssertionError(f"GET {url}: {status} {body[:500]}")
    return json.loads(body)


class Prometheus:
    """Prometheus with `config_text` as prometheus.yml and `files` ({name:
    text}, e.g. rule files) beside it, so relative rule_files resolve."""

    def __init__(self, workdir, config_text, files=None, args=(), ready_timeout=30):
        self.port = harness.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = os.path.join(workdir, f"prometheus-{self.port}")
        os.makedirs(os.path.join(self.dir, "data"))
        for name, text in (files or {}).items():
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)
        self.config_path = os.path.join(self.dir, "prometheus.yml")
        with open(self.config_path, "w") as f:
            f.write(config_text)
        self.process = harness.Process(
            [PROMETHEUS, f"--config.file={self.config_path}",
             f"--storage.tsdb.path={os.path.join(self.dir, 'data')}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn", *args],
            os.path.join(self.dir, "prometheus.log"),
        )
        try:
            harness.wait_for(self._ready, ready_timeout, interval=0.2, message="prometheus /-/ready")
        except AssertionError:
            print(self.process.output()[-5000:], file=sys.stderr)
            self.process.stop()
            raise

    def _ready(self):
        if not self.process.alive():
            raise AssertionError(f"prometheus exited: {self.process.output()[-3000:]}")
        return harness.http("GET", self.url + "/-/ready", timeout=2)[0] == 200

    def api(self, path, **params):
        """GET /api/v1/<path>; returns `data`, raises unless status is success."""
        query = urllib.parse.urlencode(params)
        body = _get_json(f"{self.url}/api/v1/{path}" + (f"?{query}" if query else ""))
        if body.get("status") != "success":
            raise AssertionError(f"{path} {params}: {body}")
        return body["data"]

    def query(self, expr, time=None):
        """An instant query; returns the result list (vector) or [scalar]."""
        params = {"query": expr}
        if time is not None:
            params["time"] = f"{time:.3f}"
        data = self.api("query", **params)
        return data["result"] if data["resultType"] in ("vector", "matrix") else [data["result"]]

    def targets_up(self, job):
        active = self.api("targets", state="active")["activeTargets"]
        return [t for t in active if t["labels"].get("job") == job and t["health"] == "up"]

    def alerts(self):
        return self.api("alerts")["alerts"]

    def stop(self):
        return self.process.stop()


class Alertmanager:
    """Alertmanager with `config_text`, clustering off, temp storage."""

    def __init__(self, workdir, config_text, args=(), ready_timeout=30):
        self.port = harness.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = os.path.join(workdir, f"alertmanager-{self.port}")
        os.makedirs(os.path.join(self.dir, "data"))
        self.config_path = os.path.join(self.dir, "alertmanager.yml")
        with open(self.config_path, "w") as f:
            f.write(config_text)
        self.process = harness.Process(
            [ALERTMANAGER, f"--config.file={self.config_path}",
             f"--storage.path={os.path.join(self.dir, 'data')}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=",
             "--log.level=warn", *args],
            os.path.join(self.dir, "alertmanager.log"),
        )
        try:
            harness.wait_for(self._ready, ready_timeout, interval=0.2, message="alertmanager /-/ready")
        except AssertionError:
            print(self.process.output()[-5000:], file=sys.stderr)
            self.process.stop()
            raise

    def _ready(self):
        if not self.process.alive():
            raise AssertionError(f"alertmanager exited: {self.process.output()[-3000:]}")
        return harness.http("GET", self.url + "/-/ready", timeout=2)[0] == 200

    def alerts(self, **labels):
        """Alerts the v2 API lists (active, suppressed or unprocessed; not
        resolved) whose labels include `labels`."""
        return [a for a in _get_json(self.url + "/api/v2/alerts")
                if all(a["labels"].get(k) == v for k, v in labels.items())]

    def stop(self):
        return self.process.stop()
