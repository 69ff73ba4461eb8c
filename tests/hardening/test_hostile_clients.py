"""loopcanary's own HTTP server under hostile clients, while it probes the demo
app every 10 ms: 1 000 connections that send nothing, an endless header,
oversized requests, 200 concurrent scrapes. Throughout, /metrics must keep
answering, the prober's self-lag must stay low and the probe schedule must hold
(probes_total grows at the configured rate within 10 %). Each test prints what
the server did, for the record."""

import http.client
import os
import resource
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from faults import harness, open_fds, sanitized  # noqa: E402

INTERVAL_S = 0.010
RATE_TOLERANCE = 0.10
# The prober's worst timer lateness over a second, as exported. Its own
# self_lag_limit (5 ms) cannot hold while the test's own clients compete for
# the machine's two cores: three CPU-bound processes that never touch
# loopcanary already make it 18-19 ms here. A server that stalled the prober
# (a shared thread or lock) would show the time of the attack's work, hundreds
# of ms. The bound is the stall threshold θ (50 ms): below it the prober's own
# lateness can never be mistaken for a stall of the target.
MAX_PROBER_LAG_S = 0.050
MAX_PROBER_LAG_ASAN_S = 0.100  # AddressSanitizer runs the prober a few times slower
SCRAPE_TIMEOUT_S = 2.0
IDLE_CONNECTIONS = 1000


def raise_fd_limit(needed):
    """The test process holds `needed` sockets and so does loopcanary, which
    inherits this limit: raise the soft limit, fail clearly if it cannot be."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = needed + 512
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            raise AssertionError(f"ulimit -n: hard limit {hard} < {want} needed for {needed} sockets")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


class Watch:
    """Scrapes /metrics every 100 ms in a thread while an attack runs, twice:
    over one keep-alive connection opened before the attack (as Prometheus
    keeps its own), which reads probes_total and the prober's self-lag, and
    over a fresh connection each time, which says whether a newcomer is served."""

    def __init__(self, lc):
        self.lc = lc
        self.host, port = lc.url[len("http://"):].rsplit(":", 1)
        self.port = int(port)
        self.samples = []  # (monotonic, probes_total, prober_lag, scrape seconds)
        self.failures = []  # (monotonic, what) of either kind of scrape
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._conn = None

    def __enter__(self):
        self._thread.start()
        harness.wait_for(lambda: len(self.samples) >= 2, 10, message="the first scrapes")
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)
        if self._conn:
            self._conn.close()

    def _kept_alive(self):
        start = time.monotonic()
        try:
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=SCRAPE_TIMEOUT_S)
            self._conn.request("GET", "/metrics")
            r = self._conn.getresponse()
            body = r.read().decode()
            took = time.monotonic() - start
            if r.status != 200:
                self.failures.append((start, f"kept-alive: status {r.status}"))
                return
            m = harness.Metrics(body)
            self.samples.append((start + took / 2,
                                 m.get("loopcanary_probes_total", target="demo", canary="health"),
                                 m.get("loopcanary_prober_lag_seconds"), took))
        except (OSError, ValueError, http.client.HTTPException) as e:
            self.failures.append((start, f"kept-alive: {e!r}"))
            self._conn.close()
            self._conn = None

    def _fresh(self):
        start = time.monotonic()
        try:
            status, _, _ = harness.http("GET", self.lc.url + "/metrics", timeout=SCRAPE_TIMEOUT_S)
            if status != 200:
                self.failures.append((start, f"fresh: status {status}"))
        except (OSError, ValueError) as e:
            self.failures.append((start, f"fresh: {e!r}"))

    def _run(self):
        while not self._stop.is_set():
            self._kept_alive()
            self._fresh()
            self._stop.wait(0.1)

    def hold(self, seconds):
        """Lets the attack go on for `seconds` while watching."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if not self.lc.process.alive():
                raise AssertionError(f"loopcanary died: {self.lc.process.output()[-3000:]}")
            time.sleep(0.1)

    def summary(self):
        (t0, p0, _, _), (t1, p1, _, _) = self.samples[0], self.samples[-1]
        return {
            "seconds": round(t1 - t0, 2),
            "scrapes": len(self.samples),
            "failed_fresh": sum(1 for f in self.failures if f[1].startswith("fresh")),
            "failed_kept_alive": sum(1 for f in self.failures if f[1].startswith("kept")),
            "max_scrape_s": round(max(s[3] for s in self.samples), 4),
            "max_prober_lag_s": max(s[2] for s in self.samples),
            "probe_rate": round((p1 - p0) / (t1 - t0), 1),
        }

    def check_prober(self, test):
        """The probe schedule held and the prober's self-lag stayed low."""
        s = self.summary()
        test.assertGreaterEqual(s["seconds"], 3, s)
        bound = MAX_PROBER_LAG_ASAN_S if sanitized(self.lc.process.pid) else MAX_PROBER_LAG_S
        test.assertLess(s["max_prober_lag_s"], bound, s)
        expected = 1 / INTERVAL_S
        test.assertLess(abs(s["probe_rate"] - expected) / expected, RATE_TOLERANCE, s)
        return s

    def check_answering(self, test):
        """Every scrape of /metrics got its 200, kept-alive or fresh."""
        test.assertEqual(self.failures[:5], [], f"/metrics stopped answering "
                         f"({len(self.failures)} failed scrapes): {self.summary()}")

    def check(self, test):
        self.check_answering(test)
        return self.check_prober(test)


def report(case, **facts):
    print(f"\n[{case}] " + ", ".join(f"{k}={v}" for k, v in facts.items()), file=sys.stderr)


def read_response(sock, limit=1 << 20):
    """Reads until EOF or `limit` bytes; returns (status or None, bytes, how it ended)."""
    data = b""
    ended = "eof"
    try:
        while len(data) < limit:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        else:
            ended = "limit"
    except ConnectionResetError:
        ended = "reset"
    except socket.timeout:
        ended = "timeout"
    status = None
    if data.startswith(b"HTTP/1.1 "):
        status = int(data[9:12])
    return status, data, ended


class HostileClientsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.limits = raise_fd_limit(IDLE_CONNECTIONS + 256)
        cls.workdir = harness.Workdir()
        cls.dir = cls.workdir.__enter__()
        cls.app = harness.DemoApp(cls.dir)
        try:
            cls.lc = harness.Loopcanary(cls.dir, harness.canary_config(cls.app.url, interval="10ms"))
        except BaseException:
            cls.app.stop()
            raise
        cls.host, cls.port = cls.lc.url[len("http://"):].rsplit(":", 1)
        cls.port = int(cls.port)

    @classmethod
    def tearDownClass(cls):
        output = cls.lc.process.output()
        status = cls.lc.stop()
        cls.app.stop()
        cls.workdir.__exit__(None, None, None)
        assert status == 0, f"loopcanary exited with {status}: {output[-3000:]}"

    def setUp(self):
        self.assertTrue(self.lc.process.alive())

    def tearDown(self):
        # Whatever the attack, loopcanary is still there and still serving.
        self.assertTrue(self.lc.process.alive(), self.lc.process.output()[-3000:])
        self.assertEqual(self.lc.get("/metrics")[0], 200)

    def connect(self):
        s = socket.create_connection((self.host, self.port), timeout=5)
        self.addCleanup(s.close)
        return s

    def test_baseline_schedule(self):
        with Watch(self.lc) as w:
            w.hold(4)
        report("baseline", **w.check(self))

    def idle_flood(self):
        """1 000 connections that connect and send nothing, held for 5 s while
        watching; run once, shared by the tests that judge it."""
        cls = type(self)
        if getattr(cls, "_idle_flood", None):
            return cls._idle_flood
        pid = self.lc.process.pid
        facts = {"fds_before": open_fds(pid)}
        socks = []
        try:
            with Watch(self.lc) as w:
                for _ in range(IDLE_CONNECTIONS):
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    socks.append(s)
                    s.settimeout(5)
                    s.connect((self.host, self.port))
                opened = time.monotonic()
                facts["fds_peak"] = facts["fds_before"]
                while time.monotonic() - opened < 5:
                    facts["fds_peak"] = max(facts["fds_peak"], open_fds(pid))
                    w.hold(0.2)
                # Which of them has the server closed by now?
                closed = 0
                for s in socks:
                    s.setblocking(False)
                    try:
                        if s.recv(1) == b"":
                            closed += 1
                    except BlockingIOError:
                        pass
                    except ConnectionResetError:
                        closed += 1
                facts["closed_by_server_within_5s"] = closed
                facts["fds_after_5s"] = open_fds(pid)
        finally:
            for s in socks:
                s.close()
        harness.wait_for(lambda: open_fds(pid) <= facts["fds_before"] + 5, 10,
                         message="loopcanary to release the idle connections")
        facts["fds_after_close"] = open_fds(pid)
        facts["first_failure"] = w.failures[0][1] if w.failures else None
        report("1000 idle connections", **facts, **w.summary())
        cls._idle_flood = w
        return w

    def test_1000_idle_connections_leave_the_prober_alone(self):
        self.idle_flood().check_prober(self)

    # At its cap (512) the server evicts the connection that has waited
    # longest for its client, so idle connections never lock /metrics out.
    def test_1000_idle_connections_leave_metrics_answering(self):
        self.idle_flood().check_answering(self)

    def test_endless_header(self):
        with Watch(self.lc) as w:
            s = self.connect()
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Endless: ")
            sent, chunk, ended = 0, b"a" * 4096, None
            start = time.monotonic()
            # Bounded: at most 64 MiB or 20 s, whichever comes first.
            while sent < 64 << 20 and time.monotonic() - start < 20:
                try:
                    s.sendall(chunk)
                    sent += len(chunk)
                except (BrokenPipeError, ConnectionResetError) as e:
                    ended = type(e).__name__
                    break
                except socket.timeout:
                    ended = "send blocked"
                    break
            s.settimeout(2)
            status, data, how = read_response(s)
            w.hold(3)
        summary = w.check(self)
        report("endless header", sent_before_server_stopped_it=sent, send_ended=ended,
               answer=status, closed=how, **summary)
        # The server stopped reading long before 64 MiB: a header limit exists.
        self.assertIsNotNone(ended, f"the server swallowed {sent} bytes of header")
        self.assertLess(sent, 16 << 20)
        self.assertIn(status, (431, 400, None))

    def test_oversized_header(self):
        with Watch(self.lc) as w:
            s = self.connect()
            big = b"X-Big: " + b"b" * (1 << 20) + b"\r\n"
            try:
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n")
                send = "complete"
            except (BrokenPipeError, ConnectionResetError) as e:
                send = type(e).__name__
            s.settimeout(5)
            status, data, how = read_response(s)
            w.hold(3)
        summary = w.check(self)
        report("1 MiB header", send=send, answer=status, closed=how, **summary)
        self.assertIn(status, (431, None), data[:200])

    def test_oversized_body(self):
        with Watch(self.lc) as w:
            outcomes = {}
            for method, path in (("POST", "/-/reload"), ("POST", "/metrics"), ("GET", "/metrics")):
                s = self.connect()
                s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {100 << 20}\r\n\r\n".encode())
                sent, send = 0, "complete"
                chunk = b"c" * 65536
                start = time.monotonic()
                try:
                    while sent < 100 << 20 and time.monotonic() - start < 10:
                        s.sendall(chunk)
                        sent += len(chunk)
                except (BrokenPipeError, ConnectionResetError) as e:
                    send = type(e).__name__
                except socket.timeout:
                    send = "send blocked"
                s.settimeout(5)
                status, data, how = read_response(s)
                outcomes[f"{method} {path}"] = (status, how, send, sent)
                self.assertIn(status, (413, 404, 405, 403, None), f"{method} {path}: {data[:300]}")
            w.hold(3)
        summary = w.check(self)
        report("100 MB body", **{k.replace(" ", "_"): v for k, v in outcomes.items()}, **summary)

    def test_200_concurrent_scrapes(self):
        results = []
        barrier = threading.Barrier(200)

        def scrape():
            barrier.wait(10)
            start = time.monotonic()
            try:
                status, body, _ = harness.http("GET", self.lc.url + "/metrics", timeout=30)
                ok = status == 200 and harness.Metrics(body).get("loopcanary_build_info") is not None
                results.append((ok, time.monotonic() - start, status))
            except (OSError, ValueError) as e:
                results.append((False, time.monotonic() - start, repr(e)))

        with Watch(self.lc) as w:
            for _ in range(3):
                threads = [threading.Thread(target=scrape) for _ in range(200)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(60)
                barrier.reset()
            w.hold(3)
        summary = w.check(self)
        failed = [r for r in results if not r[0]]
        durations = sorted(r[1] for r in results)
        report("200 concurrent scrapes x3", concurrent_scrapes=len(results), failed=len(failed),
               p50_s=round(durations[len(durations) // 2], 3), max_s=round(durations[-1], 3),
               **summary)
        self.assertEqual(len(results), 600)
        self.assertEqual(failed, [])


if __name__ == "__main__":
    unittest.main()
