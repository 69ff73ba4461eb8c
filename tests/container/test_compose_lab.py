"""The docker-compose lab (deploy/docker-compose.yml) for real, under
podman-compose with deploy/podman/compose.override.yml: the demo app, the
loopcanary sidecar in the app's network namespace (network_mode:
service:app), Prometheus scraping it by service name with the lab's rules,
and Alertmanager with the lab's routing — all from images built from this
repository (Prometheus and Alertmanager from Debian's packages: no registry
is reachable here). Grafana is not started: it has no Debian package and
its image cannot be pulled; tests/deploy checks its provisioning files and
every dashboard query against a real Prometheus instead.

The README's "See the alerts fire" recipe, unchanged: the app's loop is
blocked for 800 ms every 1.5 s until LoopcanaryRuntimeCritical, with the
production `for: 2m`, reaches Alertmanager routed to the `pager` receiver.
About four minutes, most of it the `for:`.
"""

import json
import os
import re
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import containerlib as c  # noqa: E402
from containerlib import harness, helmlib  # noqa: E402

DEPLOY = os.path.join(c.SOURCE, "deploy")
SERVICES = ["app", "loopcanary", "prometheus", "alertmanager"]
TARGET = "demo"


def podman_compose():
    version = re_setting("PODMAN_COMPOSE_VERSION")
    path = os.path.join(helmlib.TOOLS, f"podman-compose-{version}", "bin", "podman-compose")
    if not os.path.exists(path):
        raise AssertionError(f"podman-compose {version} is not at {path}: run scripts/deps.sh")
    return path


def re_setting(name):
    with open(os.path.join(c.SOURCE, "scripts", "deps.sh")) as f:
        return re.search(rf"^{name}=(\S+)$", f.read(), re.M).group(1)


class ComposeLabTest(unittest.TestCase):
    def setUp(self):
        self.started = time.monotonic()
        self.project = c.run_prefix("lab")
        tags = {name: c.image(name) for name in ("loopcanary", "demo-app", "prometheus", "alertmanager")}
        self.ports = {name: harness.free_port() for name in ("app", "loopcanary", "prometheus", "alertmanager")}
        self.env = dict(c.env(), LAB_ADDRESS="127.0.0.1",
                        LAB_APP_PORT=str(self.ports["app"]), LAB_LOOPCANARY_PORT=str(self.ports["loopcanary"]),
                        LAB_PROMETHEUS_PORT=str(self.ports["prometheus"]),
                        LAB_ALERTMANAGER_PORT=str(self.ports["alertmanager"]),
                        LAB_APP_IMAGE=tags["demo-app"], LAB_LOOPCANARY_IMAGE=tags["loopcanary"],
                        LAB_PROMETHEUS_IMAGE=tags["prometheus"], LAB_ALERTMANAGER_IMAGE=tags["alertmanager"])
        self.base = [podman_compose(), "-p", self.project, "-f", "docker-compose.yml",
                     "-f", "podman/compose.override.yml"]
        self.addCleanup(self.down)
        r = self.compose("up", "-d", "--no-build", *SERVICES, timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
        self.loopcanary = f"http://127.0.0.1:{self.ports['loopcanary']}"
        self.app = f"http://127.0.0.1:{self.ports['app']}"
        self.prometheus = f"http://127.0.0.1:{self.ports['prometheus']}"
        self.alertmanager = f"http://127.0.0.1:{self.ports['alertmanager']}"
        c.log(self.started, f"lab {self.project} up: {self.ports}")

    def compose(self, *args, timeout=120):
        return subprocess.run([*self.base, *args], cwd=DEPLOY, env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def down(self):
        r = self.compose("down", "-v", "-t", "0", timeout=180)
        if r.returncode != 0:
            print(r.stdout[-2000:], r.stderr[-2000:], file=sys.stderr)
        left = c.podman("ps", "-a", "--filter", f"label=io.podman.compose.project={self.project}",
                        "--format", "{{.ID}}", check=False).stdout.split()
        for container in left:
            c.podman("rm", "-f", "-t", "0", container, check=False)
        # podman-compose 1.0.6's down leaves the project's network behind.
        c.podman("network", "rm", "-f", f"{self.project}_default", check=False)

    def get_json(self, url):
        status, body, _ = harness.http("GET", url, timeout=10)
        if status != 200:
            raise ValueError(f"{url}: {status} {body[:300]}")
        return json.loads(body)

    def prometheus_query(self, expr):
        return self.get_json(f"{self.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))["data"]["result"]

    def critical_alerts(self):
        alerts = self.get_json(f"{self.alertmanager}/api/v2/alerts")
        return [a for a in alerts if a["labels"].get("alertname") == "LoopcanaryRuntimeCritical"
                and a["labels"].get("target") == TARGET]

    def test_blocked_loop_pages_through_alertmanager(self):
        # The sidecar shares the app's network: it is reached on the app's
        # published port and probes the app on 127.0.0.1.
        try:
            c.wait_status(self.loopcanary, lambda s: c.target(s, TARGET)["status"] == 0, 120,
                          "the lab's loopcanary to call the demo app healthy")
        except AssertionError:
            print(c.podman("logs", "--tail", "30", f"{self.project}_loopcanary_1", check=False).stdout,
                  file=sys.stderr)
            raise
        inspect = c.inspect(f"{self.project}_loopcanary_1")
        self.assertTrue(inspect["HostConfig"]["ReadonlyRootfs"])
        self.assertTrue(inspect["HostConfig"]["NetworkMode"].startswith("container:"), inspect["HostConfig"]["NetworkMode"])
        c.log(self.started, "loopcanary healthy; waiting for Prometheus to scrape app:19420")

        def scraped_healthy():
            up = self.prometheus_query('up{job="loopcanary"}')
            status = self.prometheus_query(f'loopcanary_runtime_status{{job="loopcanary",target="{TARGET}"}}')
            return up and up[0]["value"][1] == "1" and status and status[0]["value"][1] == "0"
        harness.wait_for(scraped_healthy, 90, interval=1, message="Prometheus to scrape a healthy status")
        rules = self.get_json(f"{self.prometheus}/api/v1/rules")["data"]["groups"]
        self.assertEqual(len(rules), 2, [g["name"] for g in rules])
        am_status = self.get_json(f"{self.prometheus}/api/v1/alertmanagers")["data"]["activeAlertmanagers"]
        self.assertEqual(len(am_status), 1, am_status)
        c.log(self.started, "scraped healthy; blocking the app's loop 800 ms every 1.5 s")

        stop = threading.Event()
        blocks = []

        def block_loop():
            while not stop.is_set():
                status, _, _ = harness.http("POST", self.app + "/internal/block?ms=800", body=b"", timeout=10)
                blocks.append(status)
                stop.wait(1.5)
        blocker = threading.Thread(target=block_loop, daemon=True)
        blocker.start()
        try:
            alerts = harness.wait_for(self.critical_alerts, 240, interval=2,
                                      message="LoopcanaryRuntimeCritical in Alertmanager (for: 2m)")
        finally:
            stop.set()
            blocker.join(15)
        c.log(self.started, f"LoopcanaryRuntimeCritical in Alertmanager after {len(blocks)} blocks")
        self.assertTrue(blocks and all(s == 200 for s in blocks), blocks)
        alert = alerts[0]
        self.assertEqual(alert["labels"]["severity"], "critical")
        self.assertEqual(alert["labels"]["job"], "loopcanary")
        self.assertEqual([r["name"] for r in alert["receivers"]], ["pager"])
        self.assertIn("docs/runbook.md#loopcanaryruntimecritical", alert["annotations"]["runbook_url"])

        c.wait_status(self.loopcanary, lambda s: c.target(s, TARGET)["status"] == 0, 60,
                      "the status to recover once the blocks stop")
        c.log(self.started, "recovered")


if __name__ == "__main__":
    unittest.main()
