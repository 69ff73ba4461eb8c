"""The main way in: a user's chart (example-app/) that declares loopcanary
as a `file://` dependency, `helm dependency build`, and adds the sidecar to
its own Deployment with the two includes. The rendered pod spec must hold
both containers, the config volume pointing at the ConfigMap the dependency
renders, loopcanary's own probes and the safe security context — as a plain
and as a native sidecar — and pass the validator.

The other way in, for charts the user does not control: the container in
helm/loopcanary/examples/ (for Bitnami's `sidecars:`, prometheus-community's
`extraContainers:`) and the kustomize strategic-merge patch must be what the
named template renders, and the patch, applied with apimachinery's
strategic merge to a plain Deployment, must give the same pod.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import helmlib as h  # noqa: E402

EXAMPLE = os.path.join(h.HERE, "example-app")
EXAMPLES = os.path.join(h.CHART, "examples")
RELEASE = "lc"


class DependencyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="loopcanary-helm-dep-")
        cls.chart = os.path.join(cls.tmp, "example-app")
        shutil.copytree(EXAMPLE, cls.chart)
        # The copy lives elsewhere: point its relative file:// at the chart.
        chart_yaml = os.path.join(cls.chart, "Chart.yaml")
        with open(chart_yaml) as f:
            text = f.read()
        assert "file://../../../helm/loopcanary" in text
        with open(chart_yaml, "w") as f:
            f.write(text.replace("file://../../../helm/loopcanary", f"file://{h.CHART}"))
        r = h.helm("dependency", "build", cls.chart)
        cls.build_output = r.stdout + r.stderr
        cls.plain_text, cls.plain = cls.render()
        cls.native_text, cls.native = cls.render("loopcanary.sidecar.native=true")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def render(cls, *sets):
        return h.template(release=RELEASE, chart=cls.chart, sets=["loopcanary.assumeAPIVersions={monitoring.coreos.com/v1}", *sets])

    def test_dependency_is_packaged(self):
        self.assertTrue(os.path.exists(os.path.join(self.chart, "charts", "loopcanary-0.1.0.tgz")), self.build_output)
        r = h.helm("lint", "--strict", self.chart)
        self.assertIn("0 chart(s) failed", r.stdout)

    def pod(self, objects):
        return h.find(objects, "Deployment", f"{RELEASE}-example-app")["spec"]["template"]

    def check_sidecar(self, container, native):
        self.assertEqual(container["name"], "loopcanary")
        self.assertEqual(container["image"], "ghcr.io/loopcanary/loopcanary:0.1.0")
        self.assertEqual(container["ports"], [{"name": "loopcanary", "containerPort": 19420, "protocol": "TCP"}])
        self.assertEqual(container["volumeMounts"],
                         [{"name": "loopcanary-config", "mountPath": "/etc/loopcanary", "readOnly": True}])
        self.assertEqual(container["livenessProbe"]["httpGet"]["path"], "/-/healthy")
        self.assertEqual(container["readinessProbe"]["httpGet"]["path"], "/-/ready")
        sc = container["securityContext"]
        self.assertEqual((sc["runAsNonRoot"], sc["runAsUser"], sc["readOnlyRootFilesystem"],
                          sc["allowPrivilegeEscalation"], sc["capabilities"], sc["seccompProfile"]),
                         (True, 10001, True, False, {"drop": ["ALL"]}, {"type": "RuntimeDefault"}))
        self.assertNotIn("cpu", container["resources"]["limits"])
        if native:
            self.assertEqual(container["restartPolicy"], "Always")
        else:
            self.assertNotIn("restartPolicy", container)

    def check_volume_and_configmap(self, objects, spec):
        configmap = h.find(objects, "ConfigMap", f"{RELEASE}-loopcanary-config")
        self.assertEqual(spec["volumes"], [{"name": "loopcanary-config",
                                            "configMap": {"name": f"{RELEASE}-loopcanary-config"}}])
        config = yaml.safe_load(configmap["data"]["loopcanary.yaml"])
        self.assertEqual(config["targets"][0]["url"], "http://127.0.0.1:8000")

    def test_plain_sidecar(self):
        template = self.pod(self.plain)
        spec = template["spec"]
        self.assertEqual([c["name"] for c in spec["containers"]], ["app", "loopcanary"])
        self.assertNotIn("initContainers", spec)
        self.check_sidecar(spec["containers"][1], native=False)
        self.check_volume_and_configmap(self.plain, spec)
        config = h.find(self.plain, "ConfigMap", f"{RELEASE}-loopcanary-config")["data"]["loopcanary.yaml"]
        self.assertEqual(template["metadata"]["annotations"]["checksum/loopcanary-config"],
                         h.sha256_of(config.rstrip("\n")))

    def test_native_sidecar(self):
        spec = self.pod(self.native)["spec"]
        self.assertEqual([c["name"] for c in spec["containers"]], ["app"])
        self.assertEqual([c["name"] for c in spec["initContainers"]], ["loopcanary"])
        self.check_sidecar(spec["initContainers"][0], native=True)
        self.check_volume_and_configmap(self.native, spec)

    def test_dependency_renders_its_own_objects(self):
        kinds = h.kinds(self.plain)
        self.assertEqual(kinds, ["ConfigMap/lc-loopcanary-config", "ConfigMap/lc-loopcanary-dashboards",
                                 "Deployment/lc-example-app", "PodMonitor/lc-loopcanary",
                                 "PrometheusRule/lc-loopcanary"])
        monitor = h.find(self.plain, "PodMonitor")
        self.assertEqual(monitor["spec"]["selector"], {"matchLabels": {"app.kubernetes.io/name": "example-app"}})

    def test_renders_pass_the_validator(self):
        for name, text in (("plain", self.plain_text), ("native", self.native_text)):
            with self.subTest(render=name):
                code, results, output = h.validate(text)
                self.assertEqual(code, 0, output)
                self.assertEqual(len(results), 5, output)

    def test_examples_for_charts_you_do_not_control(self):
        """examples/sidecars-values.yaml holds the container and volume the
        named templates render for release "lc"."""
        with open(os.path.join(EXAMPLES, "sidecars-values.yaml")) as f:
            example = yaml.safe_load(f)
        spec = self.pod(self.plain)["spec"]
        self.assertEqual(example["sidecars"], [spec["containers"][1]])
        self.assertEqual(example["extraVolumes"], spec["volumes"])

    def test_kustomize_patch(self):
        patch_path = os.path.join(EXAMPLES, "kustomize", "loopcanary-sidecar.yaml")
        with open(patch_path) as f:
            patch = yaml.safe_load(f)
        spec = self.pod(self.plain)["spec"]
        self.assertEqual(patch["spec"]["template"]["spec"]["containers"], [spec["containers"][1]])
        self.assertEqual(patch["spec"]["template"]["spec"]["volumes"], spec["volumes"])
        with open(os.path.join(EXAMPLES, "kustomize", "kustomization.yaml")) as f:
            kustomization = yaml.safe_load(f)
        self.assertEqual(kustomization["patches"][0]["path"], "loopcanary-sidecar.yaml")
        target = kustomization["patches"][0]["target"]
        self.assertEqual((target["kind"], target["name"]), ("Deployment", patch["metadata"]["name"]))

        with tempfile.TemporaryDirectory() as tmp:
            base = os.path.join(tmp, "base.yaml")
            app = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": patch["metadata"]["name"]},
                   "spec": {"selector": {"matchLabels": {"app": "my-app"}},
                            "template": {"metadata": {"labels": {"app": "my-app"}},
                                         "spec": {"containers": [{"name": "app", "image": "my-app:1",
                                                                  "ports": [{"containerPort": 8000}]}],
                                                  "volumes": [{"name": "cache", "emptyDir": {}}]}}}}
            with open(base, "w") as f:
                yaml.safe_dump(app, f)
            r = subprocess.run([h.validator(), "-patch", patch_path, base], capture_output=True, text=True,
                               timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            merged = yaml.safe_load(r.stdout)
            merged_spec = merged["spec"]["template"]["spec"]
            # Merged by name; the order is the implementation's (apimachinery
            # puts the patch's first, kustomize's kyaml appends).
            self.assertEqual(sorted(c["name"] for c in merged_spec["containers"]), ["app", "loopcanary"])
            self.assertEqual(sorted(v["name"] for v in merged_spec["volumes"]), ["cache", "loopcanary-config"])
            self.assertEqual(next(c for c in merged_spec["containers"] if c["name"] == "app"),
                             app["spec"]["template"]["spec"]["containers"][0], "the app's container is untouched")
            code, _, output = h.validate(r.stdout)
            self.assertEqual(code, 0, output)


if __name__ == "__main__":
    unittest.main()
