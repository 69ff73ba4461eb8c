"""Helpers shared by the hardening tests: the fault server as a child process
and what /proc says about a process. The integration harness (real processes,
scrapes, waits with deadlines) is reused from tests/integration/harness.py."""

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)

import harness  # noqa: E402
from fault_server import refused_port  # noqa: E402

__all__ = ["FAULT_SERVER", "FaultServer", "harness", "open_fds", "process_gone", "refused_port",
           "rss_bytes", "sanitized"]

FAULT_SERVER = os.path.join(HERE, "fault_server.py")


class FaultServer:
    """tests/hardening/fault_server.py on a free loopback port, stopped by PID."""

    def __init__(self, workdir, max_connections=1024, hold=300, lifetime=900):
        self.process = harness.Process(
            [harness.PYTHON, FAULT_SERVER, "--port", "0", "--max-connections", str(max_connections),
             "--hold", str(hold), "--lifetime", str(lifetime)],
            os.path.join(workdir, f"fault-server-{os.getpid()}-{id(self)}.log"),
        )
        self.pid = self.process.pid

        def port():
            if not self.process.alive():
                raise AssertionError(f"fault server exited: {self.process.output()}")
            m = re.search(r"^listening (\d+)$", self.process.output(), re.M)
            return int(m.group(1)) if m else None

        self.port = harness.wait_for(port, 10, message="the fault server to listen")
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self, timeout=5.0):
        return self.process.stop(timeout)


def open_fds(pid):
    """Number of open file descriptors of `pid`."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_bytes(pid):
    """Resident set size of `pid` (VmRSS)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise KeyError("VmRSS")


def process_gone(pid):
    """True when `pid` no longer runs (absent, or a zombie nobody reaped yet)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("State:"):
                    return line.split()[1] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True
    return False


def sanitized(pid):
    """True when `pid` runs with AddressSanitizer (the asan preset): its
    quarantine keeps freed memory resident and it runs a few times slower, so
    RSS figures mean nothing and timing bounds need room; LeakSanitizer at exit
    judges leaks instead."""
    with open(f"/proc/{pid}/maps") as f:
        maps = f.read()
    if "libasan" in maps or "clang_rt.asan" in maps:
        return True
    with open(f"/proc/{pid}/environ", "rb") as f:
        return b"ASAN_OPTIONS=" in f.read()
