#!/usr/bin/env python3
"""loopcanary's own cost at a 10 ms canary against the demo app: CPU (% of one
core), peak RSS, and how closely the probe schedule is kept.

    /usr/bin/python3 bench/footprint.py [--seconds 60] [--interval 10ms]
"""

import argparse
import time

from benchlib import cpu_seconds, harness, load_note, status_kib, table


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--interval", default="10ms")
    args = ap.parse_args()
    interval_s = float(args.interval[:-2]) / 1000 if args.interval.endswith("ms") else float(args.interval[:-1])

    with harness.Workdir() as tmp:
        app = harness.DemoApp(tmp)
        lc = harness.Loopcanary(tmp, harness.canary_config(app.url, interval=args.interval))
        try:
            time.sleep(2)  # warm-up: connections open, baseline known
            m0 = lc.metrics()
            t0, c0 = time.monotonic(), cpu_seconds(lc.process.pid)
            p0 = m0.get("loopcanary_probes_total", target="demo", canary="health")
            rss = []
            lag = []
            end = t0 + args.seconds
            while time.monotonic() < end:
                time.sleep(1)
                rss.append(status_kib(lc.process.pid, "VmRSS"))
                lag.append(lc.metrics().get("loopcanary_prober_lag_seconds"))
            t1, c1 = time.monotonic(), cpu_seconds(lc.process.pid)
            m1 = lc.metrics()
            p1 = m1.get("loopcanary_probes_total", target="demo", canary="health")
            failures = m1.sum("loopcanary_probe_failures_total", target="demo", canary="health")
            hwm = status_kib(lc.process.pid, "VmHWM")
        finally:
            lc.stop()
            app.stop()

    elapsed = t1 - t0
    planned = elapsed / interval_s
    achieved = p1 - p0
    rows = [
        ["interval", args.interval],
        ["measured for", f"{elapsed:.1f} s"],
        ["CPU, % of one core", f"{(c1 - c0) / elapsed * 100:.2f} %"],
        ["peak RSS (VmHWM)", f"{hwm / 1024:.1f} MiB"],
        ["RSS first → last second", f"{rss[0] / 1024:.1f} → {rss[-1] / 1024:.1f} MiB"],
        ["probes planned / achieved", f"{planned:.0f} / {achieved:.0f} ({achieved / planned * 100:.2f} %)"],
        ["achieved rate", f"{achieved / elapsed:.1f} /s"],
        ["failed probes", f"{failures:.0f}"],
        ["prober lag, worst second", f"{max(lag) * 1000:.2f} ms"],
    ]
    print(table(["footprint", "value"], rows))
    print()
    print(load_note())


if __name__ == "__main__":
    main()
