"""scripts/demo.sh run as a person runs it, in a pseudo-terminal: the tour
prints each step's line (healthy, the loop blocked, agent-blocking,
sync-ramp, where to look), leaves the demo running, and Ctrl-C stops it with
no process and no port left behind. Also the quiet mode (--quiet).

The demo listens on free ports here (LOOPCANARY_DEMO_APP_PORT,
LOOPCANARY_DEMO_PORT) and uses the built binary (LOOPCANARY_BIN), so it can
run beside a person's own demo on 8000/19420.

On a busy machine loopcanary may report itself starved (status unknown):
correct behaviour, which the tour states; the checks below accept "unknown"
wherever the tour reads a status, and say so.
"""

import os
import pty
import re
import select
import shutil
import signal
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from face import SOURCE, kill_session, session_processes
from harness import BINARY, free_port, http


def port_open(port):
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Terminal:
    """scripts/demo.sh in a pseudo-terminal of its own session."""

    def __init__(self, args, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: a session leader with the pty as its terminal
            os.chdir(SOURCE)
            os.execve("/bin/bash", ["bash", "scripts/demo.sh", *args], env)
        self.output = ""
        self.status = None

    def read_until(self, pattern, timeout):
        """Reads until `pattern` (a regex) matches the output; returns the match."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            m = regex.search(self.output)
            if m:
                return m
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(min(left, 1.0)):
                if self.status is not None or left <= 0:
                    raise AssertionError(
                        f"no {pattern!r} in the demo's output after {timeout:.0f} s:\n"
                        f"{self.output[-4000:]}")

    def _read(self, timeout):
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            self._poll()
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the terminal's other side closed
            data = b""
        if not data:
            self._poll()
            return False
        self.output += data.decode("utf-8", "replace").replace("\r\n", "\n")
        return True

    def _poll(self):
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status

    def ctrl_c(self):
        os.write(self.fd, b"\x03")  # the terminal sends SIGINT to its foreground group

    def wait_exit(self, timeout):
        deadline = time.monotonic() + timeout
        while self.status is None and time.monotonic() < deadline:
            self._read(0.2)
        if self.status is None:
            raise AssertionError(f"the demo did not stop:\n{self.output[-3000:]}")
        while self._read(0.1):  # the last lines
            pass
        return os.waitstatus_to_exitcode(self.status)

    def close(self):
        """Whatever happened: nothing of this session survives the test, and
        the logs the demo keeps for its reader go too."""
        kill_session(self.pid)
        m = re.search(r"logs in (/tmp/loopcanary-demo\.\w+)", self.output)
        if m:
            shutil.rmtree(m.group(1), ignore_errors=True)
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        os.close(self.fd)


class Demo(unittest.TestCase):
    def start(self, *args):
        self.app_port, self.lc_port = free_port(), free_port()
        env = dict(os.environ, LOOPCANARY_DEMO_APP_PORT=str(self.app_port),
                   LOOPCANARY_DEMO_PORT=str(self.lc_port), LOOPCANARY_BIN=BINARY,
                   TERM="dumb")
        self.term = Terminal(args, env)
        self.addCleanup(self.term.close)
        # What the reader saw, in the test's log (after the session is gone).
        self.addCleanup(lambda: print("--- the demo's terminal ---\n" + self.term.output,
                                      file=sys.stderr))
        return self.term

    def stop_and_check_clean(self):
        term = self.term
        term.ctrl_c()
        code = term.wait_exit(20)
        self.assertIn("demo: stopped", term.output[-500:])
        self.assertEqual(code, 0, term.output[-2000:])
        # No process of the demo's session, no port left listening.
        deadline = time.monotonic() + 5
        while session_processes(term.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(session_processes(term.pid), [], "processes left behind")
        self.assertFalse(port_open(self.app_port), f"port {self.app_port} still open")
        self.assertFalse(port_open(self.lc_port), f"port {self.lc_port} still open")

    def test_the_tour_tells_the_story_and_ctrl_c_cleans_up(self):
        term = self.start()
        term.read_until(r"landing page: status, findings, charts", 60)
        status = r"status (healthy|degraded|critical|unresponsive|unknown)"

        m = term.read_until(r"\[1/5\] healthy: (.*)\n", 90)
        # "unknown" only as loopcanary's own starvation, never as a guess.
        self.assertRegex(m.group(1), r"status (healthy|unknown \(loopcanary itself was starved)")

        term.read_until(r"\[2/5\] blocking the app's event loop for 3 s", 30)
        m = term.read_until(r"during the block: (.*)\n", 30)
        # A 3 s block reads unresponsive (≥ 2 s without an answer) or, when
        # loopcanary's tick missed the moment, critical; unknown if starved.
        self.assertRegex(m.group(1), r"status (unresponsive|critical|unknown)")
        if "unknown" not in m.group(1):
            self.assertRegex(m.group(1), r"stall_(in_progress|max)_seconds [\d.]+ s ≥")
        m = term.read_until(r"after it: (.*)\n", 15)
        self.assertRegex(m.group(1), status)
        term.read_until(r"(back to healthy \d+ s after the block began|still .* a minute later)",
                        90)

        term.read_until(r"\[3/5\] agent-blocking", 90)
        m = term.read_until(r"\n      (status .*HOL blocking.*)\n", 60)
        line = m.group(1)
        if not line.startswith("status unknown"):
            self.assertRegex(line, r"findings [a-z_, ]*(event_loop_starvation|head_of_line_blocking)")

        term.read_until(r"\[4/5\] sync-ramp", 90)
        m = term.read_until(r"\n      ((queue amplification|no queue amplification).*)\n", 90)
        self.assertIn("the loop stays free", m.group(1))

        m = term.read_until(r"\[5/5\] done\. Everything keeps running: the landing page (\S+) ", 60)
        # It does keep running: the page it points to answers.
        status_code, body, _ = http("GET", m.group(1), timeout=10)
        self.assertEqual(status_code, 200)
        self.assertIn("loopcanary", body)
        self.assertTrue(port_open(self.app_port))
        time.sleep(2)
        self.stop_and_check_clean()

    def test_quiet_mode_prints_the_status_every_few_seconds(self):
        term = self.start("--quiet")
        term.read_until(r"Status every 3 s", 60)
        term.read_until(r"\d\d:\d\d:\d\d  status=\w+ probes=\d+", 30)
        self.assertNotIn("[1/5]", term.output)
        self.stop_and_check_clean()

    def test_workers_mode_shows_one_stalled_worker(self):
        """--workers 4: the app as four worker processes, no tour. One
        worker's loop blocked for 3 s adds partial stall seconds (the other
        workers kept answering), and Ctrl-C still leaves nothing behind."""
        term = self.start("--workers", "4")
        term.read_until(r"block ONE worker's loop", 60)
        term.read_until(r"\d\d:\d\d:\d\d  status=healthy probes=\d+", 60)
        # Past warm-up: block one worker (whichever takes the request). The
        # pool may not reach that one worker yet (4 connections, renewed one
        # a second, over 4 workers): then nothing is stuck; block again.
        for attempt in range(6):
            status_code, body, _ = http("POST", f"http://127.0.0.1:{self.app_port}/internal/block?ms=3000",
                                        body=b"", timeout=10)
            self.assertEqual(status_code, 200, body)
            try:
                m = term.read_until(r"partial_stall_seconds_total=([1-9][0-9.e+-]*)", 9)
                break
            except AssertionError:
                if attempt == 5:
                    raise
        self.assertGreater(float(m.group(1)), 0.5)
        self.stop_and_check_clean()


if __name__ == "__main__":
    unittest.main()
