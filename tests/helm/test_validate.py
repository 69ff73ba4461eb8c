"""Every object the chart renders, for the defaults and every ci values file,
checked against upstream schemas with unknown fields as errors
(validate/main.go: core kinds decoded strictly into k8s.io/api types; the
custom resources against the CRDs of prometheus-operator, Argo Rollouts and
Flagger at the versions in validate/crds.txt), and the loopcanary config in
each ConfigMap accepted by `loopcanary --config.check`.

The validator is itself shown to reject what an API server would: a typo'd
field in a Deployment, in a PodMonitor and in an AnalysisTemplate, a value
of the wrong type, a restartPolicy on a regular container.
"""

import os
import subprocess
import sys
import tempfile
import unittest

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import helmlib as h  # noqa: E402

ALL_APIS = ["--api-versions", "monitoring.coreos.com/v1", "--api-versions", "argoproj.io/v1alpha1",
            "--api-versions", "flagger.app/v1beta1"]

# Renders beyond the ci files: every optional object in each of its shapes.
EXTRA_RENDERS = {
    "defaults": ([], [], []),
    "every-api-defaults": ([], [], ALL_APIS),
    "namespaced-analysis": (["rollouts-values.yaml"], ["rollouts.argo.clusterScoped=false"], []),
    "sidecar-servicemonitor": ([], ["serviceMonitor.enabled=true", "serviceMonitor.podSelector.app=my-app",
                                    "podMonitor.selector.matchLabels.app=my-app", "dashboards.annotations.grafana_folder=loopcanary"],
                               ALL_APIS),
    "native-standalone": (["standalone-values.yaml"], ["sidecar.native=true", "sidecar.resources.limits.cpu=500m",
                                                       "image.digest=sha256:" + "a" * 64], []),
}


def renders():
    out = {os.path.basename(v): h.template(values=[v])[0] for v in h.CI_VALUES}
    for name, (values, sets, extra) in EXTRA_RENDERS.items():
        out[name] = h.template(values=[os.path.join(h.CHART, "ci", v) for v in values], sets=sets, extra=extra)[0]
    return out


class ValidateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.renders = renders()

    def test_every_rendered_object_is_valid(self):
        kinds = set()
        for name, text in self.renders.items():
            with self.subTest(render=name):
                code, results, output = h.validate(text)
                self.assertEqual(code, 0, output)
                self.assertEqual(len(results), len([d for d in yaml.safe_load_all(text) if d]), output)
                kinds |= {k.split("/")[0] for k in results}
        self.assertEqual(kinds, {"ConfigMap", "Deployment", "Service", "PodMonitor", "ServiceMonitor",
                                 "PrometheusRule", "AnalysisTemplate", "ClusterAnalysisTemplate",
                                 "MetricTemplate"})

    def test_every_config_passes_config_check(self):
        binary = os.environ.get("LOOPCANARY_BIN")
        self.assertTrue(binary and os.path.exists(binary), f"LOOPCANARY_BIN={binary!r} is not built")
        for name, text in self.renders.items():
            configmaps = [d for d in yaml.safe_load_all(text)
                          if d and d["kind"] == "ConfigMap" and "loopcanary.yaml" in d.get("data", {})]
            self.assertEqual(len(configmaps), 1, name)
            with self.subTest(render=name), tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
                f.write(configmaps[0]["data"]["loopcanary.yaml"])
                f.flush()
                r = subprocess.run([binary, "--config.check", f"--config.file={f.name}"], capture_output=True,
                                   text=True, timeout=60)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class ValidatorRejectsTest(unittest.TestCase):
    """The validator can fail: each broken object must be reported."""

    def setUp(self):
        text, _ = h.template(values=[os.path.join(h.CHART, "ci", "rollouts-values.yaml")],
                             sets=["demo.enabled=true", "rollouts.argo.clusterScoped=false"])
        self.objects = [d for d in yaml.safe_load_all(text) if d]

    def broken(self, kind, mutate):
        objects = [dict(o) for o in self.objects]
        target = next(o for o in objects if o["kind"] == kind)
        mutate(target)
        return yaml.safe_dump_all(objects)

    def assert_rejected(self, kind, mutate, message):
        code, results, output = h.validate(self.broken(kind, mutate))
        self.assertEqual(code, 1, output)
        errors = [e for name, errs in results.items() if name.startswith(kind + "/") for e in errs]
        self.assertTrue(any(message in e for e in errors), output)
        others = [name for name, errs in results.items() if errs and not name.startswith(kind + "/")]
        self.assertEqual(others, [], output)

    def test_unknown_field_in_a_deployment(self):
        def typo(d):
            d["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
        self.assert_rejected("Deployment", typo, 'unknown field "spec.template.spec.containers[0].imagePullPolcy"')

    def test_wrong_type_in_a_service(self):
        def wrong(d):
            d["spec"]["ports"][0]["port"] = "eight thousand"
        self.assert_rejected("Service", wrong, "cannot unmarshal")

    def test_restart_policy_on_a_regular_container(self):
        def native_in_containers(d):
            d["spec"]["template"]["spec"]["containers"][1]["restartPolicy"] = "Always"
        self.assert_rejected("Deployment", native_in_containers, "only init containers may set it")

    def test_probe_on_an_undeclared_port(self):
        def port(d):
            d["spec"]["template"]["spec"]["containers"][1]["readinessProbe"]["httpGet"]["port"] = "metrics"
        self.assert_rejected("Deployment", port, "names no port of this container")

    def test_unknown_field_in_a_podmonitor(self):
        def typo(d):
            d["spec"]["podMetricsEndpoints"][0]["scrapeIntervall"] = "15s"
        self.assert_rejected("PodMonitor", typo, "spec.podMetricsEndpoints[0].scrapeIntervall")

    def test_schema_violation_in_a_podmonitor(self):
        def bad(d):
            d["spec"]["podMetricsEndpoints"][0]["interval"] = "15 seconds"
        self.assert_rejected("PodMonitor", bad, "spec.podMetricsEndpoints[0].interval")

    def test_unknown_field_in_an_analysis_template(self):
        def typo(d):
            d["spec"]["metrics"][0]["successCondtion"] = "true"
        self.assert_rejected("AnalysisTemplate", typo, "spec.metrics[0].successCondtion")

    def test_unknown_field_in_a_metric_template(self):
        def typo(d):
            d["spec"]["provider"]["adress"] = "http://x"
        self.assert_rejected("MetricTemplate", typo, "spec.provider.adress")

    def test_unknown_kind(self):
        code, results, output = h.validate("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n")
        self.assertEqual(code, 1, output)
        self.assertIn("no schema for example.com/v1 Widget", output)


if __name__ == "__main__":
    unittest.main()
