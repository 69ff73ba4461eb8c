#!/usr/bin/env python3
"""Instructions per probe: loopcanary and the floor (bench/floor.c) under
callgrind on one loopback nginx, the repeatable figure of issue 15.

    /usr/bin/python3 bench/instructions.py [--seconds 10] [--warmup 8] \
        [--runs 1:10ms,50:100ms] [--top 12] [--loopcanary build/release/exporter/loopcanary]

CPU time per probe on a VM moves with the weather (the hypervisor, the other
tenants, how idle the CPU got between probes); the instructions a probe
executes in user space do not. Each run starts the prober under
`valgrind --tool=callgrind`, waits --warmup seconds, zeroes the counters
(`callgrind_control -z`), lets it probe for --seconds, dumps them
(`callgrind_control -d`) and divides the instructions executed (Ir, every
thread, user space only: system calls are one instruction each here) by the
probes sent in between (loopcanary's probes_total read just outside the
window; nginx's count for the floor). The prober runs ~50× slower under
callgrind, so a run's interval must leave it time: the default 50-target run
probes every 100 ms, not 10 ms. Prints Markdown: the table, then each run's
functions with the most instructions of their own.

Needs valgrind (scripts/deps.sh installs it), nginx, a C compiler and a
release build of loopcanary.
"""

import argparse
import datetime
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

import sidebyside as sb
from benchlib import table


def wrapper(workdir, binary, tag):
    """A script that runs `binary` under callgrind (the same process: its PID
    is the one callgrind_control talks to); returns (script, dump prefix)."""
    out = os.path.join(workdir, f"callgrind-{tag}")
    script = os.path.join(workdir, f"callgrind-{tag}.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\nexec valgrind --tool=callgrind --quiet "
                f"--callgrind-out-file={shlex.quote(out)}.%p {shlex.quote(binary)} \"$@\"\n")
    os.chmod(script, 0o755)
    return script, out


def control(*args):
    r = subprocess.run(["callgrind_control", *args], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"callgrind_control {' '.join(args)} failed: {r.stdout}{r.stderr}")


def dumped(prefix, pid, before):
    """The dump files callgrind wrote for `pid` since `before` (a set of names)."""
    d = os.path.dirname(prefix)
    base = os.path.basename(prefix) + f".{pid}."
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.startswith(base) and f not in before)


def has_totals(path):
    with open(path) as f:
        return any(line.startswith("totals:") for line in f)


def totals(path):
    """Instructions (Ir) in a callgrind dump."""
    with open(path) as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    raise AssertionError(f"no totals in {path}")


def top_functions(path, n):
    """The `n` functions with the most instructions of their own, as
    (instructions, share, name), from callgrind_annotate."""
    r = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", path],
                       capture_output=True, text=True, timeout=120)
    rows = []
    started = False
    for line in r.stdout.splitlines():
        if "file:function" in line:
            started = True
            continue
        if not started or not line.strip() or line.startswith("-"):
            continue
        parts = line.split(None, 1)
        if len(parts) < 2 or not parts[0].replace(",", "").isdigit():
            continue
        count = int(parts[0].replace(",", ""))
        rest = parts[1]
        share = ""
        if rest.startswith("("):
            share, rest = rest.split(")", 1)
            share = share.strip("( ")
        # After `callgrind_control -z` the frames that were on a thread's stack
        # then (clone, start_thread, the thread's run function) are dumped
        # with the whole thread's cost as their own; no real function has 90 %.
        if share.endswith("%") and float(share[:-1]) >= 90:
            continue
        name = rest.strip()
        name = name.split(":", 1)[1] if ":" in name and not name.startswith("0x") else name
        if len(name) > 110:
            name = name[:107] + "..."
        rows.append((count, share, name))
        if len(rows) == n:
            break
    return rows


def measure(args, nginx, workdir, kind, targets, interval):
    """One run; returns (instructions, probes, top functions)."""
    tag = f"{kind}-{targets}-{interval}"
    if kind == "loopcanary":
        script, prefix = wrapper(workdir, args.loopcanary, tag)
        prober = sb.Loopcanary(script, workdir, sb.lc_config(nginx.url, targets, interval), tag)
        count = prober.probes
    else:
        script, prefix = wrapper(workdir, args.floor, tag)
        us = int(float(interval.rstrip("ms")) * (1000 if interval.endswith("ms") else 1_000_000))
        prober = sb.Floor(script, workdir, nginx, us, targets)
        count = nginx.requests
    try:
        time.sleep(args.warmup)
        before = set(os.listdir(workdir))
        c0 = count()
        control("-z", str(prober.pid))
        time.sleep(args.seconds)
        control("-d", str(prober.pid))
        c1 = count()
        def complete():  # a dump ends with its totals line: wait until it is written whole
            files = dumped(prefix, prober.pid, before)
            return files if files and all(has_totals(f) for f in files) else None

        files = sb.harness.wait_for(complete, 30, message="callgrind's dump")
        ir = sum(totals(f) for f in files)
        return ir, c1 - c0, top_functions(files[-1], args.top)
    finally:
        prober.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10, help="counted span of each run (default 10)")
    ap.add_argument("--warmup", type=float, default=8, help="seconds before the span (default 8)")
    ap.add_argument("--runs", default="1:10ms,50:100ms",
                    help="TARGETS:INTERVAL,... (default 1:10ms,50:100ms; each is run for loopcanary and the floor)")
    ap.add_argument("--top", type=int, default=12, help="functions listed per loopcanary run (default 12)")
    sb.add_loopcanary_arg(ap)
    args = sb.parse_with_loopcanary(ap, "instructions.py")
    missing = [t for t in ("valgrind", "callgrind_control", "callgrind_annotate") if not shutil.which(t)]
    if missing:
        sys.exit(f"instructions.py: missing {', '.join(missing)} (Debian package valgrind; scripts/deps.sh installs it)")
    try:
        runs = [(int(t), i) for t, i in (r.split(":") for r in args.runs.split(","))]
    except ValueError:
        sys.exit(f"instructions.py: --runs wants TARGETS:INTERVAL,..., e.g. 1:10ms,50:100ms; got {args.runs!r}")
    nginx_bin = sb.find_tools(False, False)

    started = datetime.datetime.now().astimezone()
    workdir = tempfile.mkdtemp(prefix="loopcanary-instructions-")
    nginx = None
    rows, tops = [], []
    try:
        args.floor = sb.build_floor(workdir)
        nginx = sb.Nginx(nginx_bin, workdir)
        for targets, interval in runs:
            got = {}
            for kind in ("floor", "loopcanary"):
                sb.progress(f"{kind}, {targets} target(s) at {interval}, under callgrind")
                got[kind] = measure(args, nginx, workdir, kind, targets, interval)
            (fi, fp, _), (li, lp, ltop) = got["floor"], got["loopcanary"]
            per_f, per_l = fi / max(fp, 1), li / max(lp, 1)
            rows.append([targets, interval, f"{lp:.0f}", sb.fmt_rate(per_l), f"{fp:.0f}", sb.fmt_rate(per_f),
                         f"{per_l / per_f:.1f}×"])
            tops.append((targets, interval, li, ltop))
    except KeyboardInterrupt:
        sys.exit("instructions.py: interrupted; every process it started was stopped")
    finally:
        if nginx is not None:
            nginx.stop()
        for p in sb.harness._started:
            if isinstance(p, sb.Proc):
                p.stop(timeout=2)
        shutil.rmtree(workdir, ignore_errors=True)

    print("`" + " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]) + "`\n")
    print(f"- date: {started:%Y-%m-%d %H:%M %Z}; machine: {sb.machine()}")
    print(f"- loopcanary: {args.loopcanary}, commit {sb.git_describe(args.loopcanary) or '?'}; "
          f"{sb.version_of(['valgrind', '--version'])}")
    print(f"- spans of {args.seconds:g} s, {args.warmup:g} s after the start; one run each\n")
    print(table(["targets", "interval", "loopcanary: probes", "loopcanary: instructions per probe",
                 "floor: probes", "floor: instructions per probe", "loopcanary / floor"], rows))
    print()
    for targets, interval, total, top in tops:
        print(f"loopcanary, {targets} target(s) at {interval}: functions with the most instructions of their own"
              f" ({sb.fmt_rate(total)} in the span)\n")
        print(table(["instructions", "share", "function"],
                    [[sb.fmt_rate(c), s, f"`{n}`"] for c, s, n in top]))
        print()


if __name__ == "__main__":
    main()
