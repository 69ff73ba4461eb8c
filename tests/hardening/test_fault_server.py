"""Self-test of tests/hardening/fault_server.py with raw sockets: each path does
exactly the fault it names, the good paths keep connections alive, and the
server stays bounded and stops when it must. The loopcanary tests trust these
behaviours, so they are checked here byte by byte, without any HTTP library."""

import os
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from faults import FAULT_SERVER, FaultServer, harness, process_gone, refused_port, rss_bytes  # noqa: E402


def request(path, extra=b""):
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: faults\r\n" + extra + b"\r\n"


def read_head(sock):
    """Reads up to the end of the response header; returns (head, rest)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError(f"EOF inside the header: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head.decode("latin-1"), rest


def read_response(sock):
    """A complete Content-Length response: (status, headers, body)."""
    head, body = read_head(sock)
    lines = head.split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError("EOF inside the body")
        body += chunk
    return status, headers, body


def nothing_within(sock, seconds):
    """True when no byte and no EOF arrive within `seconds`."""
    sock.settimeout(seconds)
    try:
        data = sock.recv(1)
    except socket.timeout:
        return True
    finally:
        sock.settimeout(5)
    raise AssertionError(f"expected silence, got {data!r}")


class FaultServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.workdir = harness.Workdir()
        cls.dir = cls.workdir.__enter__()
        cls.server = FaultServer(cls.dir, lifetime=300)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.workdir.__exit__(None, None, None)

    def connect(self):
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=5)
        self.addCleanup(sock.close)
        return sock

    def test_ok_keeps_the_connection_alive(self):
        sock = self.connect()
        for _ in range(3):
            sock.sendall(request("/ok"))
            status, headers, body = read_response(sock)
            self.assertEqual((status, body), (200, b'{"status":"ok"}'))
            self.assertEqual(headers["connection"], "keep-alive")
        sock.sendall(request("/ok", b"Connection: close\r\n"))
        status, headers, _ = read_response(sock)
        self.assertEqual(headers["connection"], "close")
        self.assertEqual(sock.recv(1), b"")

    def test_wrong_body_is_200_without_ok(self):
        sock = self.connect()
        for _ in range(2):
            sock.sendall(request("/wrong-body"))
            status, _, body = read_response(sock)
            self.assertEqual(status, 200)
            self.assertNotIn(b'"ok"', body)

    def test_late_answers_after_ms(self):
        sock = self.connect()
        start = time.monotonic()
        sock.sendall(request("/late?ms=300"))
        status, _, body = read_response(sock)
        elapsed = time.monotonic() - start
        self.assertEqual((status, body), (200, b'{"status":"ok"}'))
        self.assertGreaterEqual(elapsed, 0.3)
        self.assertLess(elapsed, 0.6)
        sock.sendall(request("/late?ms=0"))  # still alive
        self.assertEqual(read_response(sock)[0], 200)

    def test_unknown_path_is_404(self):
        sock = self.connect()
        sock.sendall(request("/nope"))
        self.assertEqual(read_response(sock)[0], 404)

    def test_hang_never_answers_and_keeps_the_connection(self):
        sock = self.connect()
        sock.sendall(request("/hang"))
        self.assertTrue(nothing_within(sock, 1.5))

    def test_slowloris_sends_one_byte_per_second(self):
        sock = self.connect()
        sock.sendall(request("/slowloris"))
        received = b""
        start = time.monotonic()
        sock.settimeout(0.2)
        while time.monotonic() - start < 2.5:
            try:
                received += sock.recv(100)
            except socket.timeout:
                pass
        # bytes at 0, 1 and 2 s
        self.assertEqual(received, b"HTT")

    def test_endless_body_never_ends(self):
        sock = self.connect()
        sock.sendall(request("/endless"))
        head, body = read_head(sock)
        self.assertIn("Transfer-Encoding: chunked", head)
        while len(body) < 2_000_000:
            chunk = sock.recv(65536)
            self.assertTrue(chunk, "the endless body ended")
            body += chunk
        self.assertTrue(body.startswith(b"1000\r\n" + b"x" * 0x1000 + b"\r\n1000\r\n"))

    def test_huge_announces_100_mb_and_streams_it(self):
        sock = self.connect()
        sock.sendall(request("/huge"))
        head, body = read_head(sock)
        self.assertIn("Content-Length: 100000000", head)
        while len(body) < 5_000_000:
            chunk = sock.recv(65536)
            self.assertTrue(chunk)
            body += chunk

    def test_bad_status_line(self):
        sock = self.connect()
        sock.sendall(request("/bad-status-line"))
        head, _ = read_head(sock)
        self.assertEqual(head.split("\r\n")[0], "HTTP/1.1 two-hundred OK")
        self.assertTrue(nothing_within(sock, 0.5))  # held: the client must judge the bytes

    def test_bad_chunked(self):
        sock = self.connect()
        sock.sendall(request("/bad-chunked"))
        head, body = read_head(sock)
        self.assertIn("Transfer-Encoding: chunked", head)
        while b"\r\n" not in body:
            body += sock.recv(100)
        size = body.split(b"\r\n")[0].split(b";")[0]
        with self.assertRaises(ValueError):
            int(size, 16)
        self.assertTrue(nothing_within(sock, 0.5))

    def test_reset_mid_body(self):
        sock = self.connect()
        sock.sendall(request("/reset-mid-body"))
        head, body = read_head(sock)
        self.assertIn("Content-Length: 1000", head)
        with self.assertRaises(ConnectionResetError):
            while True:
                chunk = sock.recv(4096)
                self.assertTrue(chunk, "got a FIN, not an RST")
                body += chunk
        self.assertLess(len(body), 1000)

    def test_close_after_headers(self):
        sock = self.connect()
        sock.sendall(request("/close-after-headers"))
        head, body = read_head(sock)
        self.assertIn("Content-Length: 100", head)
        self.assertEqual(body + sock.recv(4096), b"")  # a clean FIN, no body, no RST

    def test_refused_port(self):
        holder, port = refused_port()
        self.addCleanup(holder.close)
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2)

    def test_oversized_requests(self):
        sock = self.connect()
        sock.sendall(request("/ok", b"X-Big: " + b"a" * 20000 + b"\r\n"))
        self.assertEqual(read_response(sock)[0], 431)
        sock = self.connect()
        sock.sendall(b"POST /ok HTTP/1.1\r\nHost: f\r\nContent-Length: 2000000\r\n\r\n")
        self.assertEqual(read_response(sock)[0], 413)

    def test_a_client_that_does_not_read_holds_bounded_memory(self):
        before = rss_bytes(self.server.pid)
        socks = [self.connect() for _ in range(20)]
        for s in socks:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(request("/endless"))
        time.sleep(1.0)
        growth = rss_bytes(self.server.pid) - before
        # 20 transports' write buffers (64 KiB high-water mark each) and change.
        self.assertLess(growth, 8 * 1024 * 1024)


class FaultServerLifecycleTest(unittest.TestCase):
    def setUp(self):
        self.workdir = harness.Workdir()
        self.dir = self.workdir.__enter__()
        self.addCleanup(self.workdir.__exit__, None, None, None)

    def test_connections_are_bounded(self):
        server = FaultServer(self.dir, max_connections=3)
        self.addCleanup(server.stop)
        held = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(3)]
        for s in held:
            self.addCleanup(s.close)
            s.sendall(request("/hang"))
        harness.wait_for(lambda: nothing_within(held[-1], 0.2), 5)
        extra = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        self.addCleanup(extra.close)
        try:
            extra.sendall(request("/ok"))
            self.assertEqual(extra.recv(100), b"")
        except ConnectionResetError:
            pass

    def test_exits_on_sigterm(self):
        server = FaultServer(self.dir)
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        self.addCleanup(sock.close)
        sock.sendall(request("/hang"))
        start = time.monotonic()
        self.assertEqual(server.stop(timeout=5), 0)
        self.assertLess(time.monotonic() - start, 2)

    def test_exits_after_its_lifetime(self):
        server = FaultServer(self.dir, lifetime=1)
        self.addCleanup(server.stop)
        harness.wait_for(lambda: not server.process.alive(), 5, message="the lifetime to end it")

    def test_exits_when_its_parent_dies(self):
        # A parent that starts the server, says its PID and sleeps.
        parent = subprocess.Popen(
            [harness.PYTHON, "-c",
             "import subprocess, sys, time\n"
             f"p = subprocess.Popen([{harness.PYTHON!r}, {FAULT_SERVER!r}, '--lifetime', '60'])\n"
             "print(p.pid, flush=True)\n"
             "time.sleep(60)\n"],
            stdout=subprocess.PIPE, start_new_session=True,
        )
        self.addCleanup(lambda: parent.poll() is None and parent.kill())
        child = int(parent.stdout.readline())
        self.addCleanup(lambda: process_gone(child) or os.kill(child, signal.SIGKILL))
        self.assertFalse(process_gone(child))
        parent.kill()
        parent.wait(5)
        harness.wait_for(lambda: process_gone(child), 5, message="the orphaned fault server to exit")


if __name__ == "__main__":
    unittest.main()
