"""What the audit tests share: a config for the demo app, running
`loopcanary audit` with every report, reading the reports back (JSON checked
against docs/audit-report.schema.json, JUnit parsed), and the rule every test
keeps: a verdict may be FAIL or INCONCLUSIVE where a busy machine can starve
loopcanary, never PASS for a service that starves."""

import json
import os
import subprocess
import xml.etree.ElementTree as ET

import jsonschema

from harness import BINARY, SOURCE, canary_config

SCHEMA_PATH = os.path.join(SOURCE, "docs", "audit-report.schema.json")
EXIT = {"pass": 0, "fail": 1, "bad_input": 2, "inconclusive": 3}

ROUTES = """\
      - { name: agent, path: "/agent?ms=200" }
      - { name: io, path: "/io?ms=200" }
      - { name: sync, path: "/sync?ms=100" }
"""

SCENARIOS = """\
  - { name: agent-blocking, target: demo, phases: [ { route: agent, concurrency: 2, duration: 10s } ] }
  - { name: io-healthy, target: demo, phases: [ { route: io, concurrency: 2, duration: 12s } ] }
  - { name: sync-ramp, target: demo, phases: [ { route: sync, concurrency: [1, 2, 4, 8, 16, 32, 64], step: 2s } ] }
  - { name: external, target: demo }
"""


def config(url, window="5s", warmup="2s"):
    """The lab's scenarios, shortened, with a 5 s window: one prober hiccup
    makes the status unknown for one window, so a short window keeps a busy
    machine's hiccups from swallowing a whole run. The target's warm-up
    (global.warmup, 10 s by default: the audit does not judge it) is 2 s here,
    so these short runs judge what their steps do; the warm-up itself is
    test_workers.py's and test_signals.py's."""
    return canary_config(url, interval="10ms", idle_interval="50ms", window=window,
                         routes=ROUTES, scenarios=SCENARIOS, global_extra=f", warmup: {warmup}")


def schema():
    with open(SCHEMA_PATH) as f:
        return json.load(f)


class Run:
    """One `loopcanary audit` process and its reports."""

    def __init__(self, tmp, args, name="audit", timeout=120, popen=False):
        self.paths = {fmt: os.path.join(tmp, f"{name}.{ext}")
                      for fmt, ext in (("json", "json"), ("junit", "xml"), ("html", "html"))}
        self.args = [BINARY, "audit", *args, "--no-progress",
                     *(f"--report={fmt}={path}" for fmt, path in self.paths.items())]
        self.timeout = timeout
        self.log_path = os.path.join(tmp, f"{name}.stderr.txt")
        if popen:
            self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True, start_new_session=True)
        else:
            r = subprocess.run(self.args, capture_output=True, text=True, timeout=timeout)
            self._done(r.returncode, r.stdout, r.stderr)

    def wait(self):
        try:
            out, err = self.proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            raise AssertionError(f"audit did not end within {self.timeout}s: {err[-3000:]}")
        self._done(self.proc.returncode, out, err)
        return self

    def _done(self, code, out, err):
        self.code, self.stdout, self.stderr = code, out, err
        with open(self.log_path, "w") as f:  # kept with LOOPCANARY_KEEP_TMP, for a person
            f.write(err)

    def json(self):
        with open(self.paths["json"]) as f:
            report = json.load(f)
        jsonschema.validate(report, schema())
        return report

    def junit(self):
        return ET.parse(self.paths["junit"]).getroot()

    def html(self):
        with open(self.paths["html"]) as f:
            return f.read()


def findings(subject):
    return {f["finding"]: f for f in subject["findings"]}


def explain(run):
    return f"exit {run.code}\nstderr:\n{run.stderr[-4000:]}"
