"""Why the chart sets no CPU limit, shown with a real CFS quota: the demo pod
of the chart (as in test_demo_pod.py) with `sidecar.resources.limits.cpu`
set to 10m, which `podman play kube` applies as the container's CFS quota
(1 ms of CPU per 100 ms period, like `podman run --cpus 0.01`). The app is
idle and healthy the whole time; only the prober is starved.

loopcanary must then say so — the finding prober_starved, status unknown
(-1) — and never blame the app: no status sample may be degraded, critical
or unresponsive (docs/design.md, "Prober starved"). If this test fails with
a status of 1-3, the product reported a stall that did not happen.
"""

import json
import os
import sys
import tempfile
import time
import unittest

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import containerlib as c  # noqa: E402
from containerlib import harness, helmlib  # noqa: E402

TARGET = "demo"
CPU_LIMIT = "10m"
OBSERVE_SECONDS = 60


class CpuLimitTest(unittest.TestCase):
    def setUp(self):
        self.started = time.monotonic()
        lc_registry, lc_repo, lc_tag = c.split_tag(c.image("loopcanary"))
        app_registry, app_repo, app_tag = c.split_tag(c.image("demo-app"))
        self.release = c.run_prefix("cpu")
        _, objects = helmlib.template(
            release=self.release, values=[os.path.join(helmlib.CHART, "ci", "demo-values.yaml")],
            sets=[f"image.registry={lc_registry}", f"image.repository={lc_repo}", f"image.tag={lc_tag}",
                  "image.pullPolicy=Never", f"demo.image.registry={app_registry}",
                  f"demo.image.repository={app_repo}", f"demo.image.tag={app_tag}", "demo.image.pullPolicy=Never",
                  f"sidecar.resources.limits.cpu={CPU_LIMIT}"])
        deployment = helmlib.find(objects, "Deployment")
        configmap = helmlib.find(objects, "ConfigMap", f"{self.release}-loopcanary-config")
        sidecar = next(x for x in deployment["spec"]["template"]["spec"]["containers"] if x["name"] == "loopcanary")
        self.assertEqual(sidecar["resources"]["limits"]["cpu"], CPU_LIMIT)
        self.lc_port = harness.free_port()
        for port in sidecar["ports"]:
            port.update(hostPort=self.lc_port, hostIP="127.0.0.1")
        self.tmp = tempfile.TemporaryDirectory(prefix="loopcanary-cpu-")
        self.kube_file = os.path.join(self.tmp.name, "cpu.yaml")
        with open(self.kube_file, "w") as f:
            yaml.safe_dump_all([configmap, deployment], f)
        self.addCleanup(self.tmp.cleanup)
        # Last in, first out: down the pod, then the ConfigMap's volume that
        # podman 4.3's --down leaves behind.
        self.addCleanup(lambda: c.podman("volume", "rm", "-f", f"{self.release}-loopcanary-config", check=False))
        self.addCleanup(lambda: c.podman("play", "kube", "--down", self.kube_file, check=False, timeout=120))
        c.podman("play", "kube", self.kube_file, timeout=180)
        pods = c.podman("pod", "ps", "--filter", f"name={self.release}", "--format", "{{.Name}}").stdout.split()
        self.assertEqual(len(pods), 1, pods)
        self.sidecar = f"{pods[0]}-loopcanary"
        self.url = f"http://127.0.0.1:{self.lc_port}"

    def test_throttled_prober_reports_itself_starved_never_the_app(self):
        host = c.inspect(self.sidecar)["HostConfig"]
        self.assertEqual((host["CpuQuota"], host["CpuPeriod"]), (1000, 100000), "the 10m limit as a CFS quota")

        def listening():
            return harness.http("GET", self.url + "/-/healthy", timeout=10)[0] == 200
        harness.wait_for(listening, 60, interval=0.5, message="the throttled loopcanary to answer")
        c.log(self.started, "throttled sidecar answers; observing")

        samples = []  # (seconds, status, status_name, active findings, unknown_reason)
        deadline = time.monotonic() + OBSERVE_SECONDS
        while time.monotonic() < deadline:
            status, body, _ = harness.http("GET", self.url + "/api/v1/status", timeout=20)
            if status == 200:
                t = c.target(json.loads(body), TARGET)
                samples.append((round(time.monotonic() - self.started, 1), t["status"], t["status_name"],
                                c.active_findings(t), t.get("unknown_reason")))
            time.sleep(0.5)
        throttled = c.podman("exec", self.sidecar, "cat", "/sys/fs/cgroup/cpu/cpu.stat", check=False).stdout
        c.log(self.started, f"{len(samples)} samples; cgroup cpu.stat: {' '.join(throttled.split())}")
        for s in samples[:: max(1, len(samples) // 12)]:
            c.log(self.started, f"  {s}")

        self.assertGreaterEqual(len(samples), 20, "the status endpoint answered too rarely to judge")
        blamed = [s for s in samples if s[1] >= 1]
        self.assertEqual(blamed, [], "a CPU-starved sidecar reported the idle app as degraded or worse")
        starved = [s for s in samples if "prober_starved" in s[3]]
        self.assertTrue(starved, f"prober_starved never raised under a {CPU_LIMIT} CPU limit: {samples[-5:]}")
        self.assertTrue(all(s[1] == -1 for s in starved), "prober_starved must make the status unknown")
        metrics = harness.Metrics(harness.http("GET", self.url + "/metrics", timeout=20)[1])
        self.assertIsNotNone(metrics.get("loopcanary_finding", target=TARGET, finding="prober_starved"))


if __name__ == "__main__":
    unittest.main()
