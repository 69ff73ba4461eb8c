#!/usr/bin/env python3
"""How well loopcanary sees event-loop blocks of known length, injected into
the demo app (POST /internal/block; the app reports each block's real start
and end on CLOCK_MONOTONIC, and when its loop next ran a /health handler):
fraction detected, error of the measured stall duration against how long the
loop could not serve (start to served), the app's own wake-up cost after the
sleep (end to served), and time from block start to status >= critical.

    /usr/bin/python3 bench/detection.py [--reps 3] [--stall-threshold 10ms]
        [--blocks 20,50,100,200,600,1000,3000] [--intervals 5,10,50]
"""

import argparse
import statistics
import time

from benchlib import harness, load_note, table


def counters(lc):
    m = lc.metrics()
    return m.get("loopcanary_stall_seconds_total", target="demo"), m.get("loopcanary_stalls_total", target="demo")


def measure(app, lc, d_ms, reps):
    found, errors, to_critical, extra, wake = 0, [], [], 0, []
    for _ in range(reps):
        if d_ms >= 500:
            # Time-to-critical needs a calm start: the previous block out of
            # the window (its stall ratio would add to this one's) and the
            # status back below critical.
            harness.wait_for(lambda: lc.target_status("demo")["signals"]["stall_ratio"] == 0, 40,
                             message="previous block out of the window")
            harness.wait_for(lambda: lc.target_status("demo")["status"] in (0, 1), 40,
                             message="status below critical")
        s0, n0 = counters(lc)
        n_blocks = len(app.truth(reset=False)["blocks"])
        app.block(d_ms, delay_ms=50)
        critical_at = None
        deadline = time.monotonic() + d_ms / 1000 + 1.0
        while time.monotonic() < deadline:
            st = lc.target_status("demo")["status"]
            if critical_at is None and st >= 2:
                critical_at = time.monotonic()
            time.sleep(0.005)
        app.wait_block_done(n_blocks + 1, timeout=10)
        harness.wait_for(lambda: lc.target_status("demo")["signals"]["stall_in_progress_seconds"] == 0,
                         10, message="settled")
        time.sleep(0.2)
        s1, n1 = counters(lc)
        block = app.truth(reset=False)["blocks"][n_blocks]
        truth = block["served"] - block["start"]
        wake.append(block["served"] - block["end"])
        if n1 > n0:
            found += 1
            errors.append((s1 - s0) - truth)
            extra += int(n1 - n0 - 1)
        if critical_at is not None:
            to_critical.append(critical_at - block["start"])
        time.sleep(0.3)
    return found, errors, to_critical, extra, wake


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--stall-threshold", default="10ms")
    ap.add_argument("--blocks", default="20,50,100,200,600,1000,3000")
    ap.add_argument("--intervals", default="5,10,50")
    args = ap.parse_args()
    blocks = [int(x) for x in args.blocks.split(",")]
    rows = []
    with harness.Workdir() as tmp:
        app = harness.DemoApp(tmp)
        try:
            for interval in [int(x) for x in args.intervals.split(",")]:
                lc = harness.Loopcanary(tmp, harness.canary_config(
                    app.url, interval=f"{interval}ms",
                    global_extra=f", stall_threshold: {args.stall_threshold}"))
                try:
                    harness.wait_for(lambda: lc.target_status("demo")["status"] == 0, 20, message="healthy")
                    for d in blocks:
                        found, errors, crit, extra, wake = measure(app, lc, d, args.reps)
                        ok = d >= 2 * interval and found == args.reps and \
                            all(abs(e) <= (interval + 5) / 1000 for e in errors)
                        rows.append([
                            f"{interval} ms", f"{d} ms", f"{statistics.mean(wake) * 1000:.1f} ms",
                            f"{found}/{args.reps}",
                            f"{statistics.mean(errors) * 1000:+.1f} ms" if errors else "–",
                            f"{max(errors, key=abs) * 1000:+.1f} ms" if errors else "–",
                            f"{statistics.mean(crit) * 1000:.0f} ms" if crit else "never",
                            extra,
                            ("goal met" if ok else "goal missed") if d >= 2 * interval else "below 2×interval",
                        ])
                        print(rows[-1], flush=True)
                finally:
                    lc.stop()
        finally:
            app.stop()
    print()
    print(f"stall_threshold {args.stall_threshold}, {args.reps} blocks per cell, default window and thresholds")
    print(table(["interval", "block D", "app's wake-up (sleep end → served)", "detected",
                 "mean error", "worst error",
                 "block start → status ≥ 2", "extra stalls", "goal (D ≥ 2×interval: detected, |error| ≤ interval + 5 ms)"], rows))
    print()
    print(load_note())


if __name__ == "__main__":
    main()
