"""A stalled worker must not hide behind healthy ones (issue 12), against real
pre-fork servers: the demo app under `uvicorn --workers N` and under Debian's
gunicorn with uvicorn's worker class. Each worker process has its own event
loop; a keep-alive connection is served by one worker for its life, so a
probe stuck on one connection while the others are answered is part of the
service stalled.

The canary names its worker (`worker_id: {json_field: pid}`: the demo app's
/health answers with its pid), so a test can wait until loopcanary has a
connection to every worker, then block one worker's loop at a known
CLOCK_MONOTONIC time (`POST /internal/block?pid=P&at=T`, the same clock in
every worker) and compare with the worker's own record of the block
(start → when its loop next served a /health: the time it could not serve).

When the machine is so busy that loopcanary's own timers are late, it says
so (status unknown, prober_starved): the healthy test allows that and counts
it, and the detection tests require what a busy machine cannot take away
(the partial stall seconds, counted once, the whole-service stall unchanged).
When the machine stalls the service's other workers instead (their own lag
monitors record it: /internal/truth `stalls`), a block test is not of one
worker, and it is measured again.
"""

import os
import re
import signal
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

INTERVAL_MS = 10
CONNECTIONS = 4
# A partial stall counts from the first probe stuck on the blocked worker's
# connection, and the pool is used in turn: that probe goes out up to one
# round of the pool after the block began (4 connections × 10 ms × 1.2 for
# the jitter), not one interval as for the whole service; then 50 ms for the
# app's wake-up from its sleep and a busy machine (docs/design.md).
TOLERANCE = (CONNECTIONS * INTERVAL_MS * 1.2 + 50) / 1000
WARMUP = "5s"


def config(url, connections=CONNECTIONS, warmup=WARMUP, worker_id=True, renew=None):
    extra = f", connections: {connections}"
    if renew:
        extra += f", renew_connections: {renew}"
    if worker_id:
        extra += ", worker_id: { json_field: pid }"
    return h.canary_config(url, interval=f"{INTERVAL_MS}ms", extra_canary=extra,
                           global_extra=f", warmup: {warmup}")


def counter(lc, name):
    return lc.metrics().get(name, target="demo") or 0.0


def covered(lc, pids):
    """The pids that have an open probe connection now."""
    workers = lc.target_status("demo")["workers"]
    return {int(w["worker"]) for w in workers if w["connections"] > 0} & set(pids)


class Server:
    def __init__(self, workdir, server, workers=4):
        self.app = h.DemoApp(workdir, workers=workers, server=server)
        self.pids = self.app.pids()
        self.lc = h.Loopcanary(workdir, config(self.app.url))

    def wait_ready(self):
        """Healthy (past warm-up), with probe connections to two workers at
        least: the one a test blocks and one that answers meanwhile (covering
        them all is Coverage's test)."""
        h.wait_for(lambda: self.lc.target_status("demo")["status"] == 0, 60,
                   message="loopcanary to call the 4-worker app healthy after warm-up")
        h.wait_for(lambda: len(covered(self.lc, self.pids)) >= 2, 60, interval=0.1,
                   message=f"probe connections to 2 of workers {self.pids}")

    def stop(self):
        self.lc.stop()
        self.app.stop()


class OneWorkerBlocked:
    """Mixed into one TestCase per server."""

    server = None

    def block_one(self, block_ms, freeze=None):
        """Blocks a worker that has a probe connection now. The pool renews a
        connection now and then, so the worker may lose it before the block
        starts (0.2 s later): then nothing is stuck, and the block is tried
        again on another (at most 3 times) — coverage is Coverage's test."""
        for _ in range(3):
            result = self.try_block(block_ms, freeze)
            if result:
                return result
        self.fail("three blocks in a row hit a worker without a probe connection")

    def try_block(self, block_ms, freeze=None):
        """`freeze`: (seconds into the block, seconds) to stop loopcanary
        itself for (SIGSTOP), as a throttled or busy machine would."""
        s = self.s
        # The worker with the fewest of the pool's connections: the kernel may
        # give one worker 3 of the 4, and then the healthy workers' probes
        # queue behind the one connection left, under load long enough to
        # count as a stall of the whole service (a limit of a fixed pool,
        # docs/design.md "Multi-worker servers"; here the others must answer).
        workers = {int(w["worker"]): w["connections"] for w in s.lc.target_status("demo")["workers"]}
        pid = min(covered(s.lc, s.pids), key=lambda p: (workers.get(p, 0), p))
        span_from = time.monotonic()
        before = s.lc.metrics()
        statuses = []
        start = s.app.truth()["now"] + 0.2
        s.app.block_worker(pid, block_ms, at=start)
        end = start + block_ms / 1000
        if freeze:
            # The app's clock is this process's CLOCK_MONOTONIC.
            threading.Thread(target=self.freeze_at, args=(start + freeze[0], freeze[1]), daemon=True).start()
        # Poll the status through the block and 2 s past it.
        while s.app.truth()["now"] < end + 2:
            t = s.lc.target_status("demo")
            statuses.append((s.app.truth()["now"] - start, t["status"], t))
            time.sleep(0.05)
        truth = h.wait_for(lambda: self.truth_of(pid), 10, message=f"worker {pid}'s record")
        h.wait_for(lambda: s.lc.target_status("demo")["signals"]["probe_connections_stalled"] == 0,
                   10, message="the stalled connection to answer")
        time.sleep(0.5)  # let the stuck probe settle
        after = s.lc.metrics()
        span = (span_from, time.monotonic())
        stuck = any(w["stalled"] for _, _, t in statuses for w in t["workers"] if w["worker"] == str(pid))
        if not stuck and after.get("loopcanary_partial_stalls_total", target="demo") == \
                before.get("loopcanary_partial_stalls_total", target="demo"):
            print(f"\nworker {pid} lost its probe connection before its block: again", file=sys.stderr)
            time.sleep(3)  # let loopcanary forget it (and the status step down)
            s.wait_ready()
            return None
        return pid, before, after, statuses, truth, span

    def freeze_at(self, at, seconds):
        time.sleep(max(0.0, at - time.monotonic()))
        self.s.lc.process.signal(signal.SIGSTOP)
        time.sleep(seconds)
        self.s.lc.process.signal(signal.SIGCONT)

    def truth_of(self, pid):
        """The last block of worker `pid`, from its own /internal/truth, or
        None while it has not answered or not served since (wait_for asks again)."""
        body = self.s.app.every_truth([pid], attempts=200, required=False).get(pid)
        blocks = body["blocks"] if body else []
        return blocks[-1] if blocks and blocks[-1]["served"] else None

    def other_stalls(self, pid, truth, span):
        """What the workers' own loops recorded besides the block: every
        stall (a lag monitor's wake-up 40 ms late or more) within `span`, of
        another worker, or of the blocked one outside its block."""
        found = []
        for p, body in self.s.app.every_truth(self.s.pids).items():
            for st in body["stalls"]:
                if st["end"] < span[0] or st["start"] > span[1]:
                    continue
                if p == pid and st["start"] <= truth["served"] and st["end"] >= truth["start"]:
                    continue  # the block itself, as the loop saw it
                found.append((p, st))
        return found

    def measure(self, block_ms, freeze=None):
        """A block measured while nothing else stalled the service: the
        workers' own loops say whether the machine stalled one of them too.
        Then the test is not of one worker's block, and is measured again (at
        most 3 times): the inside record decides, not the result. (CI once
        counted +1.65 s of whole-service stall on a uvicorn block with
        loopcanary never late: not the machine but Nagle's algorithm on the
        one connection left, docs/design.md; the demo app turns it off.)"""
        s = self.s
        for attempt in range(3):
            s.wait_ready()
            pid, before, after, statuses, truth, span = self.block_one(block_ms, freeze)
            others = self.other_stalls(pid, truth, span)
            worst = max((st["end"] - st["start"] for _, st in others), default=0.0)
            print(f"\n{self.server}: the workers' own loops, besides the block: {len(others)} stalls of "
                  f"40 ms or more, the longest {worst * 1000:.0f} ms", file=sys.stderr)
            if not others:
                return pid, before, after, statuses, truth
            for p, st in others:
                print(f"  worker {p} stalled {(st['end'] - st['start']) * 1000:.0f} ms at "
                      f"{(st['start'] - truth['start']) * 1000:+.0f} ms from the block", file=sys.stderr)
            time.sleep(3)  # let loopcanary forget it
        self.fail("the machine stalled the service's other workers during each of 3 blocks")

    def check_block(self, block_ms, freeze=None):
        s = self.s
        pid, before, after, statuses, truth = self.measure(block_ms, freeze)
        delta = lambda name: (after.get(name, target="demo") or 0) - (before.get(name, target="demo") or 0)  # noqa: E731
        could_not_serve = truth["served"] - truth["start"]
        partial = delta("loopcanary_partial_stall_seconds_total")
        late = max(t["signals"]["prober_lag_in_window_seconds"] for _, _, t in statuses)
        print(f"\n{self.server}: worker {pid} blocked {block_ms} ms, could not serve "
              f"{could_not_serve * 1000:.0f} ms; partial stall {partial * 1000:.0f} ms, "
              f"episodes +{delta('loopcanary_partial_stalls_total'):.0f}, whole-service stall "
              f"+{delta('loopcanary_stall_seconds_total') * 1000:.0f} ms; prober late "
              f"{late * 1000:.0f} ms in a window",
              file=sys.stderr)
        self.assertAlmostEqual(partial, could_not_serve, delta=TOLERANCE)
        self.assertEqual(delta("loopcanary_partial_stalls_total"), 1, "one block, one episode")
        whole = delta("loopcanary_stall_seconds_total")
        if whole >= 0.01:
            # The other workers answered, so the whole service did not stall
            # -- unless the machine held them all past θ at once: a VM whose
            # CPU the hypervisor takes (CI once: +153 ms while loopcanary
            # itself was late 323 ms in its window and said it was starved).
            # From outside that is a stall of the whole service, and true.
            # Allowed only then, and never longer than loopcanary's own
            # lateness: a stall the block itself caused on a quiet machine
            # (the pool's limit, docs/design.md) still fails here.
            starved = sum(1 for _, _, t in statuses if h.starved(t))
            if not (starved and whole <= late):
                # For whoever reads the failure: what the probes met, and
                # loopcanary's own account (debug log) from the block on.
                failures = {x.labels["reason"]: x.value - (before.get(x.name, **x.labels) or 0)
                            for x in after.samples
                            if x.name == "loopcanary_probe_failures_total" and x.labels.get("target") == "demo"}
                print(f"  probe failures in the span: { {k: v for k, v in failures.items() if v} }",
                      file=sys.stderr)
                lines = s.lc.process.output().splitlines()
                print("  loopcanary's log, last 60 lines:\n    " + "\n    ".join(lines[-60:]), file=sys.stderr)
            self.assertTrue(starved and whole <= late,
                            f"the other workers answered: the whole service did not stall "
                            f"(+{whole * 1000:.0f} ms; loopcanary late {late * 1000:.0f} ms, "
                            f"{starved} reads starved)")
            print(f"  the whole service stalled +{whole * 1000:.0f} ms while loopcanary said it "
                  f"was itself starved ({starved} reads, late {late * 1000:.0f} ms): a busy "
                  "machine, allowed", file=sys.stderr)
        else:
            self.assertEqual(delta("loopcanary_stalls_total"), 0)
        worker_partial = (after.get("loopcanary_worker_partial_stall_seconds_total",
                                    target="demo", worker=str(pid)) or 0) - \
                         (before.get("loopcanary_worker_partial_stall_seconds_total",
                                     target="demo", worker=str(pid)) or 0)
        self.assertAlmostEqual(worker_partial, partial, delta=0.001, msg="attributed to its worker")
        return pid, statuses

    @staticmethod
    def levels(statuses):
        """Each read's status, or while loopcanary said it was itself starved
        (status unknown, prober_starved: a busy machine; CI once read that
        through a whole 3 s block) the level its worker_stall evidence held
        at: the verdict is withheld then, the measurement is not. Says how
        many reads were judged that way."""
        starved = sum(1 for _, _, t in statuses if h.starved(t))
        if starved:
            print(f"  {starved} of {len(statuses)} reads unknown with prober_starved: "
                  "their worker_stall evidence read instead", file=sys.stderr)
        return [(at, h.judged_level(t, "worker_stall"), t) for at, _, t in statuses]

    def test_600ms(self):
        _, statuses = self.check_block(600)
        worst = max(st for _, st, _ in self.levels(statuses))
        self.assertGreaterEqual(worst, 2, "a 600 ms worker stall reaches critical")

    def test_3s(self):
        pid, statuses = self.check_block(3000)
        during = [(at, st, t) for at, st, t in self.levels(statuses) if at < 3.0]
        critical = [at for at, st, _ in during if st >= 2]
        self.assertTrue(critical, f"critical before the 3 s block ended: {[st for _, st, _ in during]}")
        print(f"  critical {critical[0] * 1000:.0f} ms after the block began", file=sys.stderr)
        at, _, t = next((x for x in during if x[1] >= 2 and x[0] > 1.0), during[-1])
        finding = next(f for f in t["findings"] if f["finding"] == "worker_stall")
        self.assertTrue(finding["active"])
        # gunicorn may have given the blocked worker two of the pool's
        # connections: "2 of 4" then, never all of them.
        summary = finding.get("summary", "")
        m = re.match(r"^(\d+) of (\d+) probe connections stalled .* while the others answered "
                     rf"\(worker {pid}\)$", summary)
        self.assertTrue(m, summary)
        self.assertTrue(1 <= int(m.group(1)) < int(m.group(2)), summary)

    def test_3s_with_loopcanary_frozen_inside(self):
        """loopcanary itself frozen 200 ms, 0.3 s into a 3 s worker block (a
        throttled sidecar): it says it was starved (status unknown) for the
        window, yet the stuck probe's answer carries the kernel's arrival
        time, so the freeze explains none of its wait: the partial stall is
        measured as without it, and its evidence held at critical."""
        _, statuses = self.check_block(3000, freeze=(0.3, 0.2))
        self.assertTrue(any(h.starved(t) for at, _, t in statuses if at > 0.5),
                        "a 200 ms freeze makes loopcanary say it was starved")
        during = [(at, st) for at, st, _ in self.levels(statuses) if at < 3.0]
        # Before the critical threshold (0.5 s) was crossed: every read that
        # says critical is one that loopcanary withheld, read from evidence.
        self.assertTrue(any(st >= 2 for _, st in during), f"critical before the block ended: {during}")


class UvicornWorkers(OneWorkerBlocked, unittest.TestCase):
    server = "uvicorn"

    def setUp(self):
        self.workdir = h.Workdir()
        self.s = Server(self.workdir.__enter__(), self.server)

    def tearDown(self):
        self.s.stop()
        self.workdir.__exit__(None, None, None)


class GunicornWorkers(UvicornWorkers):
    server = "gunicorn"


class EveryWorkerBlocked(unittest.TestCase):
    def test_the_whole_service_stall_as_with_one_loop(self):
        with h.Workdir() as wd:
            s = Server(wd, "uvicorn")
            try:
                # Every worker blocks, so every probe connection stalls,
                # whichever workers the pool reaches now.
                s.wait_ready()
                before = s.lc.metrics()
                start = s.app.truth()["now"] + 0.5
                for pid in s.pids:
                    s.app.block_worker(pid, 1000, at=start)
                h.wait_for(lambda: s.app.truth()["now"] > start + 2.5, 10, message="the blocks")
                time.sleep(0.5)
                after = s.lc.metrics()
                delta = lambda n: (after.get(n, target="demo") or 0) - (before.get(n, target="demo") or 0)  # noqa: E731
                print(f"\nall 4 workers blocked 1 s: stall {delta('loopcanary_stall_seconds_total'):.3f} s, "
                      f"partial {delta('loopcanary_partial_stall_seconds_total'):.3f} s", file=sys.stderr)
                self.assertAlmostEqual(delta("loopcanary_stall_seconds_total"), 1.0, delta=TOLERANCE + 0.05)
                self.assertEqual(delta("loopcanary_stalls_total"), 1)
                # Workers wake a few ms apart: at most that is partial.
                self.assertLess(delta("loopcanary_partial_stall_seconds_total"), 0.1)
            finally:
                s.stop()


class HealthyStart(unittest.TestCase):
    def test_a_healthy_4_worker_app_from_its_first_second(self):
        """Probed from its first second for 60 s, with the default warm-up:
        no stall, no partial stall, never above healthy. Unknown is allowed
        during warm-up, and when loopcanary says it was itself starved (a busy
        machine: then it blames nobody)."""
        with h.Workdir() as wd:
            app = h.DemoApp(wd, workers=4, wait=False)
            # From the moment the port accepts connections: the workers may
            # still be importing (a connection then waits in the backlog).
            h.wait_for(lambda: socket.create_connection(("127.0.0.1", app.port), 1).close() or True,
                       20, interval=0.01, message="the app's port to accept connections")
            lc = h.Loopcanary(wd, config(app.url, connections=8, warmup="10s"))
            try:
                seen, starved, unknown_after_warmup = [], 0, []
                first_answer = None
                end = time.monotonic() + 60
                while time.monotonic() < end:
                    t = lc.target_status("demo")
                    sig = t["signals"]
                    # Before its first evaluation a target lists no canaries
                    # yet (under ASan that can outlast the first reads).
                    if first_answer is None and t["canaries"] and \
                            t["canaries"][0]["baseline_seconds"] is not None:
                        first_answer = time.monotonic()
                    seen.append(t["status"])
                    if sig["prober_starved"]:
                        starved += 1
                    elif t["status"] == -1 and not sig["warming_up"] and first_answer and \
                            time.monotonic() - first_answer > 12:
                        unknown_after_warmup.append(t.get("unknown_reason"))
                    self.assertLessEqual(t["status"], 0, f"above healthy: {t}")
                    time.sleep(0.1)
                m = lc.metrics()
                print(f"\nhealthy 4 workers, 60 s: statuses {sorted(set(seen))}, "
                      f"{starved} of {len(seen)} reads prober_starved", file=sys.stderr)
                self.assertEqual(m.get("loopcanary_stalls_total", target="demo"), 0)
                self.assertEqual(m.get("loopcanary_stall_seconds_total", target="demo"), 0)
                self.assertEqual(m.get("loopcanary_partial_stalls_total", target="demo"), 0)
                self.assertEqual(m.get("loopcanary_partial_stall_seconds_total", target="demo"), 0)
                self.assertIn(0, seen, "healthy after warm-up")
                self.assertEqual(unknown_after_warmup, [], "unknown after warm-up only when starved")
            finally:
                lc.stop()
                app.stop()


class Coverage(unittest.TestCase):
    """With a shared accept socket the kernel picks the worker of each new
    connection, and not evenly: the time to reach every worker is heavy-tailed
    and proportional to renew_connections. A pool of as many connections as
    workers (the sizing docs/configuration.md advises), renewed every 250 ms
    (four times the default, to keep the test short): every worker is probed within a
    bounded time, measured in worker-id mode. The measured times, at 1 s and
    250 ms, are in docs/design.md."""

    RENEW = "250ms"
    # The tail is heavy: 22 s at most in the first measurements, then 28 s
    # and once over 45 s under ASan in a loaded CI run (2026-12-04); the bound
    # says coverage comes, not how fast (docs/design.md has the times).
    BOUND = {4: 120, 8: 240}  # seconds

    def measure(self, workers):
        with h.Workdir() as wd:
            app = h.DemoApp(wd, workers=workers)
            pids = app.pids()
            lc = h.Loopcanary(wd, config(app.url, connections=workers, warmup="0s", renew=self.RENEW))
            try:
                start = time.monotonic()

                def all_seen():
                    seen = {int(w["worker"]) for w in lc.target_status("demo")["workers"]}
                    return seen >= set(pids)

                h.wait_for(all_seen, self.BOUND[workers], interval=0.1,
                           message=f"every one of {workers} workers to be probed")
                took = time.monotonic() - start
                print(f"\n{workers} workers, {workers} connections renewed every {self.RENEW}: all probed "
                      f"after {took:.1f} s", file=sys.stderr)
                return took
            finally:
                lc.stop()
                app.stop()

    def test_4_workers(self):
        self.measure(4)

    def test_8_workers(self):
        self.measure(8)


if __name__ == "__main__":
    unittest.main()
