"""Issue 13: `loopcanary audit --prometheus`, judged from loopcanary's series
in a real Prometheus (Debian's, loopback, 1 s scrape) scraping a real
loopcanary that probes the real demo app.

A window where the app's loop was blocked FAILs with the findings loopcanary
itself reported then; a calm window PASSes (or, on a machine busy enough to
starve loopcanary, is INCONCLUSIVE — never FAIL); a selector that matches
nothing is INCONCLUSIVE; a --rules file with PromQL Prometheus rejects exits 2
naming the rule and its line; an unreachable Prometheus says so.
"""

import os
import subprocess
import sys
import time
import unittest

import auditlib
from auditlib import EXIT, Run, explain, findings
from harness import BINARY, DemoApp, Loopcanary, Workdir, free_port, wait_for

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deploy"))
import promstack  # noqa: E402

PROMETHEUS_YML = """
global: {{ scrape_interval: 1s, evaluation_interval: 1s }}
scrape_configs:
  - job_name: loopcanary
    static_configs: [ {{ targets: ["{target}"] }} ]
"""


class FromPrometheus(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.workdir = Workdir()
        cls.tmp = cls.workdir.__enter__()
        cls.app = DemoApp(cls.tmp)
        cls.lc = Loopcanary(cls.tmp, auditlib.config(cls.app.url), args=["--web.enable-admin-api"])
        cls.prometheus = promstack.Prometheus(
            cls.tmp, PROMETHEUS_YML.format(target=cls.lc.url.removeprefix("http://")))
        wait_for(lambda: cls.prometheus.targets_up("loopcanary"), 30, message="Prometheus scrapes loopcanary")
        wait_for(lambda: cls.lc.target_status("demo")["status"] == 0, 30, message="loopcanary healthy")

        # A calm window, then a window with the app's loop blocked.
        time.sleep(18)
        cls.calm = (time.time() - 15, time.time())
        start = time.time()
        seen = set()
        for _ in range(3):
            cls.app.block(1200)
            deadline = time.time() + 2.5
            while time.time() < deadline:
                for f in cls.lc.target_status("demo")["findings"]:
                    if f["active"]:
                        seen.add(f["finding"])
                time.sleep(0.1)
        time.sleep(3)  # the last scrapes of it
        cls.blocked = (start, time.time())
        cls.seen_live = seen

    @classmethod
    def tearDownClass(cls):
        cls.prometheus.stop()
        cls.lc.stop()
        cls.app.stop()
        cls.workdir.__exit__(None, None, None)

    def audit(self, name, *args, url=None, **kw):
        return Run(self.tmp, [f"--prometheus={url or self.prometheus.url}", *args], name=name, **kw)

    def window(self, w):
        return [f"--start={w[0]:.3f}", f"--end={w[1]:.3f}"]

    def test_blocked_window_fails_with_the_findings_loopcanary_reported(self):
        run = self.audit("prom-blocked", *self.window(self.blocked), '--selector={job="loopcanary"}')
        self.assertEqual(run.code, EXIT["fail"], explain(run))
        report = run.json()
        self.assertEqual(report["mode"], "prometheus")
        self.assertEqual(len(report["subjects"]), 1)
        subject = report["subjects"][0]
        self.assertEqual(subject["labels"]["target"], "demo")
        found = findings(subject)
        self.assertIn("event_loop_starvation", found)
        self.assertIn("event_loop_starvation", self.seen_live)
        # The same findings loopcanary's own API showed while it happened
        # (prober_starved aside: a busy machine's timing, not the app's).
        self.assertLessEqual(self.seen_live - {"prober_starved"}, set(found), explain(run))
        stall = [e for e in found["event_loop_starvation"]["evidence"] if e["signal"] == "stall_max_seconds"]
        self.assertTrue(stall and stall[0]["worst"] >= 1.0, stall)
        self.assertGreater(subject["signals"]["stall_seconds"], 2)
        self.assertGreater(len(subject["timeline"]), 5)
        self.assertIn("<svg", run.html())

    def test_calm_window_passes(self):
        run = self.audit("prom-calm", *self.window(self.calm))
        if run.code == EXIT["inconclusive"]:
            # loopcanary starved on a busy machine: unknown is never healthy.
            self.assertIn("unknown", " ".join(run.json()["reasons"]), explain(run))
            return
        self.assertEqual(run.code, EXIT["pass"], explain(run))
        self.assertNotIn("event_loop_starvation", findings(run.json()["subjects"][0]))

    def test_empty_selector_is_inconclusive(self):
        run = self.audit("prom-empty", *self.window(self.blocked), '--selector={target="no-such-target"}')
        self.assertEqual(run.code, EXIT["inconclusive"], explain(run))
        self.assertIn("no data", run.stderr)
        self.assertEqual(run.json()["verdict"], "inconclusive")

    def test_rules_file_with_bad_promql_exits_2_naming_rule_and_line(self):
        rules = os.path.join(self.tmp, "bad-rules.yaml")
        with open(rules, "w") as f:
            f.write("queries:\n"
                    "  stall: max(loopcanary_stall_max_seconds)\n"
                    "  broken: max(rate(loopcanary_stalls_total[1m]) by\n"
                    "thresholds:\n"
                    "  stall: { unit: seconds, critical: 0.5 }\n"
                    "  broken: { degraded: 1 }\n")
        run = self.audit("prom-bad-rules", *self.window(self.blocked), f"--rules={rules}")
        self.assertEqual(run.code, EXIT["bad_input"], explain(run))
        self.assertIn("queries.broken (line 3)", run.stderr)
        self.assertIn("Prometheus rejected the query", run.stderr)

    def test_rules_file_judges_its_own_queries(self):
        rules = os.path.join(self.tmp, "rules.yaml")
        with open(rules, "w") as f:
            f.write("queries:\n"
                    "  stall: max by (target) (loopcanary_stall_max_seconds)\n"
                    "  nothing: max(no_such_metric_anywhere)\n"
                    "thresholds:\n"
                    "  stall: { unit: seconds, degraded: 0.2, critical: 0.5 }\n"
                    "  nothing: { critical: 1 }\n")
        run = self.audit("prom-rules", *self.window(self.blocked), f"--rules={rules}", "--step=1s")
        report = run.json()
        self.assertEqual(run.code, EXIT["fail"], explain(run))
        names = {s["name"]: s for s in report["subjects"]}
        self.assertIn("rule nothing", names)
        self.assertEqual(names["rule nothing"]["verdict"], "inconclusive")
        failed = [s for s in report["subjects"] if s["verdict"] == "fail"][0]
        self.assertEqual(failed["labels"], {"target": "demo"})
        self.assertEqual(findings(failed)["stall"]["level"], "critical")

    def test_unreachable_prometheus_says_so(self):
        run = self.audit("prom-down", "--range=1m", url=f"http://127.0.0.1:{free_port()}")
        self.assertEqual(run.code, EXIT["inconclusive"], explain(run))
        self.assertIn("cannot reach Prometheus", run.stderr)
        self.assertIn("connection refused", run.stderr)


class InitRules(unittest.TestCase):
    def test_init_rules_writes_a_file_the_audit_reads(self):
        with Workdir() as tmp:
            path = os.path.join(tmp, "rules.yaml")
            out = subprocess.run([BINARY, "init", "--rules", f"--output={path}"], capture_output=True,
                                 text=True, timeout=10)
            self.assertEqual(out.returncode, 0, out.stderr)
            with open(path) as f:
                text = f.read()
            self.assertIn("queries:", text)
            self.assertIn("thresholds:", text)
            self.assertIn("# ", text)
            # It reads: the audit gets as far as asking Prometheus (nothing listens here).
            run = Run(tmp, [f"--prometheus=http://127.0.0.1:{free_port()}", f"--rules={path}", "--range=1m"],
                      name="starter", timeout=20)
            self.assertEqual(run.code, EXIT["inconclusive"], explain(run))
            self.assertIn("cannot reach Prometheus", run.stderr)


if __name__ == "__main__":
    unittest.main()
