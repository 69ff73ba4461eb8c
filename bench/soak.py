#!/usr/bin/env python3
"""Soak: loopcanary at 1 000 probes/s against the demo app for 30 minutes,
with an event-loop block injected every few seconds. Samples loopcanary's RSS
and open fds every 10 s and checks that every probe is accounted for:
scheduled (probes_total) = ok + failed (incl. dropped) + in flight.

    /usr/bin/python3 bench/soak.py [--minutes 30] [--rate 1000] [--every 5] [--block-ms 200]
"""

import argparse
import random
import time

from benchlib import fd_count, harness, load_note, status_kib, table

LATENCY_REASONS = ("timeout", "bad_status", "bad_body")


def accounting(m):
    labels = dict(target="demo", canary="health")
    scheduled = m.get("loopcanary_probes_total", **labels)
    failed = m.sum("loopcanary_probe_failures_total", **labels)
    observed = m.get("loopcanary_probe_duration_seconds_count", **labels)
    ok = observed - sum(m.get("loopcanary_probe_failures_total", reason=r, **labels) for r in LATENCY_REASONS)
    in_flight = m.get("loopcanary_probes_in_flight", **labels)
    return scheduled, ok, failed, in_flight


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--rate", type=int, default=1000, help="probes per second")
    ap.add_argument("--every", type=float, default=5, help="seconds between injected blocks")
    ap.add_argument("--block-ms", type=int, default=200)
    args = ap.parse_args()
    interval_us = int(1_000_000 / args.rate)
    # Prometheus-style durations have no microseconds: use several canaries-worth
    # of rate through one canary at 1 ms when the rate is 1 000/s.
    assert interval_us % 1000 == 0, "rate must give a whole-millisecond interval"
    interval = f"{interval_us // 1000}ms"

    rows, problems = [], []
    with harness.Workdir() as tmp:
        app = harness.DemoApp(tmp)
        lc = harness.Loopcanary(tmp, harness.canary_config(app.url, interval=interval))
        pid = lc.process.pid
        try:
            start = time.monotonic()
            end = start + args.minutes * 60
            next_sample = start
            next_block = start + args.every
            blocks = 0
            while time.monotonic() < end:
                now = time.monotonic()
                if now >= next_block:
                    app.block(random.randint(args.block_ms // 2, args.block_ms))
                    blocks += 1
                    next_block = now + args.every
                if now >= next_sample:
                    m = lc.metrics()
                    scheduled, ok, failed, in_flight = accounting(m)
                    diff = scheduled - (ok + failed + in_flight)
                    rows.append([f"{now - start:.0f}", f"{status_kib(pid, 'VmRSS') / 1024:.1f}",
                                 fd_count(pid), f"{scheduled:.0f}", f"{ok:.0f}", f"{failed:.0f}",
                                 f"{in_flight:.0f}", f"{diff:+.0f}",
                                 f"{m.get('loopcanary_stalls_total', target='demo'):.0f}",
                                 f"{m.get('loopcanary_stall_seconds_total', target='demo'):.1f}",
                                 f"{m.get('loopcanary_prober_lag_seconds') * 1000:.1f}"])
                    print(" | ".join(str(c) for c in rows[-1]), flush=True)
                    if not lc.process.alive():
                        problems.append("loopcanary exited")
                        break
                    next_sample = now + 10
                time.sleep(0.05)
        finally:
            code = lc.stop()
            app.stop()
    print()
    print(f"{args.minutes:g} min at {args.rate}/s (interval {interval}), a {args.block_ms // 2}–{args.block_ms} ms "
          f"block every {args.every:g} s ({blocks} blocks); loopcanary exit status {code}")
    print(table(["t (s)", "RSS (MiB)", "fds", "scheduled", "ok", "failed", "in flight",
                 "unaccounted", "stalls", "stall s", "prober lag (ms)"], rows))
    warm = [float(r[1]) for r in rows if float(r[0]) >= 60]
    if warm:
        print(f"\nRSS after the first minute: min {min(warm):.1f}, max {max(warm):.1f} MiB; "
              f"fds min {min(int(r[2]) for r in rows)}, max {max(int(r[2]) for r in rows)}")
    print(problems or "no crash")
    print(load_note())


if __name__ == "__main__":
    main()
