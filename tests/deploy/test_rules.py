"""The Prometheus rules (deploy/prometheus/*-rules.yml): promtool checks them
and runs their unit tests (tests/deploy/rules-test.yml); every alert carries
what an on-call person needs and is covered by the unit tests; every runbook
link lands on a section of docs/runbook.md."""

import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploylib as lib  # noqa: E402

RULES_TEST = os.path.join(lib.SOURCE, "tests", "deploy", "rules-test.yml")
ALERTS = ["LoopcanaryRuntimeDegraded", "LoopcanaryRuntimeCritical", "LoopcanaryTargetUnresponsive",
          "LoopcanaryProberStarved", "LoopcanaryAbsent"]


def promtool(*args):
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=120, cwd=lib.SOURCE)


def github_anchor(heading):
    """The anchor GitHub gives a Markdown heading."""
    anchor = heading.strip().lower()
    anchor = re.sub(r"[^\w\- ]", "", anchor)
    return anchor.replace(" ", "-")


class RulesTest(unittest.TestCase):
    def test_promtool_check_rules(self):
        r = promtool("check", "rules", lib.RECORDING_RULES, lib.ALERT_RULES)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(f"SUCCESS: {len(lib.recording_rules())} rules found", r.stdout)
        self.assertIn(f"SUCCESS: {len(ALERTS)} rules found", r.stdout)

    def test_promtool_test_rules(self):
        r = promtool("test", "rules", RULES_TEST)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SUCCESS", r.stdout)

    def test_the_five_alerts_and_their_annotations(self):
        rules = lib.alert_rules()
        self.assertEqual([r["alert"] for r in rules], ALERTS)
        for rule in rules:
            with self.subTest(alert=rule["alert"]):
                self.assertIn(rule["labels"]["severity"], ("warning", "critical"))
                for key in ("summary", "description", "runbook_url"):
                    self.assertTrue(rule["annotations"].get(key), key)
                self.assertTrue(rule["annotations"]["runbook_url"].endswith(
                    "docs/runbook.md#" + rule["alert"].lower()), rule["annotations"]["runbook_url"])
                self.assertIn("for", rule)

    def test_runbook_has_a_section_per_alert(self):
        with open(lib.RUNBOOK) as f:
            anchors = {github_anchor(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", f.read(), re.M)}
        for rule in lib.alert_rules():
            with self.subTest(alert=rule["alert"]):
                anchor = rule["annotations"]["runbook_url"].rsplit("#", 1)[1]
                self.assertIn(anchor, anchors)

    def test_every_alert_is_unit_tested_four_ways(self):
        """fires, does not fire (an exp_alerts: [] case), pending during for:
        (an ALERTS{alertstate="pending"} sample), resolves (exp_alerts: [] after
        a firing case)."""
        tests = lib.load_yaml(RULES_TEST)["tests"]
        for alert in ALERTS:
            with self.subTest(alert=alert):
                cases = [(t["name"], c) for t in tests for c in t.get("alert_rule_test", [])
                         if c["alertname"] == alert]
                firing = [c for _, c in cases if c.get("exp_alerts")]
                quiet = [c for _, c in cases if not c.get("exp_alerts")]
                self.assertTrue(firing, "no case where it fires")
                self.assertTrue(quiet, "no case where it does not fire")
                self.assertTrue(any(q["eval_time"] != f["eval_time"] for q in quiet for f in firing))
                resolved = [(name, q) for name, q in cases if not q.get("exp_alerts")
                            and any(n == name and lib_time(f["eval_time"]) < lib_time(q["eval_time"])
                                    for n, f in cases if f.get("exp_alerts"))]
                self.assertTrue(resolved, "no case where it resolves after firing")
                pending = [s for t in tests for e in t.get("promql_expr_test", [])
                           for s in e.get("exp_samples", [])
                           if f'alertname="{alert}"' in s["labels"] and 'alertstate="pending"' in s["labels"]]
                self.assertTrue(pending, "no case checking it is pending during for:")

    def test_recording_rule_names_follow_the_convention(self):
        for name, expr in lib.recording_rules().items():
            with self.subTest(record=name):
                self.assertRegex(name, r"^loopcanary:[a-z0-9_]+:[a-z0-9_]+$")
                documented = lib.documented_metrics()
                for metric in lib.metric_names(expr):
                    self.assertIn(lib.base_metric(metric, documented), documented)


def lib_time(text):
    """promtool's durations (1m30s, 45s, 10m) in seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smh])", str(text)))


if __name__ == "__main__":
    unittest.main()
