"""The chart (helm/loopcanary) through the real, pinned helm: `helm lint
--strict` and `helm template` for the defaults and every ci/*-values.yaml,
what each mode renders, the API guards, a table of invalid values files
(testdata/invalid-*.yaml, one rule each) that must fail with the schema's
message, the rules and dashboards that must not drift from the lab's, the
safe defaults, the config checksum, and the rollout gates' conditions.
"""

import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import helmlib as h  # noqa: E402

MONITORING = "monitoring.coreos.com/v1"

# What each ci values file renders (release "lc"): kind/name, sorted.
EXPECTED_OBJECTS = {
    "sidecar-values.yaml": ["ConfigMap/lc-loopcanary-config", "ConfigMap/lc-loopcanary-dashboards",
                            "PodMonitor/lc-loopcanary", "PrometheusRule/lc-loopcanary"],
    "native-sidecar-values.yaml": ["ConfigMap/lc-loopcanary-config", "ConfigMap/lc-loopcanary-dashboards",
                                   "Deployment/lc-loopcanary-demo", "Service/lc-loopcanary-demo"],
    "demo-values.yaml": ["ConfigMap/lc-loopcanary-config", "ConfigMap/lc-loopcanary-dashboards",
                         "Deployment/lc-loopcanary-demo", "PodMonitor/lc-loopcanary",
                         "PrometheusRule/lc-loopcanary", "Service/lc-loopcanary-demo"],
    "standalone-values.yaml": ["ConfigMap/lc-loopcanary-config", "ConfigMap/lc-loopcanary-dashboards",
                               "Deployment/lc-loopcanary", "Deployment/lc-loopcanary-demo",
                               "PrometheusRule/lc-loopcanary", "Service/lc-loopcanary",
                               "Service/lc-loopcanary-demo", "Service/lc-loopcanary-metrics",
                               "ServiceMonitor/lc-loopcanary"],
    "monitors-off-values.yaml": ["ConfigMap/lc-loopcanary-config", "Deployment/lc-loopcanary-demo",
                                 "Service/lc-loopcanary-demo"],
    "rollouts-values.yaml": ["ClusterAnalysisTemplate/lc-loopcanary-runtime-status",
                             "ConfigMap/lc-loopcanary-config", "ConfigMap/lc-loopcanary-dashboards",
                             "MetricTemplate/lc-loopcanary-runtime-status", "PodMonitor/lc-loopcanary",
                             "PrometheusRule/lc-loopcanary"],
}

INVALID = sorted(glob.glob(os.path.join(h.HERE, "testdata", "invalid-*.yaml")))


def expected_message(path):
    with open(path) as f:
        for line in f:
            m = re.match(r"^# expect: (.+)$", line)
            if m:
                return m.group(1).strip()
    raise AssertionError(f"{path} has no '# expect: <message>' line")


def containers(pod_spec):
    return {c["name"]: c for c in pod_spec.get("containers", []) + pod_spec.get("initContainers", [])}


class LintTest(unittest.TestCase):
    def test_lint_strict_defaults_and_every_ci_values_file(self):
        self.assertEqual(len(h.CI_VALUES), 6, h.CI_VALUES)
        for values in [None, *h.CI_VALUES]:
            with self.subTest(values=values and os.path.basename(values)):
                r = h.helm("lint", "--strict", h.CHART, *(["-f", values] if values else []))
                self.assertIn("1 chart(s) linted, 0 chart(s) failed", r.stdout)
                self.assertNotIn("[WARNING]", r.stdout)

    def test_every_ci_values_file_renders_what_its_mode_promises(self):
        self.assertEqual(sorted(EXPECTED_OBJECTS), sorted(os.path.basename(v) for v in h.CI_VALUES))
        for values in h.CI_VALUES:
            with self.subTest(values=os.path.basename(values)):
                _, objects = h.template(values=[values])
                self.assertEqual(h.kinds(objects), EXPECTED_OBJECTS[os.path.basename(values)])
                for o in objects:
                    self.assertEqual(o["metadata"].get("namespace"),
                                     None if o["kind"] == "ClusterAnalysisTemplate" else "default", o["kind"])


class SchemaTest(unittest.TestCase):
    def test_invalid_values_fail_with_their_message(self):
        self.assertGreaterEqual(len(INVALID), 12)
        for path in INVALID:
            with self.subTest(case=os.path.basename(path)):
                expected = expected_message(path)
                r = h.helm("template", "lc", h.CHART, "-f", path, check=False)
                self.assertNotEqual(r.returncode, 0, f"rendered although invalid:\n{r.stdout[:2000]}")
                self.assertIn(expected, r.stderr)

    def test_each_invalid_file_breaks_one_rule(self):
        """Each file, with its offending key removed, is valid: a case fails
        for its own reason and not because of a neighbour's."""
        for path in INVALID:
            with self.subTest(case=os.path.basename(path)):
                with open(path) as f:
                    values = yaml.safe_load(f)
                self.assertEqual(len(values), 1, "one top-level key per case")


class GuardsTest(unittest.TestCase):
    def test_optional_apis_render_only_when_served_or_assumed(self):
        _, plain = h.template()
        self.assertEqual(h.kinds(plain), ["ConfigMap/lc-loopcanary-config", "ConfigMap/lc-loopcanary-dashboards"])
        _, served = h.template(extra=["--api-versions", MONITORING])
        self.assertIn("PodMonitor/lc-loopcanary", h.kinds(served))
        self.assertIn("PrometheusRule/lc-loopcanary", h.kinds(served))
        _, assumed = h.template(sets=[f"assumeAPIVersions={{{MONITORING}}}"])
        self.assertEqual(h.kinds(assumed), h.kinds(served))
        _, argo = h.template(sets=["rollouts.argo.enabled=true", "rollouts.flagger.enabled=true"])
        self.assertNotIn("AnalysisTemplate", str(h.kinds(argo)))
        _, argo = h.template(sets=["rollouts.argo.enabled=true", "rollouts.flagger.enabled=true"],
                             extra=["--api-versions", "argoproj.io/v1alpha1", "--api-versions", "flagger.app/v1beta1"])
        self.assertIn("AnalysisTemplate/lc-loopcanary-runtime-status", h.kinds(argo))
        self.assertIn("MetricTemplate/lc-loopcanary-runtime-status", h.kinds(argo))

    def test_switches_turn_each_object_off(self):
        base = [f"assumeAPIVersions={{{MONITORING}}}"]
        for switch, gone in [("podMonitor.enabled=false", "PodMonitor/lc-loopcanary"),
                             ("prometheusRule.enabled=false", "PrometheusRule/lc-loopcanary"),
                             ("dashboards.enabled=false", "ConfigMap/lc-loopcanary-dashboards")]:
            with self.subTest(switch=switch):
                _, objects = h.template(sets=base + [switch])
                self.assertNotIn(gone, h.kinds(objects))
                self.assertIn("ConfigMap/lc-loopcanary-config", h.kinds(objects))


class DriftTest(unittest.TestCase):
    """The chart ships copies of the lab's rules and dashboards (helm reads
    only inside the chart); deploy/ is the source. Fix a failure with
    scripts/sync-chart-files.sh."""

    PAIRS = [("deploy/prometheus/recording-rules.yml", "helm/loopcanary/files/recording-rules.yml"),
             ("deploy/prometheus/alert-rules.yml", "helm/loopcanary/files/alert-rules.yml")]

    def pairs(self):
        dashboards = sorted(glob.glob(os.path.join(h.SOURCE, "deploy", "grafana", "dashboards", "*.json")))
        self.assertEqual(len(dashboards), 2)
        chart_dashboards = sorted(glob.glob(os.path.join(h.CHART, "files", "dashboards", "*")))
        self.assertEqual([os.path.basename(p) for p in chart_dashboards], [os.path.basename(p) for p in dashboards],
                         "dashboards in the chart and in deploy/ differ: run scripts/sync-chart-files.sh")
        return self.PAIRS + [(os.path.relpath(p, h.SOURCE), f"helm/loopcanary/files/dashboards/{os.path.basename(p)}")
                             for p in dashboards]

    def test_chart_files_are_the_lab_files(self):
        for source, copy_ in self.pairs():
            with self.subTest(file=copy_):
                with open(os.path.join(h.SOURCE, source), "rb") as a, open(os.path.join(h.SOURCE, copy_), "rb") as b:
                    self.assertTrue(a.read() == b.read(), f"{copy_} differs from {source}: "
                                    "run scripts/sync-chart-files.sh")

    def test_rendered_objects_carry_the_lab_files(self):
        _, objects = h.template(sets=[f"assumeAPIVersions={{{MONITORING}}}"])
        rule = h.find(objects, "PrometheusRule")
        expected = []
        for name in ("recording-rules.yml", "alert-rules.yml"):
            with open(os.path.join(h.SOURCE, "deploy", "prometheus", name)) as f:
                expected += yaml.safe_load(f)["groups"]
        self.assertEqual(rule["spec"]["groups"], expected)
        data = h.find(objects, "ConfigMap", "lc-loopcanary-dashboards")
        self.assertEqual(data["metadata"]["labels"]["grafana_dashboard"], "1")
        for path in glob.glob(os.path.join(h.SOURCE, "deploy", "grafana", "dashboards", "*.json")):
            with open(path) as f:
                self.assertEqual(data["data"][os.path.basename(path)], f.read())


class DefaultsTest(unittest.TestCase):
    def setUp(self):
        _, self.objects = h.template(values=[os.path.join(h.CHART, "ci", "demo-values.yaml")])
        self.pod = h.find(self.objects, "Deployment")["spec"]["template"]["spec"]
        self.sidecar = containers(self.pod)["loopcanary"]

    def test_image_tags_follow_the_app_version(self):
        with open(os.path.join(h.CHART, "Chart.yaml")) as f:
            chart = yaml.safe_load(f)
        with open(os.path.join(h.CHART, "values.yaml")) as f:
            values = yaml.safe_load(f)
        with open(os.path.join(h.SOURCE, "CMakeLists.txt")) as f:
            project = re.search(r"project\(loopcanary VERSION (\S+)", f.read()).group(1)
        self.assertEqual(chart["appVersion"], project)
        self.assertEqual(values["image"]["tag"], chart["appVersion"])
        self.assertEqual(values["demo"]["image"]["tag"], chart["appVersion"])
        self.assertEqual(self.sidecar["image"], f"ghcr.io/loopcanary/loopcanary:{project}")

    def test_safe_security_context(self):
        sc = self.sidecar["securityContext"]
        self.assertEqual(sc, {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                              "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                              "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}})
        app = containers(self.pod)["app"]["securityContext"]
        self.assertTrue(app["readOnlyRootFilesystem"] and app["runAsNonRoot"])
        self.assertFalse(self.pod["automountServiceAccountToken"])

    def test_resources_memory_request_is_the_limit_and_no_cpu_limit(self):
        r = self.sidecar["resources"]
        self.assertEqual(r["requests"]["memory"], r["limits"]["memory"])
        self.assertIn("cpu", r["requests"])
        self.assertNotIn("cpu", r["limits"], "a CPU limit throttles the prober (values.yaml, sidecar.resources)")
        _, objects = h.template(values=[os.path.join(h.CHART, "ci", "demo-values.yaml")],
                                sets=["sidecar.resources.limits.cpu=500m"])
        pod = h.find(objects, "Deployment")["spec"]["template"]["spec"]
        self.assertEqual(containers(pod)["loopcanary"]["resources"]["limits"]["cpu"], "500m")

    def test_probes_are_loopcanarys_own(self):
        self.assertEqual(self.sidecar["livenessProbe"]["httpGet"], {"path": "/-/healthy", "port": "loopcanary"})
        self.assertEqual(self.sidecar["readinessProbe"]["httpGet"], {"path": "/-/ready", "port": "loopcanary"})
        self.assertEqual(self.sidecar["ports"], [{"name": "loopcanary", "containerPort": 19420, "protocol": "TCP"}])
        self.assertIn("--web.enable-admin-api", self.sidecar["args"])

    def test_config_checksum_rolls_the_pod(self):
        config = h.find(self.objects, "ConfigMap", "lc-loopcanary-config")["data"]["loopcanary.yaml"]
        annotations = h.find(self.objects, "Deployment")["spec"]["template"]["metadata"]["annotations"]
        self.assertEqual(annotations["checksum/loopcanary-config"], h.sha256_of(config.rstrip("\n")))
        _, changed = h.template(values=[os.path.join(h.CHART, "ci", "demo-values.yaml")],
                                sets=["config.global.window=20s"])
        changed_annotations = h.find(changed, "Deployment")["spec"]["template"]["metadata"]["annotations"]
        self.assertNotEqual(changed_annotations["checksum/loopcanary-config"],
                            annotations["checksum/loopcanary-config"])

    def test_config_as_string_is_templated(self):
        _, objects = h.template(release="shop", values=[os.path.join(h.CHART, "ci", "standalone-values.yaml")],
                                namespace="web")
        config = yaml.safe_load(h.find(objects, "ConfigMap", "shop-loopcanary-config")["data"]["loopcanary.yaml"])
        self.assertEqual(config["targets"][0]["url"], "http://shop-loopcanary-demo.web.svc:8000")
        self.assertIn("Service/shop-loopcanary-demo", h.kinds(objects))

    def test_native_sidecar(self):
        _, objects = h.template(values=[os.path.join(h.CHART, "ci", "native-sidecar-values.yaml")])
        pod = h.find(objects, "Deployment")["spec"]["template"]["spec"]
        self.assertEqual([c["name"] for c in pod["initContainers"]], ["loopcanary"])
        self.assertEqual(pod["initContainers"][0]["restartPolicy"], "Always")
        self.assertEqual([c["name"] for c in pod["containers"]], ["app"])
        self.assertNotIn("restartPolicy", containers(self.pod)["loopcanary"])

    def test_release_names(self):
        """<release>-loopcanary, or the release name when it says loopcanary;
        every name fits a DNS label (63)."""
        for release, fullname, configmap in [
                ("lc", "lc-loopcanary", "lc-loopcanary-config"),
                ("loopcanary", "loopcanary", "loopcanary-config"),
                ("shop-loopcanary", "shop-loopcanary", "shop-loopcanary-config"),
                ("x" * 53, "x" * 53 + "-loopcanar", "x" * 53 + "-lo-config")]:  # 53: helm's longest
            with self.subTest(release=release):
                _, objects = h.template(release=release, sets=["demo.enabled=true"])
                self.assertIn(f"ConfigMap/{configmap}", h.kinds(objects))
                self.assertIn(f"Deployment/{fullname[:58]}-demo", h.kinds(objects))
                for o in objects:
                    self.assertLessEqual(len(o["metadata"]["name"]), 63, o["metadata"]["name"])
                    self.assertTrue(o["metadata"]["name"].startswith(fullname[:50]), o["metadata"]["name"])


class RolloutGatesTest(unittest.TestCase):
    """The gates' conditions, evaluated as Argo Rollouts evaluates them (the
    validator's -argo-success/-argo-failure: the expression library and
    phase rules of Argo Rollouts v1.9) on every kind of Prometheus result:
    empty and unknown (-1) are Inconclusive, below the level Successful, at
    or above it Failed."""

    RESULTS = [[], [-1.0], [0.0], [1.0], [2.0], [3.0], [0.0, 2.0]]

    def render(self, level):
        _, objects = h.template(values=[os.path.join(h.CHART, "ci", "rollouts-values.yaml")],
                                sets=[f"rollouts.failLevel={level}", "rollouts.argo.clusterScoped=false"])
        return h.find(objects, "AnalysisTemplate"), h.find(objects, "MetricTemplate")

    def test_argo_phases(self):
        for level in (1, 2, 3):
            metric = self.render(level)[0]["spec"]["metrics"][0]
            r = subprocess.run([h.validator(), "-argo-success", metric["successCondition"],
                                "-argo-failure", metric["failureCondition"]],
                               input=json.dumps(self.RESULTS), capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            phases = r.stdout.split()
            self.assertEqual(len(phases), len(self.RESULTS), r.stdout)
            for result, phase in zip(self.RESULTS, phases):
                with self.subTest(level=level, result=result):
                    # The query takes the max over pods: result[0] is the worst.
                    if not result or result[0] < 0:
                        self.assertEqual(phase, "Inconclusive")
                    elif result[0] >= level:
                        self.assertEqual(phase, "Failed")
                    else:
                        self.assertEqual(phase, "Successful")

    def test_queries_select_the_new_pods_and_parse(self):
        analysis, flagger = self.render(2)
        argo_query = analysis["spec"]["metrics"][0]["provider"]["prometheus"]["query"]
        self.assertIn('rollouts_pod_template_hash="{{args.canary-hash}}"', argo_query)
        self.assertIn('namespace="{{args.namespace}}"', argo_query)
        self.assertEqual([a["name"] for a in analysis["spec"]["args"]], ["namespace", "canary-hash"])
        flagger_query = flagger["spec"]["query"]
        self.assertIn('pod=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"', flagger_query)
        self.assertTrue(flagger_query.endswith(">= bool 2"), flagger_query)
        # The PodMonitor copies the pod label the Argo query selects on.
        _, objects = h.template(values=[os.path.join(h.CHART, "ci", "rollouts-values.yaml")])
        self.assertIn("rollouts-pod-template-hash", h.find(objects, "PodMonitor")["spec"]["podTargetLabels"])
        # Both queries, their template arguments filled in, are valid PromQL.
        argo_expr = argo_query.replace("{{args.canary-hash}}", "abc").replace("{{args.namespace}}", "web")
        flagger_expr = (flagger_query.replace("{{ target }}", "app").replace("{{ namespace }}", "web")
                        .replace("{{ interval }}", "1m"))
        rules = {"groups": [{"name": "gates", "rules": [{"record": "loopcanary:gate:argo", "expr": argo_expr},
                                                        {"record": "loopcanary:gate:flagger", "expr": flagger_expr}]}]}
        with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
            yaml.safe_dump(rules, f)
            f.flush()
            r = subprocess.run(["promtool", "check", "rules", f.name], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
