"""The chart's demo mode run for real: `helm template` of
helm/loopcanary/ci/demo-values.yaml with the images built from this
repository (test_images.py), started with `podman play kube` — the demo
FastAPI app and the loopcanary sidecar in one pod, sharing its network as in
Kubernetes, the config mounted from the rendered ConfigMap, the rendered
securityContext and resources applied.

From the host: loopcanary's /metrics and /api/v1/status say healthy; the
app's loop is blocked through the app's own port (POST /internal/block) and
the status goes critical, then healthy again. The sidecar runs as uid 10001
with a read-only root filesystem, no capabilities and the 64Mi memory limit
(and stays under it), without a CPU limit.

What podman does not model, and where it is covered instead:
- Services, PodMonitor, PrometheusRule: not started here (podman has no
  Services or CRDs); the test publishes the pod's ports on loopback by
  adding hostPort/hostIP to the rendered containers, the only change made to
  the rendered Deployment. tests/helm validates those objects.
- Probes: podman turns a liveness probe into a healthcheck that needs curl
  in the image and a systemd timer to run; neither exists here, so probes do
  not run. tests/helm asserts the probe paths (/-/healthy, /-/ready) and the
  validator that they name a declared port; this test calls both endpoints.
- Native sidecars (initContainers with restartPolicy: Always): podman would
  run the init container to completion first, which a server never reaches;
  the native form is covered by tests/helm's render assertions, and this
  test runs the plain sidecar form of the same container template.
"""

import os
import re
import sys
import tempfile
import time
import unittest

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import containerlib as c  # noqa: E402
from containerlib import harness, helmlib  # noqa: E402

TARGET = "demo"
MEMORY_LIMIT = 64 * 1024 * 1024


def publish(container, port_name, host_port):
    for port in container["ports"]:
        if port["name"] == port_name:
            port.update(hostPort=host_port, hostIP="127.0.0.1")
            return
    raise AssertionError(f"{container['name']} has no port {port_name}")


class DemoPodTest(unittest.TestCase):
    def setUp(self):
        self.started = time.monotonic()
        lc_registry, lc_repo, lc_tag = c.split_tag(c.image("loopcanary"))
        app_registry, app_repo, app_tag = c.split_tag(c.image("demo-app"))
        self.release = c.run_prefix("demo")
        _, objects = helmlib.template(
            release=self.release, values=[os.path.join(helmlib.CHART, "ci", "demo-values.yaml")],
            sets=[f"image.registry={lc_registry}", f"image.repository={lc_repo}", f"image.tag={lc_tag}",
                  "image.pullPolicy=Never", f"demo.image.registry={app_registry}",
                  f"demo.image.repository={app_repo}", f"demo.image.tag={app_tag}", "demo.image.pullPolicy=Never"])
        self.rendered = objects
        deployment = helmlib.find(objects, "Deployment")
        configmap = helmlib.find(objects, "ConfigMap", f"{self.release}-loopcanary-config")
        pod = deployment["spec"]["template"]["spec"]
        self.containers = {ctr["name"]: ctr for ctr in pod["containers"]}
        self.assertEqual(sorted(self.containers), ["app", "loopcanary"])
        self.app_port, self.lc_port = harness.free_port(), harness.free_port()
        publish(self.containers["app"], "http", self.app_port)
        publish(self.containers["loopcanary"], "loopcanary", self.lc_port)

        self.tmp = tempfile.TemporaryDirectory(prefix="loopcanary-play-")
        self.kube_file = os.path.join(self.tmp.name, "demo.yaml")
        with open(self.kube_file, "w") as f:
            yaml.safe_dump_all([configmap, deployment], f)
        self.addCleanup(self.tmp.cleanup)
        self.addCleanup(self.down)
        c.podman("play", "kube", self.kube_file, timeout=180)
        pods = c.podman("pod", "ps", "--filter", f"label=app.kubernetes.io/instance={self.release}",
                        "--format", "{{.ID}} {{.Name}}").stdout.split()
        if not pods:  # podman 4.3 labels the pod with the template's labels; fall back to the name
            pods = c.podman("pod", "ps", "--filter", f"name={self.release}", "--format", "{{.ID}} {{.Name}}").stdout.split()
        self.assertEqual(len(pods), 2, pods)
        self.pod_id, self.pod_name = pods
        self.sidecar = f"{self.pod_name}-loopcanary"
        self.app = f"{self.pod_name}-app"
        self.url = f"http://127.0.0.1:{self.lc_port}"
        self.app_url = f"http://127.0.0.1:{self.app_port}"
        c.log(self.started, f"pod {self.pod_name} started; loopcanary on {self.url}, app on {self.app_url}")

    def down(self):
        r = c.podman("play", "kube", "--down", self.kube_file, check=False, timeout=120)
        if getattr(self, "pod_id", None):
            c.podman("pod", "rm", "-f", "-t", "0", self.pod_id, check=False)
        # podman 4.3's --down leaves the ConfigMap's volume behind.
        c.podman("volume", "rm", "-f", f"{self.release}-loopcanary-config", check=False)
        if r.returncode != 0 and "no such pod" not in r.stderr.lower():
            print(r.stdout, r.stderr, file=sys.stderr)

    def logs(self):
        return c.podman("logs", "--tail", "40", self.sidecar, check=False).stdout

    def test_healthy_blocked_critical_healthy(self):
        try:
            healthy = c.wait_status(self.url, lambda s: c.target(s, TARGET)["status"] == 0, 120,
                                    "loopcanary in the pod to call the demo app healthy")
        except AssertionError:
            print(self.logs(), file=sys.stderr)
            raise
        c.log(self.started, f"healthy: findings {c.active_findings(c.target(healthy, TARGET))}")
        self.assertEqual(c.target(healthy, TARGET)["url"], "http://127.0.0.1:8000", "probes over the pod's loopback")

        status, body, _ = harness.http("GET", self.url + "/metrics", timeout=10)
        self.assertEqual(status, 200)
        metrics = harness.Metrics(body)
        self.assertEqual(metrics.get("loopcanary_runtime_status", target=TARGET), 0)
        self.assertEqual(metrics.get("loopcanary_finding", target=TARGET, finding="event_loop_starvation"), 0)
        for path in ("/-/healthy", "/-/ready"):
            self.assertEqual(harness.http("GET", self.url + path, timeout=10)[0], 200, path)

        # Block the app's event loop through its own port: 800 ms is a stall
        # >= 500 ms, critical, short of unresponsive (2 s).
        status, body, _ = harness.http("POST", self.app_url + "/internal/block?ms=800", body=b"", timeout=10)
        self.assertEqual(status, 200, body)
        critical = c.wait_status(self.url, lambda s: c.target(s, TARGET)["status"] == 2, 20,
                                 "critical after an 800 ms block", interval=0.1)
        c.log(self.started, f"critical: findings {c.active_findings(c.target(critical, TARGET))}")
        self.assertIn("event_loop_starvation", c.active_findings(c.target(critical, TARGET)))
        c.wait_status(self.url, lambda s: c.target(s, TARGET)["status"] == 0, 60, "healthy again after the block")
        c.log(self.started, "healthy again")

        # Memory: the limit is applied and loopcanary stays under it.
        usage = int(c.podman("exec", self.sidecar, "cat", "/sys/fs/cgroup/memory/memory.usage_in_bytes",
                             check=False).stdout.strip() or 0) or self.cgroup_v2_memory()
        status = c.podman("exec", self.sidecar, "cat", "/proc/1/status").stdout
        peak_rss = int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.M).group(1)) * 1024
        c.log(self.started, f"sidecar memory: cgroup usage {usage / 2**20:.1f} MiB, loopcanary peak RSS "
                            f"{peak_rss / 2**20:.1f} MiB, limit {MEMORY_LIMIT / 2**20:.0f} MiB")
        self.assertGreater(usage, 0)
        self.assertLess(usage, MEMORY_LIMIT)
        self.assertLess(peak_rss, MEMORY_LIMIT / 2, "bench/README.md measured 10-17 MiB")

    def cgroup_v2_memory(self):
        return int(c.podman("exec", self.sidecar, "cat", "/sys/fs/cgroup/memory.current").stdout.strip())

    def test_sidecar_runs_as_10001_read_only_without_capabilities(self):
        info = c.inspect(self.sidecar)
        host = info["HostConfig"]
        self.assertTrue(host["ReadonlyRootfs"])
        self.assertEqual(host["Memory"], MEMORY_LIMIT)
        self.assertEqual(host.get("CpuQuota", 0), 0, "no CPU limit by default")
        self.assertFalse(info.get("EffectiveCaps"), info.get("EffectiveCaps"))
        self.assertTrue(any("no-new-privileges" in opt for opt in host.get("SecurityOpt") or []),
                        host.get("SecurityOpt"))
        ids = c.podman("exec", self.sidecar, "sh", "-c", "id -u; id -g").stdout.split()
        self.assertEqual(ids, ["10001", "10001"])
        r = c.podman("exec", self.sidecar, "sh", "-c", "touch /probe", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Read-only file system", r.stderr + r.stdout)
        # The config comes from the rendered ConfigMap, mounted read-only.
        mounted = c.podman("exec", self.sidecar, "cat", "/etc/loopcanary/loopcanary.yaml").stdout
        configmap = helmlib.find(self.rendered, "ConfigMap", f"{self.release}-loopcanary-config")
        self.assertEqual(yaml.safe_load(mounted), yaml.safe_load(configmap["data"]["loopcanary.yaml"]))
        app_ids = c.podman("exec", self.app, "id", "-u").stdout.split()
        self.assertEqual(app_ids, ["10002"])


if __name__ == "__main__":
    unittest.main()
