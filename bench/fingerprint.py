#!/usr/bin/env python3
"""The fingerprint of each degradation of the demo app: a closed-loop ramp on
each of its four heavy routes, run by `loopcanary audit`, summarised in one
table (HOL, queue amplification, executor capacity, knee, worst status).

    /usr/bin/python3 bench/fingerprint.py
"""

import json
import os
import subprocess

from benchlib import harness, load_note, table

ROUTES = {
    # route: (path, ramp, step)
    "agent": ("/agent?ms=200", "[1, 2, 4, 8]", "3s"),
    "io": ("/io?ms=200", "[1, 2, 4, 8, 16, 32, 64]", "2s"),
    "sync": ("/sync?ms=100", "[1, 2, 4, 8, 16, 32, 64]", "2s"),
    "cpu": ("/cpu?ms=100", "[1, 2, 4, 8]", "3s"),
}


def main():
    rows = []
    with harness.Workdir() as tmp:
        app = harness.DemoApp(tmp)
        try:
            routes = "".join(f'      - {{ name: {r}, path: "{p}", timeout: 30s }}\n'
                             for r, (p, _, _) in ROUTES.items())
            scenarios = "".join(
                f"  - {{ name: {r}-ramp, target: demo, phases: [ {{ route: {r}, concurrency: {ramp}, step: {step} }} ] }}\n"
                for r, (_, ramp, step) in ROUTES.items())
            path = os.path.join(tmp, "fingerprint.yaml")
            with open(path, "w") as f:
                f.write(harness.canary_config(app.url, interval="10ms", idle_interval="50ms",
                                              routes=routes, scenarios=scenarios))
            for r in ROUTES:
                out = os.path.join(tmp, f"{r}.json")
                proc = subprocess.run([harness.BINARY, "audit", f"--config.file={path}",
                                       f"--scenario={r}-ramp", f"--report=json={out}",
                                       "--no-progress"],
                                      capture_output=True, text=True, timeout=300)
                with open(out) as f:
                    report = json.load(f)["subjects"][0]  # schema 1: one subject per target
                route = next(x for x in report["routes"] if x["name"] == r)
                fmt = lambda v, f="{:.2f}": "–" if v is None else f.format(v)  # noqa: E731
                rows.append([
                    r, ROUTES[r][0], fmt(route["hol_blocking_ratio_max"]),
                    fmt(route["queue_amplification_ratio_max"]),
                    fmt(route["executor_capacity_estimate"], "{:.1f}"),
                    fmt(route["saturation_concurrency"], "{}"),
                    report["worst_status_name"],
                    ", ".join(f["finding"] for f in report["findings"]) or "none",
                    f"exit {proc.returncode} ({report['verdict'].upper()})",
                ])
                print(rows[-1], flush=True)
        finally:
            app.stop()
    print()
    print(table(["route", "path", "HOL (max)", "amplification (max)", "capacity", "knee",
                 "worst status", "findings", "audit"], rows))
    print()
    print(load_note())


if __name__ == "__main__":
    main()
