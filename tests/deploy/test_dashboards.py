"""Static checks of the Grafana dashboards (deploy/grafana/dashboards/*.json):
shape Grafana provisioning accepts, a datasource on every panel, unique ids
and uids, and no query reading a metric loopcanary does not export (the
contract is docs/metrics.md; the recording rules' series are allowed). The
live test (test_live.py) runs every query against real data."""

import os
import re
import subprocess
import sys
import tempfile
import unittest

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploylib as lib  # noqa: E402

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


class DashboardTest(unittest.TestCase):
    def setUp(self):
        self.assertEqual(
            sorted(os.path.basename(p) for p in lib.DASHBOARDS),
            ["loopcanary-overview.json", "loopcanary-target.json"],
        )
        self.dashboards = {os.path.basename(p): lib.load_json(p) for p in lib.DASHBOARDS}

    def test_uid_title_and_no_import_placeholders(self):
        uids = set()
        for name, d in self.dashboards.items():
            with self.subTest(dashboard=name):
                self.assertRegex(d.get("uid", ""), r"^[a-zA-Z0-9_-]{1,40}$")
                self.assertNotIn(d["uid"], uids)
                uids.add(d["uid"])
                self.assertTrue(d.get("title"))
                self.assertIn("loopcanary", d.get("tags", []))
                self.assertNotIn("__inputs", d)
                self.assertNotIn("__requires", d)
                self.assertIsNone(d.get("id"), "a provisioned dashboard has no numeric id")
                self.assertGreaterEqual(d.get("schemaVersion", 0), 36)
                text = lib.load_json(os.path.join(lib.DEPLOY, "grafana", "dashboards", name))
                self.assertNotIn("${DS_", str(text), "import placeholders do not work when provisioned")

    def test_variables(self):
        for name, d in self.dashboards.items():
            with self.subTest(dashboard=name):
                variables = {v["name"]: v for v in d["templating"]["list"]}
                self.assertEqual(variables["datasource"]["type"], "datasource")
                self.assertEqual(variables["datasource"]["query"], "prometheus")
                for var in ("job", "target"):
                    self.assertEqual(variables[var]["type"], "query")
                    self.assertEqual(variables[var]["datasource"], DATASOURCE)
                    self.assertIsNotNone(lib.parse_label_values(lib.variable_query(variables[var])),
                                         f"{var}: expected label_values(selector, label)")
                # Every $var a query uses is defined (or a Grafana built-in).
                defined = set(variables) | set(lib.GRAFANA_BUILTINS)
                for q in lib.queries(d):
                    for used in re.findall(r"\$\{?(\w+)", q["expr"]):
                        self.assertIn(used, defined, f"{q['where']}: ${used} is not defined")

    def test_panel_ids_unique_and_datasource_everywhere(self):
        for name, d in self.dashboards.items():
            with self.subTest(dashboard=name):
                ids = [p.get("id") for p in lib.all_panels(d)]
                self.assertTrue(all(isinstance(i, int) for i in ids), ids)
                self.assertEqual(len(ids), len(set(ids)), f"duplicate panel ids: {ids}")
                for panel in lib.all_panels(d):
                    where = f"panel {panel['id']} {panel.get('title')!r}"
                    self.assertEqual(panel.get("datasource"), DATASOURCE, where)
                    self.assertTrue(panel.get("title"), where)
                    if panel["type"] == "row":
                        continue
                    self.assertTrue(panel.get("targets"), f"{where} has no query")
                    self.assertTrue(panel.get("description"), f"{where} has no description")
                    for t in panel["targets"]:
                        self.assertEqual(t.get("datasource"), DATASOURCE, where)
                        self.assertTrue(t.get("expr"), where)
                    refs = [t["refId"] for t in panel["targets"]]
                    self.assertEqual(len(refs), len(set(refs)), where)
                for a in d["annotations"]["list"]:
                    self.assertIn("datasource", a, a.get("name"))

    def test_grid_fits_and_panels_do_not_overlap(self):
        for name, d in self.dashboards.items():
            with self.subTest(dashboard=name):
                cells = {}
                for panel in d["panels"]:
                    g = panel["gridPos"]
                    self.assertLessEqual(g["x"] + g["w"], 24, panel["title"])
                    for x in range(g["x"], g["x"] + g["w"]):
                        for y in range(g["y"], g["y"] + g["h"]):
                            self.assertNotIn((x, y), cells, f"{panel['title']} overlaps {cells.get((x, y))}")
                            cells[(x, y)] = panel["title"]

    def test_every_metric_is_exported_or_recorded(self):
        documented = lib.documented_metrics()
        self.assertIn("loopcanary_runtime_status", documented)
        recorded = lib.recording_rules()
        for name, d in self.dashboards.items():
            for q in lib.queries(d):
                for metric in lib.metric_names(lib.substitute(q["expr"], {})):
                    with self.subTest(dashboard=name, where=q["where"], metric=metric):
                        base = lib.base_metric(metric, documented)
                        self.assertTrue(base in documented or metric in recorded,
                                        f"{metric} is neither in docs/metrics.md nor a recording rule")

    def test_every_exported_metric_is_on_a_dashboard(self):
        """Each metric of the contract shows up somewhere, directly or through a
        recording rule, so a new metric without a panel is noticed."""
        documented = lib.documented_metrics()
        recorded = lib.recording_rules()
        shown = set()
        for d in self.dashboards.values():
            for q in lib.queries(d):
                for metric in lib.metric_names(lib.substitute(q["expr"], {})):
                    shown.add(lib.base_metric(metric, documented))
                    if metric in recorded:
                        shown |= {lib.base_metric(m, documented) for m in lib.metric_names(recorded[metric])}
        self.assertEqual(sorted(set(documented) - shown), [])

    def test_every_query_parses(self):
        """promtool has no offline expression checker, but it parses the rules
        it checks: every query, variables substituted, becomes a recording rule."""
        rules = []
        values = {"datasource": "prometheus", "job": "loopcanary", "target": "demo",
                  "instance": "127.0.0.1:19420", "route": ".+"}
        for name, d in self.dashboards.items():
            for q in lib.queries(d):
                if q["expr"]:
                    rules.append({"record": f"dashboard:query:{len(rules)}",
                                  "expr": lib.substitute(q["expr"], values)})
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "dashboard-queries.yml")
            with open(path, "w") as f:
                yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}, f)
            r = subprocess.run(["promtool", "check", "rules", path], capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn(f"SUCCESS: {len(rules)} rules found", r.stdout)

    def test_overview_has_the_promised_panels(self):
        d = self.dashboards["loopcanary-overview.json"]
        exprs = " ".join(q["expr"] for q in lib.queries(d))
        for needle in ("loopcanary_runtime_status", "loopcanary_finding", "loopcanary:stall_seconds:rate1m",
                       "loopcanary_stall_in_progress_seconds", "loopcanary:probe_duration_seconds:p50_1m",
                       "loopcanary:probe_duration_seconds:p99_1m", "loopcanary:route_duration_seconds:p99_1m",
                       "loopcanary_lag_seconds_bucket", "loopcanary_hol_blocking_ratio",
                       "loopcanary_queue_amplification_ratio"):
            self.assertIn(needle, exprs)
        self.assertTrue(any(p["type"] == "heatmap" for p in d["panels"]))
        self.assertTrue(any(p["type"] == "state-timeline" and "runtime_status" in p["targets"][0]["expr"]
                            for p in d["panels"]))
        names = [a["name"] for a in d["annotations"]["list"]]
        self.assertIn("Scenarios", names)
        scenario = next(a for a in d["annotations"]["list"] if a["name"] == "Scenarios")
        self.assertIn("loopcanary_scenario_running", scenario["expr"])
        links = [link["url"] for p in d["panels"] for link in p.get("fieldConfig", {}).get("defaults", {}).get("links", [])]
        self.assertTrue(any("/d/loopcanary-target/" in u for u in links), "no drill-down link")


class MetricNamesTest(unittest.TestCase):
    """The PromQL scanner the checks above rely on."""

    def test_scanner(self):
        cases = {
            'histogram_quantile(0.99, sum by (le, target) (rate(a_bucket{x="y(z)"}[5m])))': {"a_bucket"},
            "60 * loopcanary:stalls:rate5m{job=~\"$job\"}": {"loopcanary:stalls:rate5m"},
            "up{job=~\".*loopcanary.*\"} == 0 or absent(b)": {"up", "b"},
            "(x or y * 0) / on (j) group_left (k) z > bool 1e-9": {"x", "y", "z"},
            'ALERTS{alertname=~"Loopcanary.*", alertstate="firing"}': {"ALERTS"},
            "max by (target) (m offset 5m)": {"m"},
        }
        for expr, want in cases.items():
            with self.subTest(expr=expr):
                self.assertEqual(lib.metric_names(expr), want)

    def test_substitute(self):
        self.assertEqual(lib.substitute('a{j=~"$job",t="${target}"}[$__rate_interval]', {"job": "j", "target": "t"}),
                         'a{j=~"j",t="t"}[20s]')
        self.assertEqual(lib.regex_of(["127.0.0.1:80"]), r"127\\.0\\.0\\.1:80")
        self.assertEqual(lib.regex_of(["a", "b"]), "(a|b)")


if __name__ == "__main__":
    unittest.main()
