"""Issue 3: the derived signals and the runtime status, proven against stalls
injected into the real demo app's event loop (POST /internal/block), with the
app's inside view (/internal/truth) as the reference."""

import signal
import sys
import time
import unittest

from harness import DemoApp, Loopcanary, Workdir, canary_config, judged_level, wait_for
from harness import starved as is_starved

INTERVAL_S = 0.010


def stall_counters(lc):
    m = lc.metrics()
    return (m.get("loopcanary_stall_seconds_total", target="demo"),
            m.get("loopcanary_stalls_total", target="demo"))


def wait_known_and_healthy(lc, timeout=30):
    """Healthy: past the target's warm-up (global.warmup, 10 s by default)."""
    last = {}

    def healthy():
        last["t"] = lc.target_status("demo")
        return last["t"]["status"] == 0

    try:
        wait_for(healthy, timeout, message="the status to become healthy")
    except AssertionError:
        t = last.get("t", {})
        raise AssertionError(f"not healthy after {timeout}s: status {t.get('status')}, "
                             f"{t.get('unknown_reason')}, signals {t.get('signals')}") from None


def watch_status(lc, until):
    """Polls /api/v1/status until CLOCK_MONOTONIC `until`; returns
    [(monotonic time of the answer, status, status json)]."""
    seen = []
    while time.monotonic() < until:
        t = lc.target_status("demo")
        seen.append((time.monotonic(), t["status"], t))
        time.sleep(0.01)
    return seen


class StallAccuracy(unittest.TestCase):
    """A block of D ms adds D ± (interval + 20 ms) stall seconds and exactly
    one stall, however many probes were stuck in it.

    D is how long the loop could not serve: from the block's start to when it
    next ran a /health handler. On this 2-vCPU VM a loop that slept 3 s wakes
    to a cold CPU and takes 10-90 ms more to serve its first request (the same
    Python work runs 2-5x slower right after a long sleep: bench/wakeup.py);
    that wait is real, loopcanary counts it, and the sleep alone would make the
    test a coin flip.
    The sleep is checked too: the measured stall is never shorter than it by
    more than the tolerance."""

    def test_blocks_of_100_600_3000_ms(self):
        with Workdir() as tmp:
            app = DemoApp(tmp)
            lc = Loopcanary(tmp, canary_config(app.url, interval="10ms"))
            try:
                wait_known_and_healthy(lc)
                for n, d_ms in enumerate((100, 600, 3000), start=1):
                    with self.subTest(block_ms=d_ms):
                        s0, n0 = stall_counters(lc)
                        app.block(d_ms, delay_ms=100)
                        app.wait_block_done(n, timeout=d_ms / 1000 + 5)
                        # Wait until every probe stuck in the block has settled.
                        wait_for(lambda: lc.target_status("demo")["signals"]
                                 ["stall_in_progress_seconds"] == 0, 5, message="settled")
                        time.sleep(0.3)
                        s1, n1 = stall_counters(lc)
                        measured = s1 - s0
                        block = app.truth(reset=False)["blocks"][n - 1]
                        slept = block["end"] - block["start"]
                        unserving = block["served"] - block["start"]
                        msg = (f"slept {slept:.3f}s, served again after {unserving:.3f}s, "
                               f"measured {measured:.3f}s")
                        print(f"block {d_ms} ms: {msg}", file=sys.stderr)
                        self.assertAlmostEqual(measured, unserving, delta=INTERVAL_S + 0.020, msg=msg)
                        self.assertGreaterEqual(measured, slept - INTERVAL_S - 0.020, msg)
                        self.assertEqual(n1 - n0, 1)
                        time.sleep(0.5)
            finally:
                lc.stop()
                app.stop()


class StatusDuringAndAfterBlocks(unittest.TestCase):
    def test_600ms_block_is_critical_before_it_ends_then_steps_back_to_healthy(self):
        with Workdir() as tmp:
            app = DemoApp(tmp)
            # A 3 s window so the block leaves it soon; hold 3 evaluations of 1 s.
            lc = Loopcanary(tmp, canary_config(app.url, interval="10ms", window="3s"))
            try:
                wait_known_and_healthy(lc)
                scheduled = app.block(600, delay_ms=300)
                start = scheduled["now"] + 0.3
                seen = watch_status(lc, until=start + 1.0)
                block = app.wait_block_done(1, timeout=5)[-1]
                # While loopcanary says it was itself starved (a busy
                # machine) the status is unknown: the level its evidence held
                # at is read instead, and said.
                during = [judged_level(t) for at, _, t in seen if block["start"] < at < block["end"]]
                starved_reads = sum(1 for at, _, t in seen
                                    if block["start"] < at < block["end"] and is_starved(t))
                if starved_reads:
                    print(f"\n{starved_reads} of {len(during)} reads in the block unknown with "
                          "prober_starved: their evidence read instead", file=sys.stderr)
                self.assertTrue(during, "polled during the block")
                self.assertIn(2, during, f"critical before the block ended; saw {during}")
                self.assertNotIn(3, during, "600 ms is not unresponsive")

                # Steps back one level at a time, to healthy, once the block has
                # left the window: W + 2 levels × hold × 1 s, plus slack.
                # Unknown while loopcanary says it was itself starved (a busy
                # machine) is correct, not a step: it is left out, and said.
                # After such a gap the status is judged afresh from what the
                # evidence says then (unknown → healthy is no step down), so
                # "one level at a time" holds between reads with no gap.
                trail, starved = [], 0
                gap = False
                deadline = block["end"] + 3 + 2 * 3 + 3
                while time.monotonic() < deadline:
                    t = lc.target_status("demo")
                    if t["status"] == -1 and t["signals"]["prober_starved"]:
                        starved += 1
                        gap = True
                    else:
                        trail.append((t["status"], gap))
                        gap = False
                        if t["status"] == 0:
                            break
                    time.sleep(0.1)
                if starved:
                    print(f"\n{starved} reads unknown with prober_starved, left out", file=sys.stderr)
                self.assertEqual(trail[-1][0], 0, f"back to healthy; trail {trail}")
                steps = [(s, g) for i, (s, g) in enumerate(trail) if i == 0 or s != trail[i - 1][0] or g]
                levels = [s for s, _ in steps]
                self.assertEqual(levels, sorted(levels, reverse=True), f"monotonic: {levels}")
                self.assertTrue(all(a - b <= 1 or after_gap for (a, _), (b, after_gap) in zip(steps, steps[1:])),
                                f"one level at a time, but across a starved gap: {steps}")
            finally:
                lc.stop()
                app.stop()

    def test_3s_block_is_unresponsive_before_it_ends(self):
        with Workdir() as tmp:
            app = DemoApp(tmp)
            lc = Loopcanary(tmp, canary_config(app.url, interval="10ms"))
            try:
                wait_known_and_healthy(lc)
                scheduled = app.block(3000, delay_ms=200)
                seen = watch_status(lc, until=scheduled["now"] + 0.2 + 3.2)
                block = app.wait_block_done(1, timeout=5)[-1]
                during = [(round(t - block["start"], 2), s) for t, s, _ in seen
                          if block["start"] < t < block["end"]]
                self.assertIn(3, [s for _, s in during], f"unresponsive during the block: {during}")
                first = next(t for t, s in during if s == 3)
                self.assertLess(first, 2.5, "stall in progress ≥ 2 s makes it unresponsive")
                status = lc.target_status("demo")
                starvation = next(f for f in status["findings"]
                                  if f["finding"] == "event_loop_starvation")
                self.assertTrue(starvation["active"])
                self.assertTrue(any(e["holds"] for e in starvation["evidence"]))
            finally:
                lc.stop()
                app.stop()


class HealthyTraffic(unittest.TestCase):
    def test_30s_of_healthy_traffic_adds_no_stall_and_stays_healthy(self):
        with Workdir() as tmp:
            app = DemoApp(tmp)
            lc = Loopcanary(tmp, canary_config(app.url, interval="10ms"))
            try:
                wait_known_and_healthy(lc)
                s0, n0 = stall_counters(lc)
                statuses, unknown = set(), []
                end = time.monotonic() + 30
                while time.monotonic() < end:
                    t = lc.target_status("demo")
                    statuses.add(t["status"])
                    if t["status"] == -1:
                        unknown.append(t)
                    time.sleep(0.1)
                s1, n1 = stall_counters(lc)
                # Unknown is allowed only when loopcanary says it was itself
                # starved (a busy machine): then it blames nobody.
                for t in unknown:
                    self.assertTrue(t["signals"]["prober_starved"], t.get("unknown_reason"))
                if unknown:
                    print(f"\n{len(unknown)} reads unknown, all with prober_starved", file=sys.stderr)
                self.assertLessEqual(statuses, {0, -1})
                self.assertEqual(s1 - s0, 0)
                self.assertEqual(n1 - n0, 0)
            finally:
                lc.stop()
                app.stop()


class OutsideInMatchesInside(unittest.TestCase):
    def test_outside_in_max_lag_within_20_percent_of_the_inside_one(self):
        with Workdir() as tmp:
            app = DemoApp(tmp)
            lc = Loopcanary(tmp, canary_config(app.url, interval="10ms"))
            try:
                wait_known_and_healthy(lc)
                app.truth(reset=True)
                app.block(600, delay_ms=100)
                app.wait_block_done(1, timeout=5)
                wait_for(lambda: lc.target_status("demo")["signals"]["stall_in_progress_seconds"] == 0,
                         5, message="settled")
                time.sleep(0.3)
                outside = lc.target_status("demo")["signals"]["stall_max_seconds"]
                inside = app.truth(reset=True)["loop_lag"]["max_seconds"]
                self.assertGreater(inside, 0.5)
                self.assertAlmostEqual(outside, inside, delta=0.2 * inside,
                                       msg=f"outside {outside:.3f}s inside {inside:.3f}s")
                m = lc.metrics()
                self.assertGreaterEqual(m.get("loopcanary_lag_seconds_count", target="demo"), 50)
                self.assertGreater(m.get("loopcanary_busy_ratio", target="demo"), 0.03)
            finally:
                lc.stop()
                app.stop()


class ProberStarvation(unittest.TestCase):
    """A frozen prober must say so, not blame the healthy target."""

    def test_sigstop_of_loopcanary_raises_prober_starved_not_critical(self):
        with Workdir() as tmp:
            app = DemoApp(tmp)
            lc = Loopcanary(tmp, canary_config(app.url, interval="10ms"))
            try:
                wait_known_and_healthy(lc)
                s0, n0 = stall_counters(lc)
                lc.process.signal(signal.SIGSTOP)
                time.sleep(1.0)
                lc.process.signal(signal.SIGCONT)
                statuses = []
                starved = False
                end = time.monotonic() + 3
                while time.monotonic() < end:
                    t = lc.target_status("demo")
                    statuses.append(t["status"])
                    starved = starved or any(f["finding"] == "prober_starved" and f["active"]
                                             for f in t["findings"])
                    time.sleep(0.05)
                self.assertTrue(starved, "prober_starved raised")
                self.assertNotIn(2, statuses)
                self.assertNotIn(3, statuses)
                self.assertIn(-1, statuses, "the status says unknown while the prober is starved")
                s1, n1 = stall_counters(lc)
                self.assertEqual(s1 - s0, 0, "a frozen prober adds no stall seconds")
                self.assertEqual(n1 - n0, 0)
                m = lc.metrics()
                self.assertEqual(m.get("loopcanary_finding", target="demo", finding="prober_starved"), 1)
                self.assertGreaterEqual(m.get("loopcanary_prober_lag_seconds"), 0)
            finally:
                lc.stop()
                app.stop()


if __name__ == "__main__":
    unittest.main()
