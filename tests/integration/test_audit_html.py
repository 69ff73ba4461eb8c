"""Issue 13: the HTML report opened the way a person opens it, in a real
browser (Debian's headless Chromium): the verdict, each finding and every
plot are there and drawn, and the page needs nothing from outside. Saves a
screenshot; with LOOPCANARY_UPDATE_DOCS=1 it replaces docs/img/audit-report.png,
the one docs/ci.md shows (so that picture is always one this test produced).
"""

import os
import re
import shutil
import struct
import subprocess
import tempfile
import unittest
import zlib

import auditlib
from auditlib import EXIT, Run, explain, findings
from harness import SOURCE, DemoApp, Workdir

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,2400"]
BUILD = os.environ.get("LOOPCANARY_BUILD", os.path.join(SOURCE, "build", "release"))


def chromium(tmp, *args):
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp)
    r = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                       capture_output=True, text=True, timeout=90)
    return r


def png_rows(path):
    """The PNG's width, height and distinct scanlines (stdlib only)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", chunk[:8])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = len(raw) // height
    return width, height, len({raw[i * stride + 1:(i + 1) * stride] for i in range(height)})


class HtmlReport(unittest.TestCase):
    def test_report_opens_in_chromium_with_verdict_findings_and_every_plot(self):
        with Workdir() as tmp:
            app = DemoApp(tmp)
            try:
                path = os.path.join(tmp, "audit.yaml")
                with open(path, "w") as f:
                    f.write(auditlib.config(app.url))
                run = Run(tmp, [f"--config.file={path}", "--scenario=agent-blocking"], name="report")
            finally:
                app.stop()
            self.assertEqual(run.code, EXIT["fail"], explain(run))
            report = run.json()
            html = run.html()
            # Self-contained: nothing to fetch, no script to run.
            self.assertNotRegex(html, r"<script|<link|src=\"http|url\(http")

            r = chromium(tmp, "--dump-dom", "file://" + run.paths["html"])
            self.assertEqual(r.returncode, 0, r.stderr[-2000:])
            dom = r.stdout
            self.assertIn('data-verdict="FAIL"', dom)
            self.assertIn(">FAIL<", dom)
            for name in findings(report["subjects"][0]):
                self.assertIn(f'class="card finding" data-finding="{name}"', dom, name)
            seconds = len(report["subjects"][0]["timeline"])
            self.assertGreater(seconds, 8)
            plots = {}
            for plot in ("status", "latency", "stall", "steps", "prober"):
                svg = re.search(rf'<svg class="plot" data-plot="{plot}".*?</svg>', dom, re.S)
                self.assertIsNotNone(svg, f"plot {plot}")
                plots[plot] = svg.group(0)

            def points(svg, series):
                """The points of a drawn series (a path of M/L commands)."""
                m = re.search(rf'data-series="{re.escape(series)}" d="([^"]*)"', svg)
                return len(re.findall(r"[ML]", m.group(1))) if m else 0

            # Drawn, not just framed: a shape per second of the run where there is data.
            self.assertGreaterEqual(plots["status"].count('class="status"'), seconds - 1)
            self.assertGreater(plots["status"].count('class="finding"'), 5)
            self.assertGreater(points(plots["latency"], "canary p99"), seconds // 2)
            self.assertGreater(points(plots["latency"], "agent p99"), seconds // 2)
            self.assertGreater(plots["stall"].count('class="bar"'), seconds // 2)
            self.assertGreater(points(plots["steps"], "concurrency"), seconds)
            self.assertGreaterEqual(plots["steps"].count('class="step"'), 1)
            self.assertGreater(points(plots["prober"], "prober lag"), seconds // 2)
            self.assertIn('data-series="canary p99"', dom)
            self.assertIn('data-series="agent p99"', dom)

            shot = os.path.join(BUILD, "audit-report.png")
            r = chromium(tmp, f"--screenshot={shot}", "file://" + run.paths["html"])
            self.assertEqual(r.returncode, 0, r.stderr[-2000:])
            width, height, distinct = png_rows(shot)
            self.assertEqual(width, 1280)
            self.assertGreater(distinct, 200, "the screenshot shows a drawn page, not a blank one")
            if os.environ.get("LOOPCANARY_UPDATE_DOCS"):
                os.makedirs(os.path.join(SOURCE, "docs", "img"), exist_ok=True)
                shutil.copy(shot, os.path.join(SOURCE, "docs", "img", "audit-report.png"))


if __name__ == "__main__":
    unittest.main()
