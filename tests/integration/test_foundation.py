"""Issue 2: loopcanary probes a real FastAPI service at high frequency and
serves Prometheus metrics — against real uvicorn, real promtool."""

import os
import re
import signal
import shutil
import subprocess
import time
import unittest

from harness import (BINARY, DemoApp, Loopcanary, Workdir, canary_config, http, wait_for)


class ScheduleAndMetrics(unittest.TestCase):
    """A 10 ms canary for a few seconds: the schedule holds and every probe is
    accounted for."""

    def test_probes_follow_the_schedule_and_all_succeed(self):
        with Workdir() as tmp:
            app = DemoApp(tmp)
            lc = Loopcanary(tmp, canary_config(app.url, interval="10ms"))
            try:
                first = lc.metrics()
                t0 = time.monotonic()
                p0 = first.get("loopcanary_probes_total", target="demo", canary="health")
                time.sleep(5)
                m = lc.metrics()
                elapsed = time.monotonic() - t0
                probes = m.get("loopcanary_probes_total", target="demo", canary="health") - p0
                planned = elapsed / 0.010
                self.assertAlmostEqual(probes, planned, delta=0.10 * planned,
                                       msg=f"{probes} probes in {elapsed:.2f}s, planned {planned:.0f}")

                total = m.get("loopcanary_probes_total", target="demo", canary="health")
                in_flight = m.get("loopcanary_probes_in_flight", target="demo", canary="health")
                failures = m.sum("loopcanary_probe_failures_total", target="demo", canary="health")
                count = m.get("loopcanary_probe_duration_seconds_count", target="demo", canary="health")
                self.assertEqual(failures, 0, "every probe of a healthy target succeeds")
                # Scheduled = completed + in flight; all completed ones were observed.
                self.assertEqual(count + in_flight, total)
                self.assertGreater(count, 400)
                self.assertIsNotNone(m.get("loopcanary_baseline_seconds", target="demo", canary="health"))
                self.assertEqual(m.get("loopcanary_config_last_reload_successful"), 1)
                self.assertEqual(m.sum("loopcanary_build_info"), 1)
            finally:
                lc.stop()
                app.stop()

    def test_scrape_passes_promtool_check_metrics(self):
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool (Debian's prometheus package) is required")
        with Workdir() as tmp:
            app = DemoApp(tmp)
            lc = Loopcanary(tmp, canary_config(app.url, interval="10ms", routes=(
                "      - { name: io, path: \"/io?ms=20\" }\n"), scenarios=(
                "  - { name: ramp, target: demo, phases: [ { route: io, concurrency: 2, duration: 2s } ] }\n")),
                args=["--scenario=ramp"])
            try:
                wait_for(lambda: lc.metrics().get("loopcanary_route_requests_total",
                                                  target="demo", route="io") > 10, 10,
                         message="heavy requests")
                _, body, _ = lc.get("/metrics")
                result = subprocess.run([promtool, "check", "metrics"], input=body.encode(),
                                        capture_output=True, timeout=30)
                self.assertEqual(result.returncode, 0,
                                 result.stdout.decode() + result.stderr.decode())
            finally:
                lc.stop()
                app.stop()


class Failures(unittest.TestCase):
    def test_slow_route_with_short_timeout_counts_timeouts(self):
        with Workdir() as tmp:
            app = DemoApp(tmp)
            config = canary_config(app.url, interval="400ms", timeout="100ms")
            config = config.replace("path: /health", 'path: "/agent?ms=300"')
            lc = Loopcanary(tmp, config)
            try:
                m = wait_for(lambda: (lambda m: m if m.get(
                    "loopcanary_probe_failures_total", target="demo", canary="health",
                    reason="timeout") >= 5 else None)(lc.metrics()), 15, message="5 timeouts")
                ok = (m.get("loopcanary_probes_total", target="demo", canary="health")
                      - m.sum("loopcanary_probe_failures_total", target="demo", canary="health")
                      - m.get("loopcanary_probes_in_flight", target="demo", canary="health"))
                self.assertEqual(ok, 0, "a 300 ms answer never beats a 100 ms timeout")
                # A timed-out probe's latency is its timeout, measured from the intended time.
                self.assertEqual(m.get("loopcanary_probe_duration_seconds_bucket", target="demo",
                                       canary="health", le="0.064"), 0)
            finally:
                lc.stop()
                app.stop()

    def test_stopped_target_gives_connect_errors_and_loopcanary_keeps_serving(self):
        with Workdir() as tmp:
            app = DemoApp(tmp)
            lc = Loopcanary(tmp, canary_config(app.url, interval="20ms"))
            try:
                wait_for(lambda: lc.metrics().get("loopcanary_runtime_status", target="demo") == 0,
                         30, message="status healthy (past the 10 s warm-up)")
                app.stop()
                m = wait_for(lambda: (lambda m: m if m.get(
                    "loopcanary_probe_failures_total", target="demo", canary="health",
                    reason="connect_error") >= 20 else None)(lc.metrics()), 10,
                    message="connect errors")
                self.assertTrue(lc.process.alive())
                self.assertEqual(lc.get("/-/healthy")[0], 200)
                # Three consecutive connection failures: the target is unresponsive.
                wait_for(lambda: lc.target_status("demo")["status"] == 3, 5,
                         message="status unresponsive")
                self.assertTrue(any(f["finding"] == "canary_failures" and f["active"]
                                    for f in lc.target_status("demo")["findings"]))
            finally:
                lc.stop()
                app.stop()


class ConfigAndLifecycle(unittest.TestCase):
    def test_config_check(self):
        with Workdir() as tmp:
            good = os.path.join(tmp, "good.yaml")
            with open(good, "w") as f:
                f.write(canary_config("http://127.0.0.1:9"))
            r = subprocess.run([BINARY, "--config.check", f"--config.file={good}"],
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("valid", r.stdout)

            bad = os.path.join(tmp, "bad.yaml")
            with open(bad, "w") as f:
                f.write(canary_config("http://127.0.0.1:9").replace("interval: 10ms,", 'interval: "10",'))
            r = subprocess.run([BINARY, "--config.check", f"--config.file={bad}"],
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(r.returncode, 2)
            self.assertRegex(r.stderr, r'targets\[0\]\.canaries\[0\]\.interval \(line \d+\): "10" is not a duration')

            r = subprocess.run([BINARY, "--config.file=/nonexistent.yaml"], capture_output=True,
                               text=True, timeout=10)
            self.assertEqual(r.returncode, 2)
            self.assertIn("/nonexistent.yaml", r.stderr)

            r = subprocess.run([BINARY, "--no-such-flag"], capture_output=True, text=True, timeout=10)
            self.assertEqual(r.returncode, 2)

    def test_help_and_version(self):
        r = subprocess.run([BINARY, "--help"], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0)
        for flag in ("--config.file", "--web.listen-address", "--log.level", "--log.format",
                     "--web.enable-lifecycle", "--web.enable-admin-api", "audit", "init"):
            self.assertIn(flag, r.stdout)
        r = subprocess.run([BINARY, "--version"], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"loopcanary \d+\.\d+\.\d+")

    def test_bad_reload_keeps_the_old_config_probing(self):
        with Workdir() as tmp:
            app = DemoApp(tmp)
            lc = Loopcanary(tmp, canary_config(app.url, interval="20ms"),
                            args=["--web.enable-lifecycle"])
            try:
                wait_for(lambda: lc.metrics().get("loopcanary_probes_total", target="demo",
                                                  canary="health") > 20, 10, message="probing")
                lc.write_config("targets: [ { name: demo, url: 'ftp://nope' } ]\n")
                lc.process.signal(signal.SIGHUP)
                wait_for(lambda: lc.metrics().get("loopcanary_config_last_reload_successful") == 0,
                         5, message="reload marked failed")
                before = lc.metrics().get("loopcanary_probes_total", target="demo", canary="health")
                time.sleep(1)
                after = lc.metrics().get("loopcanary_probes_total", target="demo", canary="health")
                self.assertGreater(after - before, 25, "the old config keeps probing at 20 ms")
                self.assertTrue(lc.process.alive())
                self.assertIn("is not an http:// or https:// URL", lc.process.output())

                status, body, _ = lc.post("/-/reload")
                self.assertEqual(status, 500)
                self.assertIn("keeping the old config", body)

                # A good file: the reload applies it (a second canary appears)
                # and the first canary's counter continues, not restarting at 0.
                lc.write_config(canary_config(app.url, interval="20ms", extra_canary="") +
                                "      - { name: second, path: /health, interval: 50ms }\n")
                status, body, _ = lc.post("/-/reload")
                self.assertEqual(status, 200, body)
                m = lc.metrics()
                self.assertEqual(m.get("loopcanary_config_last_reload_successful"), 1)
                self.assertGreaterEqual(
                    m.get("loopcanary_probes_total", target="demo", canary="health"), after)
                wait_for(lambda: lc.metrics().get("loopcanary_probes_total", target="demo",
                                                  canary="second") > 5, 5, message="new canary")
            finally:
                lc.stop()
                app.stop()

    def test_reload_is_forbidden_without_the_lifecycle_flag(self):
        with Workdir() as tmp:
            lc = Loopcanary(tmp, canary_config("http://127.0.0.1:9", interval="100ms"))
            try:
                status, body, _ = lc.post("/-/reload")
                self.assertEqual(status, 403)
                self.assertIn("--web.enable-lifecycle", body)
            finally:
                lc.stop()

    def test_endpoints_and_sigterm(self):
        with Workdir() as tmp:
            app = DemoApp(tmp)
            lc = Loopcanary(tmp, canary_config(app.url, interval="10ms"))
            try:
                self.assertEqual(lc.get("/-/healthy")[0], 200)
                self.assertEqual(lc.get("/-/ready")[0], 200)
                status, body, headers = lc.get("/")
                self.assertEqual(status, 200)
                self.assertIn("demo", body)
                self.assertIn("<svg", body)
                self.assertEqual(lc.get("/nope")[0], 404)
                status, body, _ = lc.get("/api/v1/status")
                self.assertEqual(status, 200)
            finally:
                t0 = time.monotonic()
                code = lc.stop()
                took = time.monotonic() - t0
                app.stop()
            self.assertEqual(code, 0)
            self.assertLess(took, 1.0, f"SIGTERM took {took:.2f}s")


if __name__ == "__main__":
    unittest.main()
