"""The deploy files against real data, without Docker: the demo app, loopcanary
(config/examples/lab.yaml pointed at the app), a real Prometheus scraping it
every second with deploy/prometheus's recording and alert rules, and a real
Alertmanager with deploy/alertmanager/alertmanager.yml, all on loopback.

The app's loop is blocked (several 800 ms blocks), then two lab scenarios run
through the admin API (agent-blocking: head-of-line blocking; sync-ramp:
service time, queue amplification, executor capacity, knee). Meanwhile every
PromQL query of both dashboards (panels, annotations, variables), variables
substituted as Grafana would, is polled through /api/v1/query: each must
return a non-empty, non-NaN result at some point. And LoopcanaryRuntimeCritical
must reach Alertmanager during the blocks and resolve once the app recovers.

Production `for:` durations (2m and more) would make this slow: the alert
rules are rendered into a temp file with every `for:` shortened to 5s.
Everything else is the shipped files.
"""

import math
import os
import re
import sys
import time
import unittest

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploylib as lib  # noqa: E402
import promstack  # noqa: E402
from promstack import harness  # noqa: E402

JOB = "loopcanary"
TARGET = "demo"
SHORT_FOR = "5s"
# Every wait is capped so the whole test ends (and stops its processes) well
# inside ctest's TIMEOUT; a run takes about 90 s.
BUDGET_SECONDS = 240


def render_alert_rules():
    """The shipped alert rules with every `for:` shortened (see the module doc)."""
    with open(lib.ALERT_RULES) as f:
        text = f.read()
    rendered, n = re.subn(r"^(\s+for:\s*)\S+\s*$", rf"\g<1>{SHORT_FOR}", text, flags=re.M)
    assert n == len(lib.alert_rules()), f"rendered {n} for: lines for {len(lib.alert_rules())} alerts"
    return rendered


def render_prometheus_config(loopcanary_address, alertmanager_port):
    """The shipped prometheus.yml, scraping and evaluating every second, with
    the lab's service addresses replaced by the loopback ones."""
    config = lib.load_yaml(os.path.join(lib.DEPLOY, "prometheus", "prometheus.yml"))
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]
    jobs = [job for job in config["scrape_configs"] if job["job_name"] == JOB]
    assert len(jobs) == 1, config["scrape_configs"]
    jobs[0]["static_configs"] = [{"targets": [loopcanary_address]}]
    config["scrape_configs"] = jobs
    return yaml.safe_dump(config, sort_keys=False)


class Coverage:
    """Every dashboard query, polled until each has returned data once."""

    def __init__(self, prometheus):
        self.prometheus = prometheus
        self.pending = []
        self.seen = {}  # where -> phase in which it first returned data
        self.phase = "start"
        for path in lib.DASHBOARDS:
            d = lib.load_json(path)
            name = os.path.basename(path)
            multi = {v["name"]: v.get("multi") or v.get("includeAll")
                     for v in d["templating"]["list"]}
            order = [v["name"] for v in d["templating"]["list"] if v["type"] == "query"]
            for q in lib.queries(d):
                self.pending.append({**q, "dashboard": name, "multi": multi, "order": order})
        self.values = {}  # dashboard -> resolved variable values

    def _variables(self, q):
        """Resolves the dashboard's variables the way Grafana does: in order,
        each label_values() query with the earlier ones substituted; a
        multi-value variable becomes a regex of all its values."""
        name = q["dashboard"]
        if name in self.values:
            return self.values[name]
        values = {"datasource": "prometheus"}
        variables = {v["name"]: v for v in lib.queries(lib.load_json(
            os.path.join(lib.DEPLOY, "grafana", "dashboards", name))) if v["kind"] == "variable"}
        for var in q["order"]:
            v = variables[var]
            result = self.prometheus.query(lib.substitute(v["expr"], values))
            found = sorted({s["metric"][v["label"]] for s in result if v["label"] in s["metric"]})
            if not found:
                return None  # not resolvable yet: try again on the next poll
            values[var] = lib.regex_of(found) if q["multi"].get(var) else found[0]
        self.values[name] = values
        return values

    def poll(self):
        still = []
        for q in self.pending:
            values = self._variables(q)
            if values is None or not self._has_data(q, values):
                still.append(q)
            else:
                self.seen[f"{q['dashboard']}: {q['where']}"] = self.phase
        self.pending = still

    def _has_data(self, q, values):
        expr = lib.substitute(q["expr"], values)
        result = self.prometheus.query(expr)
        if q["kind"] == "variable":
            return any(q["label"] in s["metric"] for s in result)
        return any(not math.isnan(float(s["value"][1])) for s in result)

    def missing(self):
        return [f"{q['dashboard']}: {q['where']}: {q['expr']}" for q in self.pending]


class LiveTest(unittest.TestCase):
    def setUp(self):
        self.started = time.monotonic()
        self.workdir_cm = harness.Workdir()
        self.workdir = self.workdir_cm.__enter__()
        self.processes = []  # stopped in reverse order, by PID, in tearDown
        self.addCleanup(self._stop_all)

        self.app = harness.DemoApp(self.workdir)
        self.processes.append(self.app)
        with open(os.path.join(lib.SOURCE, "config", "examples", "lab.yaml")) as f:
            lab = f.read()
        self.assertIn("http://127.0.0.1:8000", lab)
        self.canary = harness.Loopcanary(self.workdir, lab.replace("http://127.0.0.1:8000", self.app.url),
                                         args=["--web.enable-admin-api"])
        self.processes.append(self.canary)

        with open(os.path.join(lib.DEPLOY, "alertmanager", "alertmanager.yml")) as f:
            self.alertmanager = promstack.Alertmanager(self.workdir, f.read())
        self.processes.append(self.alertmanager)

        with open(lib.RECORDING_RULES) as f:
            recording = f.read()
        address = self.canary.url.removeprefix("http://")
        self.prometheus = promstack.Prometheus(
            self.workdir, render_prometheus_config(address, self.alertmanager.port),
            files={"recording-rules.yml": recording, "alert-rules.yml": render_alert_rules()})
        self.processes.append(self.prometheus)

    def _stop_all(self):
        failed = []
        for p in reversed(self.processes):
            try:
                p.stop()
            except Exception as e:  # keep stopping the others
                failed.append(f"{p}: {e}")
        self.workdir_cm.__exit__(None, None, None)
        if failed:
            raise AssertionError("; ".join(failed))

    def log(self, message):
        print(f"[{time.monotonic() - self.started:6.1f}s] {message}", file=sys.stderr, flush=True)

    def drive(self, condition, timeout, message):
        """Polls the dashboard queries and `condition` every second until the
        condition holds; fails after `timeout` seconds."""
        timeout = min(timeout, self.started + BUDGET_SECONDS - time.monotonic())
        deadline = time.monotonic() + timeout
        while True:
            self.coverage.poll()
            value = condition()
            if value:
                return value
            if time.monotonic() >= deadline:
                self.fail(f"timed out after {timeout}s waiting for {message}; "
                          f"loopcanary status: {self.status_now()}")
            time.sleep(1.0)

    def status_now(self):
        result = self.prometheus.query(f'loopcanary_runtime_status{{job="{JOB}",target="{TARGET}"}}')
        return float(result[0]["value"][1]) if result else None

    def critical_in_alertmanager(self):
        return self.alertmanager.alerts(alertname="LoopcanaryRuntimeCritical", target=TARGET)

    def start_scenario(self, name, timeout):
        status, body, _ = self.canary.post(f"/api/v1/scenarios/{name}/start")
        self.assertEqual(status, 202, body)
        self.log(f"scenario {name} started")
        selector = f'loopcanary_scenario_running{{job="{JOB}",target="{TARGET}",scenario="{name}"}}'
        running = lambda v: (lambda r: r and float(r[0]["value"][1]) == v)(self.prometheus.query(selector))  # noqa: E731
        self.drive(lambda: running(1), 15, f"Prometheus to see {name} running")
        self.drive(lambda: running(0), timeout, f"{name} to end")
        self.log(f"scenario {name} ended")

    def test_every_dashboard_query_has_data_and_critical_alert_fires_and_resolves(self):
        self.coverage = Coverage(self.prometheus)
        self.assertGreater(len(self.coverage.pending), 40)

        self.coverage.phase = "healthy"
        self.drive(lambda: self.prometheus.targets_up(JOB), 20, "Prometheus to scrape loopcanary")
        self.drive(lambda: self.status_now() == 0, 45, "a healthy status in Prometheus")
        self.log("healthy; blocking the app's event loop 4 x 800 ms")

        # (b) Blocks long enough for critical (stall >= 500 ms), short of
        # unresponsive (a stall in progress of 2 s).
        self.coverage.phase = "blocks"
        for i in range(4):
            self.app.block(800, delay_ms=1500 * i)
        alerts = self.drive(self.critical_in_alertmanager, 60, "LoopcanaryRuntimeCritical in Alertmanager")
        alert = alerts[0]
        self.log(f"LoopcanaryRuntimeCritical in Alertmanager: {alert['status']}")
        self.assertEqual(alert["labels"]["severity"], "critical")
        self.assertEqual(alert["labels"]["job"], JOB)
        self.assertIn("loopcanary/blob/main/docs/runbook.md#loopcanaryruntimecritical",
                      alert["annotations"]["runbook_url"])
        self.assertRegex(alert["annotations"]["description"], r"Stalled for \d[\d.]*% of the last minute")
        self.app.wait_block_done(4, 30)

        self.coverage.phase = "recovery"
        self.drive(lambda: self.status_now() == 0 and not self.critical_in_alertmanager(), 60,
                   "the status to recover and LoopcanaryRuntimeCritical to resolve in Alertmanager")
        firing = [a for a in self.prometheus.alerts()
                  if a["labels"]["alertname"] == "LoopcanaryRuntimeCritical" and a["state"] == "firing"]
        self.assertEqual(firing, [])
        self.log("recovered: LoopcanaryRuntimeCritical resolved")

        # (a) The route signals exist only around scenarios.
        self.coverage.phase = "agent-blocking"
        self.start_scenario("agent-blocking", 40)  # 20 s long
        self.coverage.phase = "sync-ramp"
        self.start_scenario("sync-ramp", 60)  # 7 steps of 5 s
        self.coverage.phase = "after"
        try:
            self.drive(lambda: not self.coverage.pending, 20, "the remaining dashboard queries to return data")
        except AssertionError:
            pass  # the assertion below names them
        self.assertEqual(self.coverage.missing(), [], "dashboard queries that never returned data")

        by_phase = {}
        for where, phase in self.coverage.seen.items():
            by_phase.setdefault(phase, []).append(where)
        self.log(f"all {len(self.coverage.seen)} dashboard queries returned data; first seen per phase: "
                 + ", ".join(f"{k}={len(v)}" for k, v in by_phase.items()))


if __name__ == "__main__":
    unittest.main()
