"""What the chart tests share: the pinned helm (scripts/deps.sh builds it),
rendering the chart, and the manifest validator (validate/, a Go program
built with the Go that built helm).

Nothing here renders templates itself: every manifest comes out of the real
helm binary.
"""

import hashlib
import os
import re
import shutil
import subprocess
import tempfile

import yaml

SOURCE = os.environ.get(
    "LOOPCANARY_SOURCE", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
)
BUILD = os.environ.get("LOOPCANARY_BUILD", os.path.join(SOURCE, "build", "release"))
CHART = os.path.join(SOURCE, "helm", "loopcanary")
CI_VALUES = sorted(os.path.join(CHART, "ci", f) for f in os.listdir(CHART + "/ci") if f.endswith("-values.yaml"))
HERE = os.path.dirname(os.path.abspath(__file__))
VALIDATOR_SRC = os.path.join(HERE, "validate")
CRDS = os.path.join(VALIDATOR_SRC, "crds.txt")


def _deps_setting(name):
    with open(os.path.join(SOURCE, "scripts", "deps.sh")) as f:
        return re.search(rf"^{name}=(\S+)$", f.read(), re.M).group(1)


HELM_VERSION = _deps_setting("HELM_VERSION")
TOOLS = os.environ.get("LOOPCANARY_TOOLS", os.path.join(
    os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache")), "loopcanary", "tools"))
HELM = os.path.join(TOOLS, f"helm-{HELM_VERSION}", "helm")


def go_binary():
    found = shutil.which("go") or "/usr/local/go/bin/go"
    if not os.path.exists(found):
        raise AssertionError("no Go toolchain (>= 1.26) for the manifest validator: see README.md, Kubernetes")
    return found


def helm(*args, check=True, cwd=None, timeout=120):
    """Runs the pinned helm; returns the CompletedProcess."""
    if not os.path.exists(HELM):
        raise AssertionError(f"helm {HELM_VERSION} is not at {HELM}: run scripts/deps.sh")
    env = dict(os.environ)
    # A per-run home, so a user's repositories and plugins play no part.
    home = tempfile.mkdtemp(prefix="loopcanary-helm-home-")
    env.update(HELM_CACHE_HOME=os.path.join(home, "cache"), HELM_CONFIG_HOME=os.path.join(home, "config"),
               HELM_DATA_HOME=os.path.join(home, "data"))
    try:
        r = subprocess.run([HELM, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd or SOURCE, env=env)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if check and r.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({r.returncode}):\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}")
    return r


def template(release="lc", values=(), sets=(), chart=CHART, namespace="default", extra=()):
    """`helm template`; returns (text, [objects])."""
    args = ["template", release, chart, "--namespace", namespace]
    for v in values:
        args += ["-f", v]
    for s in sets:
        args += ["--set", s]
    text = helm(*args, *extra).stdout
    return text, [d for d in yaml.safe_load_all(text) if d]


def find(objects, kind, name=None):
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    if len(found) != 1:
        raise AssertionError(f"{len(found)} {kind} objects named {name!r} in "
                             f"{[(o['kind'], o['metadata']['name']) for o in objects]}")
    return found[0]


def kinds(objects):
    return sorted(f"{o['kind']}/{o['metadata']['name']}" for o in objects)


_validator = None


def validator():
    """Builds validate/ into the build tree (Go's cache makes a rebuild of
    unchanged sources take a second); returns the binary's path."""
    global _validator
    if _validator:
        return _validator
    out_dir = os.path.join(BUILD, "tests", "helm")
    os.makedirs(out_dir, exist_ok=True)
    binary = os.path.join(out_dir, "validate")
    env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=mod")
    r = subprocess.run([go_binary(), "build", "-o", binary, "."], cwd=VALIDATOR_SRC, capture_output=True,
                       text=True, timeout=1800, env=env)
    if r.returncode != 0:
        raise AssertionError(f"building tests/helm/validate failed:\n{r.stdout}\n{r.stderr}")
    _validator = binary
    return binary


def validate(text):
    """Runs the validator over a rendered manifest; returns (exit code, {object: [errors]}, output)."""
    env = dict(os.environ, GOFLAGS="-mod=mod", PATH=os.path.dirname(go_binary()) + os.pathsep + os.environ["PATH"])
    r = subprocess.run([validator(), "-crds", CRDS], input=text, capture_output=True, text=True, timeout=600,
                       env=env)
    results = {}
    for line in r.stdout.splitlines():
        m = re.match(r"^(ok|error) ([^:]+?)(?:: (.*))?$", line)
        if m:
            results.setdefault(m.group(2), [])
            if m.group(1) == "error":
                results[m.group(2)].append(m.group(3))
    return r.returncode, results, r.stdout + r.stderr


def sha256_of(text):
    return hashlib.sha256(text.encode()).hexdigest()
