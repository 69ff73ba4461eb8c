"""The lab's configuration files as their own tools see them: promtool check
config, amtool check-config, yamllint on every YAML file in deploy/ and
config/, and the docker-compose lab and Dockerfiles read for the promises
they make (no Docker engine here: the files are parsed, not run)."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploylib as lib  # noqa: E402

COMPOSE = os.path.join(lib.DEPLOY, "docker-compose.yml")
DOCKERFILE = os.path.join(lib.DEPLOY, "Dockerfile")
APP_DOCKERFILE = os.path.join(lib.DEPLOY, "lab", "app", "Dockerfile")


def run(*args, cwd=None):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120, cwd=cwd or lib.SOURCE)


def dockerfile_stages(path):
    """[(FROM line, [instructions])] with continuation lines joined."""
    with open(path) as f:
        text = re.sub(r"\\\n", " ", f.read())
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append((line, []))
        elif stages:
            stages[-1][1].append(line)
    return stages


def apt_packages(instructions):
    packages = []
    for ins in instructions:
        m = re.search(r"apt-get install\s+(.*?)(?:&&|$)", ins)
        if m:
            packages += [w for w in m.group(1).split() if not w.startswith("-")]
    return packages


def deps_sh_packages():
    with open(os.path.join(lib.SOURCE, "scripts", "deps.sh")) as f:
        body = re.search(r"packages=\((.*?)\n\)", f.read(), re.S).group(1)
    return {w for line in body.splitlines() for w in line.split("#")[0].split()}


class ToolChecksTest(unittest.TestCase):
    def test_promtool_check_config(self):
        r = run("promtool", "check", "config", os.path.join(lib.DEPLOY, "prometheus", "prometheus.yml"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("is valid prometheus config file syntax", r.stdout)
        self.assertIn("SUCCESS: 2 rule files found", r.stdout)

    def test_amtool_check_config(self):
        r = run("amtool", "check-config", os.path.join(lib.DEPLOY, "alertmanager", "alertmanager.yml"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SUCCESS", r.stdout)

    def test_alertmanager_routes_loopcanary_pages(self):
        with tempfile.TemporaryDirectory() as tmp:
            config = os.path.join(tmp, "alertmanager.yml")
            shutil.copy(os.path.join(lib.DEPLOY, "alertmanager", "alertmanager.yml"), config)
            cases = {("alertname=LoopcanaryRuntimeCritical", "severity=critical"): "pager",
                     ("alertname=LoopcanaryTargetUnresponsive", "severity=critical"): "pager",
                     ("alertname=LoopcanaryRuntimeDegraded", "severity=warning"): "default",
                     ("alertname=LoopcanaryAbsent", "severity=warning"): "default"}
            for labels, receiver in cases.items():
                with self.subTest(labels=labels):
                    r = run("amtool", "config", "routes", "test", f"--config.file={config}", *labels)
                    self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                    self.assertEqual(r.stdout.strip(), receiver)

    def test_yamllint(self):
        files = [os.path.join(d, f) for top in ("deploy", "config")
                 for d, _, fs in os.walk(os.path.join(lib.SOURCE, top))
                 for f in fs if f.endswith((".yml", ".yaml"))]
        self.assertGreaterEqual(len(files), 9, files)
        r = run("yamllint", "--strict", "-c", os.path.join(lib.SOURCE, ".yamllint"), "deploy", "config")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class ComposeTest(unittest.TestCase):
    def setUp(self):
        self.compose = lib.load_yaml(COMPOSE)
        self.services = self.compose["services"]

    def test_services(self):
        self.assertEqual(set(self.services), {"app", "loopcanary", "prometheus", "alertmanager", "grafana"})

    def test_loopcanary_is_a_sidecar_of_the_app(self):
        canary = self.services["loopcanary"]
        self.assertEqual(canary["network_mode"], "service:app")
        self.assertNotIn("ports", canary, "a service in another's network namespace cannot publish ports")
        self.assertIn("${LAB_ADDRESS:-127.0.0.1}:${LAB_LOOPCANARY_PORT:-19420}:19420", self.services["app"]["ports"])
        self.assertEqual(canary["build"]["dockerfile"], "deploy/Dockerfile")
        self.assertTrue(canary.get("read_only"))
        self.assertIn("--web.enable-admin-api", canary["command"])

    def test_bind_mounts_exist(self):
        for name, service in self.services.items():
            for volume in service.get("volumes", []):
                source = volume.split(":")[0]
                if source.startswith("."):
                    with self.subTest(service=name, volume=volume):
                        self.assertTrue(os.path.exists(os.path.normpath(os.path.join(lib.DEPLOY, source))))

    def test_prometheus_scrapes_the_sidecar(self):
        prometheus = lib.load_yaml(os.path.join(lib.DEPLOY, "prometheus", "prometheus.yml"))
        targets = [t for job in prometheus["scrape_configs"] if job["job_name"] == "loopcanary"
                   for sc in job["static_configs"] for t in sc["targets"]]
        self.assertEqual(targets, ["app:19420"])
        self.assertEqual(prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"],
                         ["alertmanager:9093"])
        self.assertIn("./prometheus:/etc/prometheus:ro", self.services["prometheus"]["volumes"])

    def test_lab_config_probes_the_app_over_loopback(self):
        canary = self.services["loopcanary"]
        mount = next(v for v in canary["volumes"] if v.split(":")[1] == "/etc/loopcanary/loopcanary.yaml")
        config = lib.load_yaml(os.path.normpath(os.path.join(lib.DEPLOY, mount.split(":")[0])))
        self.assertEqual([t["url"] for t in config["targets"]], ["http://127.0.0.1:8000"])
        self.assertIn("${LAB_ADDRESS:-127.0.0.1}:${LAB_APP_PORT:-8000}:8000", self.services["app"]["ports"])

    def test_grafana_provisioning_matches_the_mounts(self):
        grafana = self.services["grafana"]
        mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
        self.assertEqual(mounts["/etc/grafana/provisioning"], "./grafana/provisioning")
        providers = lib.load_yaml(os.path.join(lib.DEPLOY, "grafana", "provisioning", "dashboards",
                                               "loopcanary.yml"))["providers"]
        path = providers[0]["options"]["path"]
        self.assertEqual(mounts[path], "./grafana/dashboards")
        home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
        self.assertTrue(home.startswith(path + "/"))
        self.assertTrue(os.path.exists(os.path.join(lib.DEPLOY, "grafana", "dashboards", os.path.basename(home))))
        datasources = lib.load_yaml(os.path.join(lib.DEPLOY, "grafana", "provisioning", "datasources",
                                                 "loopcanary.yml"))["datasources"]
        prometheus = [d for d in datasources if d["type"] == "prometheus"]
        self.assertEqual(prometheus[0]["url"], "http://prometheus:9090")
        self.assertTrue(prometheus[0]["isDefault"])


class DockerfileTest(unittest.TestCase):
    def test_image_shape(self):
        stages = dockerfile_stages(DOCKERFILE)
        self.assertGreaterEqual(len(stages), 2, "multi-stage")
        for from_line, _ in stages:
            self.assertRegex(from_line, r"^FROM debian:bookworm(-slim)?\b")
        runtime = stages[-1][1]
        user = [i for i in runtime if i.upper().startswith("USER ")]
        self.assertRegex(user[-1], r"^USER [1-9]\d*(:\d+)?$", "numeric non-root user")
        self.assertIn("EXPOSE 19420", runtime)
        entrypoint = [i for i in runtime if i.upper().startswith("ENTRYPOINT ")][-1]
        self.assertIn('"--config.file=/etc/loopcanary/loopcanary.yaml"', entrypoint)
        self.assertTrue(entrypoint.split(None, 1)[1].startswith("["), "exec form")
        copies = [i for i in runtime if i.upper().startswith("COPY ")]
        self.assertEqual(copies, ["COPY --from=build /loopcanary /usr/bin/loopcanary"], "only the binary")

    def test_builder_installs_only_packages_from_deps_sh(self):
        builder = apt_packages(dockerfile_stages(DOCKERFILE)[0][1])
        self.assertTrue(builder)
        self.assertEqual(sorted(set(builder) - deps_sh_packages()), [])
        for needed in ("prometheus-cpp-dev", "libyaml-cpp-dev", "libboost-regex-dev", "libspdlog-dev"):
            self.assertIn(needed, builder)

    def test_runtime_packages_cover_the_binary_shared_libraries(self):
        """Each library `ldd` shows for the built binary comes from a package
        the runtime stage installs, or from one of their dependencies.

        Only a binary built as the image builds it tells: deploy/Dockerfile
        makes a RelWithDebInfo build without sanitizers, while the ASan
        suite's binary also needs the sanitizer runtimes (and, at -O1,
        libboost_system). That suite skips this check; the release suite,
        which `.ci/run` runs first, makes it."""
        binary = os.environ.get("LOOPCANARY_BIN")
        self.assertTrue(binary and os.path.exists(binary), f"LOOPCANARY_BIN={binary!r} is not built")
        cache = {}
        with open(os.path.join(os.environ["LOOPCANARY_BUILD"], "CMakeCache.txt")) as f:
            for line in f:
                m = re.match(r"^(CMAKE_BUILD_TYPE|CMAKE_CXX_FLAGS|CMAKE_EXE_LINKER_FLAGS):\w+=(.*)$", line)
                if m:
                    cache[m.group(1)] = m.group(2)
        if cache.get("CMAKE_BUILD_TYPE") != "RelWithDebInfo" or "-fsanitize" in (
                cache.get("CMAKE_CXX_FLAGS", "") + cache.get("CMAKE_EXE_LINKER_FLAGS", "")):
            self.skipTest(f"not built like the image ({cache.get('CMAKE_BUILD_TYPE')}, "
                          "sanitizers); the release suite checks this")
        runtime = set(apt_packages(dockerfile_stages(DOCKERFILE)[-1][1]))
        deps = set()
        for package in runtime:
            r = run("dpkg-query", "-W", "-f=${Depends}", package)
            self.assertEqual(r.returncode, 0, f"{package} is not a Debian package here: {r.stderr}")
            deps |= {re.split(r"[\s(:]", d.strip())[0] for d in re.split(r"[,|]", r.stdout) if d.strip()}
        ldd = run("ldd", binary)
        self.assertEqual(ldd.returncode, 0, ldd.stderr)
        for lib_path in re.findall(r"=>\s+(\S+)", ldd.stdout):
            r = run("dpkg", "-S", os.path.realpath(lib_path))
            if r.returncode != 0:
                r = run("dpkg", "-S", lib_path)
            self.assertEqual(r.returncode, 0, f"no package owns {lib_path}")
            package = r.stdout.split(":")[0]
            with self.subTest(library=lib_path, package=package):
                self.assertTrue(package in runtime or package in deps,
                                f"{package} ({lib_path}) is neither installed nor pulled in")

    def test_demo_app_image(self):
        stages = dockerfile_stages(APP_DOCKERFILE)
        self.assertRegex(stages[0][0], r"^FROM debian:bookworm")
        packages = apt_packages(stages[0][1])
        self.assertTrue({"python3-fastapi", "python3-uvicorn"} <= set(packages))
        self.assertIn("EXPOSE 8000", stages[-1][1])


if __name__ == "__main__":
    unittest.main()
