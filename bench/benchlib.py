"""Shared bits of the benchmarks: they reuse the integration harness (real
uvicorn, real loopcanary) and print Markdown tables."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SOURCE, "tests", "integration"))
os.environ.setdefault("LOOPCANARY_BIN", os.path.join(SOURCE, "build", "release", "exporter", "loopcanary"))

import harness  # noqa: E402  (needs the path above)

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def table(headers, rows):
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def load_note():
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    return f"(machine: {os.cpu_count()} cores, load average {' '.join(load)} at the end)"
