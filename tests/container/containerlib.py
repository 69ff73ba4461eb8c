"""What the container tests share: podman (with scripts/podman/containers.conf),
the images (scripts/images.py builds or finds them by the hash of their
inputs), and rendering the chart with the pinned helm (tests/helm/helmlib.py).

Everything a test starts is named with a per-run prefix and removed by that
name or id, never "all containers"; ports are free loopback ports.
"""

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "helm"))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
import harness  # noqa: E402
import helmlib  # noqa: E402
import images  # noqa: E402

SOURCE = helmlib.SOURCE


def env():
    return images.podman_env()


def podman(*args, check=True, timeout=300, input=None):
    """Runs podman; returns the CompletedProcess (text)."""
    r = subprocess.run(["podman", *args], env=env(), capture_output=True, text=True, timeout=timeout, input=input)
    if check and r.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def require_podman():
    if subprocess.run(["which", "podman"], capture_output=True).returncode != 0:
        raise AssertionError("podman is not installed: run scripts/deps.sh")


def image(name):
    """The tag of an image built from the repository (cached by inputs)."""
    require_podman()
    return images.build(name)


def split_tag(tag):
    """localhost/loopcanary-test/loopcanary:abc -> (registry, repository, tag)."""
    ref, version = tag.rsplit(":", 1)
    registry, repository = ref.split("/", 1)
    return registry, repository, version


def inspect(name_or_id):
    return json.loads(podman("inspect", name_or_id).stdout)[0]


def run_prefix(kind):
    return f"lctest-{kind}-{os.getpid()}"


def wait_status(url, predicate, timeout, message, interval=0.25):
    """Polls GET url/api/v1/status until predicate(json) holds; returns it."""
    def poll():
        status, body, _ = harness.http("GET", url + "/api/v1/status", timeout=10)
        if status != 200:
            return None
        value = json.loads(body)
        return value if predicate(value) else None
    return harness.wait_for(poll, timeout, interval=interval, message=message)


def target(status_json, name):
    for t in status_json["targets"]:
        if t["name"] == name:
            return t
    raise KeyError(name)


def active_findings(t):
    return sorted(f["finding"] for f in t["findings"] if f["active"])


def log(started, message):
    print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)
