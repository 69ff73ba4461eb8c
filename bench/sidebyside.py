#!/usr/bin/env python3
"""loopcanary's cost per probe, side by side with wrk and blackbox_exporter on
one loopback nginx (`return 200`), in one run (issue 15).

    flock /tmp/loopcanary-cpu.lock /usr/bin/python3 bench/sidebyside.py \
        [--seconds 15] [--repeat 3] [--warmup 12] [--idle-seconds 30] \
        [--only sidebyside|scaling|idle] [--loopcanary build/release/exporter/loopcanary]

Every prober's CPU comes from /proc/<pid>/stat (utime + stime, all threads)
and its wake-ups from /proc/<pid>/task/*/status (voluntary + involuntary
context switches), both read at the two edges of a span of --seconds that
starts --warmup seconds after the prober started; each cell is the median of
--repeat rounds, and ratios to wrk are taken within a round. Requests are
counted by the prober where it counts them (loopcanary's probes_total, the
probes this script drove through blackbox_exporter) and by nginx's
stub_status (wrk and the floor: that is their count). Prints Markdown.

The floor is bench/floor.c, built here with cc: one wake-up per request, the
answers' arrival times from the kernel, nothing else (no parsing, no
statistics). It is measured beside loopcanary at the same rates and target
counts, so a goal that the floor itself misses in the same run is below what
one request per probe costs on this machine, and loopcanary / floor is the
part of the cost that is loopcanary's own.

Needs Debian's nginx, wrk, prometheus-blackbox-exporter and a C compiler
(scripts/deps.sh installs them) and a release build of loopcanary.
"""

import argparse
import datetime
import http.client
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from benchlib import CLK_TCK, cpu_seconds, status_kib, table

import harness  # noqa: E402  (benchlib puts tests/integration on the path)

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
BLACKBOX = "/usr/bin/prometheus-blackbox-exporter"
STUB = "/__nginx_status"  # nginx's request counter; no target probes it
GOALS_NOTE = "issue 15's goals"


# ---------------------------------------------------------------- processes


class Proc(harness.Process):
    """A child in its own session (so Ctrl-C reaches only this script), stopped
    through its process group: the group id is the child's PID, so nginx's
    worker goes with its master."""

    def stop(self, timeout=5.0):
        if self.alive():
            try:
                os.killpg(self.pid, signal.SIGTERM)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.proc.wait(5)
            except ProcessLookupError:
                pass
        if not self.log.closed:
            self.log.close()
        return self.proc.returncode


def children(pid):
    """PIDs whose parent is `pid`."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return out


def snapshot(pid):
    """CPU (utime + stime of the process, which includes threads that ended)
    and context switches summed over its live threads, with per-thread
    detail: {tid: (voluntary, involuntary, cpu seconds)}."""
    t = time.monotonic()
    cpu = cpu_seconds(pid)
    vol = invol = 0
    threads = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                v = n = 0
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        v = int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches:"):
                        n = int(line.split()[1])
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            tcpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended between listdir and open
        vol += v
        invol += n
        threads[int(tid)] = (v, n, tcpu)
    return {"t": t, "cpu": cpu, "vol": vol, "invol": invol, "threads": threads}


def delta(a, b):
    """What a process did between two snapshots."""
    threads = {}
    for tid, (v1, n1, c1) in b["threads"].items():
        v0, n0, c0 = a["threads"].get(tid, (0, 0, 0.0))
        threads[tid] = (v1 - v0, n1 - n0, c1 - c0)
    return {
        "seconds": b["t"] - a["t"],
        "cpu": b["cpu"] - a["cpu"],
        "vol": b["vol"] - a["vol"],
        "invol": b["invol"] - a["invol"],
        "threads": threads,
    }


class Nginx:
    """Debian's nginx, our own instance: config, pid and temp files in a temp
    dir, one worker, no access log, `return 200` on every path, and
    stub_status to count the requests it served."""

    def __init__(self, binary, workdir):
        self.port = harness.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        prefix = os.path.join(workdir, "nginx")
        os.makedirs(os.path.join(prefix, "logs"), exist_ok=True)
        conf = os.path.join(prefix, "nginx.conf")
        temp = "\n".join(f"  {k}_temp_path {prefix}/{k}_temp;"
                         for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        with open(conf, "w") as f:
            f.write(f"""daemon off;
master_process on;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
{temp}
  # nginx closes a keep-alive connection after 1000 requests by default: wrk
  # would reconnect 7 times a second and loopcanary at 1 ms once a second.
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server {{
    listen 127.0.0.1:{self.port};
    location / {{ return 200 "ok\\n"; }}
    location = {STUB} {{ stub_status; }}
  }}
}}
""")
        self.process = Proc([binary, "-e", "stderr", "-p", prefix, "-c", conf],
                            os.path.join(workdir, "nginx.log"))
        self.conn = None
        harness.wait_for(lambda: self.requests() is not None, 10, message="nginx to answer")
        workers = harness.wait_for(lambda: children(self.process.pid), 5, message="nginx's worker")
        self.worker = workers[0]

    def requests(self):
        """nginx's count of requests served, not counting this one."""
        if not self.process.alive():
            raise AssertionError(f"nginx exited: {self.process.output()}")
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            self.conn.request("GET", STUB)
            body = self.conn.getresponse().read().decode()
        except (OSError, http.client.HTTPException):
            self.conn = None
            raise
        # Active connections: 1 / server accepts handled requests / A H R / ...
        return int(body.splitlines()[2].split()[2]) - 1

    def stop(self):
        if self.conn is not None:
            self.conn.close()
        self.process.stop()


# ---------------------------------------------------------------- probers


def lc_config(nginx_url, targets, interval):
    """`targets` targets on the same nginx, one canary each at `interval`
    (idle_interval too, so it runs at that rate without a scenario)."""
    lines = ["targets:"]
    for i in range(targets):
        name = "nginx" if targets == 1 else f"t{i + 1}"
        path = "/" if targets == 1 else f"/t{i + 1}"
        lines += [
            f"  - name: {name}",
            f"    url: {nginx_url}",
            "    canaries:",
            f"      - {{ name: root, path: {path}, interval: {interval}, idle_interval: {interval},"
            " expect: { status: [200] } }",
        ]
    return "\n".join(lines) + "\n"


class Loopcanary:
    """The binary under test with a config in the temp dir, listening on a
    free port (it logs the address it got), at the default log level."""

    def __init__(self, binary, workdir, config_text, tag):
        self.config = os.path.join(workdir, f"loopcanary-{tag}.yaml")
        with open(self.config, "w") as f:
            f.write(config_text)
        self.process = Proc([binary, f"--config.file={self.config}", "--web.listen-address=127.0.0.1:0"],
                            self.config + ".log")
        self.pid = self.process.pid

        def address():
            if not self.process.alive():
                raise AssertionError(f"loopcanary exited: {self.process.output()[-3000:]}")
            for line in self.process.output().splitlines():
                if 'msg="listening"' in line and "address=" in line:
                    return line.split("address=", 1)[1].split()[0]
            return None

        host, port = harness.wait_for(address, 15, message="loopcanary to listen").rsplit(":", 1)
        self.host, self.port = host, int(port)
        harness.wait_for(lambda: self.get("/-/ready")[0] == 200, 15, message="loopcanary /-/ready")

    def get(self, path):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def probes(self):
        """loopcanary_probes_total summed over its series (one scrape)."""
        status, body = self.get("/metrics")
        assert status == 200, body[:200]
        total = 0.0
        for line in body.decode().splitlines():
            if line.startswith("loopcanary_probes_total"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def scrape_stats(self, n=5):
        """Size of /metrics and the median time to serve it over `n` scrapes
        on one keep-alive connection (request sent → last byte read)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        sizes, times = [], []
        try:
            for _ in range(n):
                t0 = time.perf_counter()
                conn.request("GET", "/metrics")
                body = conn.getresponse().read()
                times.append(time.perf_counter() - t0)
                sizes.append(len(body))
        finally:
            conn.close()
        return statistics.median(sizes), statistics.median(times)

    def stop(self):
        code = self.process.stop()
        if code not in (0, None, -signal.SIGTERM):
            print(f"warning: loopcanary exited with {code}:\n{self.process.output()[-2000:]}", file=sys.stderr)


class Wrk:
    """wrk -t1 -c1 flat out; stopped by this script after the span."""

    def __init__(self, workdir, url, seconds):
        self.process = Proc(["wrk", "-t1", "-c1", f"-d{int(seconds) + 10}s", url + "/"],
                            os.path.join(workdir, f"wrk-{time.monotonic_ns()}.log"))
        self.pid = self.process.pid

    def stop(self):
        self.process.stop()


class Floor:
    """bench/floor.c: the floor of open-loop probing (one wake-up per request,
    the answers' arrival times from the kernel, nothing else), `targets`
    connections at `interval_us`. Its requests are counted by nginx."""

    def __init__(self, binary, workdir, nginx, interval_us, targets):
        self.process = Proc([binary, f"127.0.0.1:{nginx.port}", str(interval_us), str(targets)],
                            os.path.join(workdir, f"floor-{time.monotonic_ns()}.log"))
        self.pid = self.process.pid
        time.sleep(0.2)
        if not self.process.alive():
            raise AssertionError(f"floor exited: {self.process.output()[-2000:]}")

    def stop(self):
        """Stops it; returns (sent, answered) as it printed them."""
        self.process.stop()
        with open(self.process.log_path, errors="replace") as f:
            text = f.read()
        words = text.split()
        try:
            return int(words[words.index("sent") + 1]), int(words[words.index("answered") + 1])
        except (ValueError, IndexError):
            raise AssertionError(f"floor printed no counts: {text[-2000:]}") from None


def build_floor(workdir):
    """Compiles bench/floor.c into the temp dir; exits naming the compiler's error."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        sys.exit("sidebyside.py: no C compiler (cc) to build bench/floor.c: scripts/deps.sh installs build-essential")
    out = os.path.join(workdir, "floor")
    r = subprocess.run([cc, "-O2", "-o", out, os.path.join(HERE, "floor.c")], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"sidebyside.py: building bench/floor.c failed:\n{r.stderr}")
    return out


class Blackbox:
    """prometheus-blackbox-exporter with an http_2xx module, and a driver
    thread in this script that asks it for /probe of the nginx URL at a fixed
    rate on one keep-alive connection, open loop (on a schedule; a late
    request goes out at once, none is skipped). The driver's own CPU is this
    script's, not counted."""

    def __init__(self, workdir, target_url, rate):
        self.port = harness.free_port()
        config = os.path.join(workdir, "blackbox.yml")
        with open(config, "w") as f:
            f.write("modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n"
                    "    http:\n      valid_status_codes: [200]\n      preferred_ip_protocol: ip4\n")
        self.process = Proc([BLACKBOX, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{self.port}"],
                            os.path.join(workdir, f"blackbox-{self.port}.log"))
        self.pid = self.process.pid
        self.path = f"/probe?module=http_2xx&target={target_url}/"
        self.rate = rate
        self.ok = 0
        self.failed = 0
        self.late = 0  # requests sent more than one period after their time
        self.error = None
        self.stopping = threading.Event()

        def healthy():
            if not self.process.alive():
                raise AssertionError(f"blackbox_exporter exited: {self.process.output()[-3000:]}")
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                c.request("GET", "/-/healthy")
                return c.getresponse().status == 200
            finally:
                c.close()

        harness.wait_for(healthy, 15, message="blackbox_exporter to answer /-/healthy")
        self.thread = threading.Thread(target=self._drive, daemon=True)
        self.thread.start()

    def _drive(self):
        period = 1.0 / self.rate
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        start = time.monotonic()
        i = 0
        try:
            while not self.stopping.is_set():
                due = start + i * period
                now = time.monotonic()
                if due > now:
                    if self.stopping.wait(due - now):
                        break
                elif now - due > period:
                    self.late += 1
                conn.request("GET", self.path)
                body = conn.getresponse().read()
                if b"\nprobe_success 1" in body:
                    self.ok += 1
                else:
                    self.failed += 1
                i += 1
        except Exception as e:  # reported by the main thread
            self.error = e
        finally:
            conn.close()

    def probes(self):
        if self.error:
            raise AssertionError(f"blackbox driver failed: {self.error!r}")
        return self.ok + self.failed

    def stop(self):
        self.stopping.set()
        if hasattr(self, "thread"):
            self.thread.join(15)
        self.process.stop()


# ---------------------------------------------------------------- measuring


def span(prober, nginx, seconds, count=None):
    """Measures `prober` (anything with .pid) for `seconds`: its CPU and
    wake-ups from /proc, the requests nginx served, and the prober's own count
    (`count()`, read just outside the /proc edges) when it has one."""
    n0 = nginx.requests()
    c0 = count() if count else None
    s0 = snapshot(prober.pid)
    w0 = cpu_seconds(nginx.worker)
    time.sleep(seconds)
    s1 = snapshot(prober.pid)
    w1 = cpu_seconds(nginx.worker)
    c1 = count() if count else None
    n1 = nginx.requests()
    d = delta(s0, s1)
    d["nginx_requests"] = n1 - n0
    d["nginx_cpu"] = w1 - w0
    d["own_requests"] = (c1 - c0) if count else None
    d["requests"] = d["own_requests"] if count else d["nginx_requests"]
    return d


def per_request(d):
    r = max(d["requests"], 1)
    return {
        "us": d["cpu"] / r * 1e6,
        "pct": d["cpu"] / d["seconds"] * 100,
        "wake": (d["vol"] + d["invol"]) / r,
        "vol": d["vol"] / r,
        "invol": d["invol"] / r,
        "rate": d["requests"] / d["seconds"],
        "nginx_us": d["nginx_cpu"] / max(d["nginx_requests"], 1) * 1e6,
        "wake_s": (d["vol"] + d["invol"]) / d["seconds"],
        "vol_s": d["vol"] / d["seconds"],
    }


def med(rows, key):
    return statistics.median(r[key] for r in rows)


def fmt_rate(x):
    return f"{x:,.0f}".replace(",", " ")


def git_describe(path):
    """Short commit (and dirty mark) of the checkout that holds `path`."""
    d = os.path.dirname(os.path.abspath(path))
    try:
        head = subprocess.run(["git", "-C", d, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        top = subprocess.run(["git", "-C", d, "rev-parse", "--show-toplevel"], capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", top, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=30).stdout.strip()
        return f"{head}{' + uncommitted changes' if dirty else ''} (checkout {top})"
    except (OSError, subprocess.SubprocessError):
        return None


def version_of(args):
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=10)
        return (r.stdout + r.stderr).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "?"


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores, {model}, kernel {os.uname().release}"


def cpu_times():
    """The machine's CPU time so far, in ticks: (total, steal)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal [guest guest_nice: already in user]
    return sum(fields[:8]), fields[7]


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def find_tools(need_wrk, need_blackbox):
    """The nginx, wrk and blackbox_exporter binaries; exits naming what is
    missing and how to install it."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    missing = []
    if not nginx:
        missing.append("nginx (Debian package nginx)")
    if need_wrk and not shutil.which("wrk"):
        missing.append("wrk (Debian package wrk)")
    if need_blackbox and not os.access(BLACKBOX, os.X_OK):
        missing.append(f"blackbox_exporter ({BLACKBOX}, Debian package prometheus-blackbox-exporter)")
    if missing:
        sys.exit("sidebyside.py: missing " + "; ".join(missing)
                 + ".\nInstall them with scripts/deps.sh (as root, or with sudo), which installs every"
                 " bench package, or apt-get install nginx wrk prometheus-blackbox-exporter.")
    return nginx


# ---------------------------------------------------------------- the runs


def run_sidebyside(args, nginx, workdir, out):
    """One round = wrk, loopcanary at 1 ms and at 10 ms, blackbox at 100/s, in
    that order; --repeat rounds."""
    names = ["wrk", "floor1", "lc1", "floor10", "lc10", "bb"]
    rounds = {n: [] for n in names}
    threads_lc10 = None
    unanswered = 0
    for r in range(args.repeat):
        progress(f"side by side, round {r + 1}/{args.repeat}: wrk")
        w = Wrk(workdir, nginx.url, args.warmup_other + args.seconds)
        try:
            time.sleep(args.warmup_other)
            rounds["wrk"].append(span(w, nginx, args.seconds))
        finally:
            w.stop()
        for key, interval_us in (("floor1", 1000), ("floor10", 10000)):
            progress(f"side by side, round {r + 1}/{args.repeat}: floor at {interval_us // 1000} ms")
            f = Floor(args.floor, workdir, nginx, interval_us, 1)
            try:
                time.sleep(args.warmup_other)
                rounds[key].append(span(f, nginx, args.seconds))
            finally:
                sent, answered = f.stop()
                unanswered += sent - answered  # the floor reads its last answers before it prints
        for key, interval in (("lc1", "1ms"), ("lc10", "10ms")):
            progress(f"side by side, round {r + 1}/{args.repeat}: loopcanary at {interval}")
            lc = Loopcanary(args.loopcanary, workdir, lc_config(nginx.url, 1, interval), f"{key}-{r}")
            try:
                time.sleep(args.warmup)
                d = span(lc, nginx, args.seconds, lc.probes)
                rounds[key].append(d)
                if key == "lc10":
                    threads_lc10 = (lc.pid, d)
            finally:
                lc.stop()
        progress(f"side by side, round {r + 1}/{args.repeat}: blackbox_exporter at {args.blackbox_rate}/s")
        bb = Blackbox(workdir, nginx.url, args.blackbox_rate)
        try:
            time.sleep(args.warmup_other)
            d = span(bb, nginx, args.seconds, bb.probes)
            d["late"], d["failed"] = bb.late, bb.failed
            rounds["bb"].append(d)
        finally:
            bb.stop()

    per = {n: [per_request(d) for d in rounds[n]] for n in names}
    ratio = {n: statistics.median(p["us"] / w["us"] for p, w in zip(per[n], per["wrk"])) for n in names}
    wake_ratio = {n: statistics.median(p["wake"] / w["wake"] for p, w in zip(per[n], per["wrk"]) if w["wake"])
                  for n in names}
    to_floor = {n: statistics.median(p["us"] / f["us"] for p, f in zip(per[n], per[fl]))
                for n, fl in (("lc1", "floor1"), ("lc10", "floor10"))}
    labels = {
        "wrk": "wrk -t1 -c1 (closed loop, flat out)",
        "floor1": "floor (bench/floor.c), one target at 1 ms",
        "lc1": "loopcanary, one canary at 1 ms",
        "floor10": "floor (bench/floor.c), one target at 10 ms",
        "lc10": "loopcanary, one canary at 10 ms",
        "bb": f"blackbox_exporter `/probe` driven at {args.blackbox_rate}/s",
    }
    loads = {"wrk": None, "floor1": "1 000/s", "lc1": "1 000/s", "floor10": "100/s", "lc10": "100/s",
             "bb": f"{args.blackbox_rate}/s"}
    rows = []
    for n in names:
        rate = fmt_rate(med(per[n], "rate")) + "/s"
        load = f"{rate} measured" if n == "wrk" else f"{loads[n]} ({rate} measured)"
        us = f"{med(per[n], 'us'):.0f}" + ("" if n == "wrk" else f" ({ratio[n]:.1f}× wrk")
        us += f", {to_floor[n]:.2f}× floor)" if n in to_floor else ("" if n == "wrk" else ")")
        wake = f"{med(per[n], 'wake'):.2f}" + ("" if n == "wrk" else f" ({wake_ratio[n]:.1f}× wrk)")
        rows.append([labels[n], load, us, f"{med(per[n], 'pct'):.1f}", wake])
    out.append(f"### Side by side (median of {args.repeat} rounds; ratios to wrk within each round, then the median)\n")
    out.append(table(["prober", "load", "CPU µs per request", "CPU % of a core", "wake-ups per request"], rows))
    out.append("")

    detail = []
    for n in names:
        own = (statistics.median(d["own_requests"] for d in rounds[n])
               if rounds[n][0]["own_requests"] is not None else None)
        ngx = statistics.median(d["nginx_requests"] for d in rounds[n])
        extra = ""
        if n == "bb":
            extra = f"; {sum(d['failed'] for d in rounds[n])} failed, {max(d['late'] for d in rounds[n])} sent late"
        detail.append([
            labels[n],
            (f"{own:.0f} / " if own is not None else "– / ") + f"{ngx:.0f}{extra}",
            f"{med(per[n], 'vol'):.2f} / {med(per[n], 'invol'):.2f}",
            f"{med(per[n], 'nginx_us'):.1f}",
            ", ".join(f"{p['us']:.0f}" for p in per[n]),
        ])
    out.append(table(["prober", "requests in the span: prober's count / nginx's", "wake-ups per request: voluntary / involuntary",
                      "nginx's CPU µs per request", "CPU µs per request, each round"], detail))
    out.append("")
    if threads_lc10:
        pid, d = threads_lc10
        trows = []
        for i, (tid, (v, n, c)) in enumerate(sorted(d["threads"].items())):
            if v + n == 0 and c == 0:
                continue
            trows.append([f"{'main' if tid == pid else f'thread {i}'} ({tid})",
                          f"{v / d['seconds']:.0f}", f"{n / d['seconds']:.0f}", f"{c / d['seconds'] * 100:.2f}"])
        out.append("loopcanary at 10 ms, its threads (last round; threads that did nothing left out):\n")
        out.append(table(["thread", "voluntary switches/s", "involuntary/s", "CPU % of a core"], trows))
        out.append("")
    if unanswered:
        out.append(f"**The floor left {unanswered} requests unanswered**: its figures are suspect.\n")
    return {"lc1_ratio": ratio["lc1"], "lc10_ratio": ratio["lc10"], "lc10_pct": med(per["lc10"], "pct"),
            "floor1_ratio": ratio["floor1"], "floor10_ratio": ratio["floor10"],
            "floor10_pct": med(per["floor10"], "pct")}


def run_scaling(args, nginx, workdir, out):
    counts = [int(x) for x in args.targets.split(",")]
    res = {n: [] for n in counts}
    floor = {n: [] for n in counts}
    unanswered = 0
    for r in range(args.repeat):
        for n in counts:
            progress(f"scaling, round {r + 1}/{args.repeat}: {n} targets, floor")
            f = Floor(args.floor, workdir, nginx, 10000, n)
            try:
                time.sleep(args.warmup_other)
                floor[n].append(per_request(span(f, nginx, args.seconds)))
            finally:
                sent, answered = f.stop()
                unanswered += sent - answered
            progress(f"scaling, round {r + 1}/{args.repeat}: {n} targets, loopcanary")
            lc = Loopcanary(args.loopcanary, workdir, lc_config(nginx.url, n, "10ms"), f"scale{n}-{r}")
            try:
                time.sleep(args.warmup)
                d = span(lc, nginx, args.seconds, lc.probes)
                p = per_request(d)
                p["rss"] = status_kib(lc.pid, "VmRSS")
                p["hwm"] = status_kib(lc.pid, "VmHWM")
                p["size"], p["scrape"] = lc.scrape_stats()
                p["to_floor"] = p["us"] / floor[n][-1]["us"]
                res[n].append(p)
            finally:
                lc.stop()
    rows = []
    for n in counts:
        p = res[n]
        fl = floor[n]
        def wakes(rows):
            return f"{med(rows, 'wake'):.2f} ({med(rows, 'vol'):.2f} / {med(rows, 'invol'):.2f})"

        rows.append([n, fmt_rate(med(p, "rate")), f"{med(p, 'pct'):.1f}", f"{med(p, 'us'):.0f}",
                     wakes(p), f"{med(fl, 'pct'):.1f}", f"{med(fl, 'us'):.0f}",
                     wakes(fl), f"{med(p, 'to_floor'):.2f}×",
                     f"{med(p, 'rss') / 1024:.1f}", f"{med(p, 'hwm') / 1024:.1f}",
                     fmt_rate(med(p, "size")), f"{med(p, 'scrape') * 1000:.1f}"])
    out.append(f"### Scaling: N targets on the same nginx, one 10 ms canary each (median of {args.repeat})\n")
    out.append(table(["targets", "probes/s", "CPU % of a core", "CPU µs per probe",
                      "wake-ups per probe (voluntary / involuntary)", "floor: CPU %", "floor: µs per probe",
                      "floor: wake-ups per probe (voluntary / involuntary)", "loopcanary / floor",
                      "VmRSS MiB", "VmHWM MiB", "/metrics bytes", "/metrics served in (ms)"], rows))
    out.append("")
    if unanswered:
        out.append(f"**The floor left {unanswered} requests unanswered**: its figures are suspect.\n")
    big = max(counts)
    return {"big": big, "big_pct": med(res[big], "pct"), "big_hwm": med(res[big], "hwm") / 1024,
            "big_scrape": med(res[big], "scrape") * 1000, "big_floor_pct": med(floor[big], "pct")}


def run_idle(args, nginx, workdir, out):
    res = []
    for r in range(args.repeat):
        progress(f"idle, round {r + 1}/{args.repeat}")
        lc = Loopcanary(args.loopcanary, workdir, lc_config(nginx.url, 1, "1s"), f"idle-{r}")
        try:
            time.sleep(args.warmup)
            res.append(per_request(span(lc, nginx, args.idle_seconds, lc.probes)))
        finally:
            lc.stop()
    out.append(f"### Idle: one target, one canary at 1 s ({args.idle_seconds:g} s spans, median of {args.repeat})\n")
    out.append(table(["probes/s", "CPU % of a core", "wake-ups per second", "voluntary per second",
                      "CPU % of a core, each round"],
                     [[f"{med(res, 'rate'):.2f}", f"{med(res, 'pct'):.2f}", f"{med(res, 'wake_s'):.1f}",
                       f"{med(res, 'vol_s'):.1f}", ", ".join(f"{p['pct']:.2f}" for p in res)]]))
    out.append("")
    return {"idle_pct": med(res, "pct")}


def goals(found, out):
    rows = []

    def row(what, value, ok, floor=None, floor_ok=None):
        verdict = "met" if ok else "**missed**"
        if not ok and floor_ok is False:
            verdict += " (below the floor)"
        rows.append([what, value, verdict, floor if floor is not None else "–"])

    if "lc10_ratio" in found:
        row("10 ms: ≤ 2× wrk per request", f"{found['lc10_ratio']:.1f}×", found["lc10_ratio"] <= 2,
            f"{found['floor10_ratio']:.1f}×", found["floor10_ratio"] <= 2)
        row("10 ms: < 1 % of a core", f"{found['lc10_pct']:.1f} %", found["lc10_pct"] < 1,
            f"{found['floor10_pct']:.1f} %", found["floor10_pct"] < 1)
        row("1 ms: ≤ 1.5× wrk per request", f"{found['lc1_ratio']:.1f}×", found["lc1_ratio"] <= 1.5,
            f"{found['floor1_ratio']:.1f}×", found["floor1_ratio"] <= 1.5)
    if "big" in found and found["big"] == 50:
        row("50 targets × 10 ms: ≤ 10 % of a core", f"{found['big_pct']:.1f} %", found["big_pct"] <= 10,
            f"{found['big_floor_pct']:.1f} %", found["big_floor_pct"] <= 10)
        row("50 targets: ≤ 40 MiB (VmHWM)", f"{found['big_hwm']:.1f} MiB", found["big_hwm"] <= 40)
        row("50 targets: /metrics served in ≤ 5 ms", f"{found['big_scrape']:.1f} ms", found["big_scrape"] <= 5)
    if "idle_pct" in found:
        row("idle (1 s): ≤ 0.1 % of a core", f"{found['idle_pct']:.2f} %", found["idle_pct"] <= 0.1)
    if rows:
        out.append(f"### Against {GOALS_NOTE}\n")
        out.append("The floor's column is bench/floor.c measured the same way in the same run: a goal the floor"
                   " itself misses is below what one request per probe costs on this machine.\n")
        out.append(table(["goal", "loopcanary, this run", "", "the floor, this run"], rows))
        out.append("")


def add_loopcanary_arg(ap):
    ap.add_argument("--loopcanary", default=os.path.join(SOURCE, "build", "release", "exporter", "loopcanary"),
                    help="the binary to measure (default: build/release/exporter/loopcanary of this checkout)")


def parse_with_loopcanary(ap, script):
    """Parses the arguments; exits naming the loopcanary binary when it is missing."""
    args = ap.parse_args()
    args.loopcanary = os.path.abspath(args.loopcanary)
    if not os.access(args.loopcanary, os.X_OK):
        sys.exit(f"{script}: no loopcanary binary at {args.loopcanary}: build it (scripts/build.sh release)"
                 " or pass --loopcanary PATH")
    return args


def progress(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=15, help="measured span of each prober (default 15)")
    ap.add_argument("--repeat", type=int, default=3, help="rounds; cells are medians (default 3)")
    ap.add_argument("--warmup", type=float, default=12,
                    help="seconds between loopcanary's start and its span (default 12: past its 10 s window and warm-up)")
    ap.add_argument("--warmup-other", type=float, default=3,
                    help="the same for wrk and blackbox_exporter (default 3)")
    ap.add_argument("--idle-seconds", type=float, default=30,
                    help="span of the idle row (default 30: CPU is counted in 10 ms ticks)")
    ap.add_argument("--targets", default="1,10,50", help="target counts of the scaling table (default 1,10,50)")
    ap.add_argument("--blackbox-rate", type=int, default=100, help="/probe requests per second (default 100)")
    ap.add_argument("--only", choices=["sidebyside", "scaling", "idle"], help="run one table only")
    add_loopcanary_arg(ap)
    args = parse_with_loopcanary(ap, "sidebyside.py")
    parts = [args.only] if args.only else ["sidebyside", "scaling", "idle"]
    nginx_bin = find_tools("sidebyside" in parts, "sidebyside" in parts)

    # Ctrl-C raises KeyboardInterrupt; make SIGTERM and SIGHUP do the same so
    # every finally below stops what it started.
    def interrupted(signum, _frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)

    started = datetime.datetime.now().astimezone()
    load_before = loadavg()
    times_before = cpu_times()
    t_start = time.monotonic()
    out = []
    found = {}
    workdir = tempfile.mkdtemp(prefix="loopcanary-sidebyside-")
    nginx = None
    try:
        args.floor = build_floor(workdir)
        nginx = Nginx(nginx_bin, workdir)
        if "sidebyside" in parts:
            found.update(run_sidebyside(args, nginx, workdir, out))
        if "scaling" in parts:
            found.update(run_scaling(args, nginx, workdir, out))
        if "idle" in parts:
            found.update(run_idle(args, nginx, workdir, out))
    except KeyboardInterrupt as e:
        sys.exit(f"sidebyside.py: interrupted ({e or 'SIGINT'}); every process it started was stopped")
    finally:
        if nginx is not None:
            nginx.stop()
        for p in harness._started:  # anything a failed constructor left behind
            if isinstance(p, Proc):
                p.stop(timeout=2)
        if os.environ.get("LOOPCANARY_KEEP_TMP"):
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    goals(found, out)

    elapsed = time.monotonic() - t_start
    times_after = cpu_times()
    steal = (times_after[1] - times_before[1]) / max(times_after[0] - times_before[0], 1) * 100
    head = [
        "`" + " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]) + "`",
        "",
        f"- date: {started:%Y-%m-%d %H:%M %Z}, {elapsed / 60:.1f} min",
        f"- machine: {machine()}; load average {load_before} before, {loadavg()} after;"
        f" {steal:.1f} % of the machine's CPU time stolen by the hypervisor during the run",
        f"- loopcanary: {args.loopcanary}, {version_of([args.loopcanary, '--version'])}, "
        f"commit {git_describe(args.loopcanary) or '? (not in a git checkout)'}, "
        f"built {datetime.datetime.fromtimestamp(os.path.getmtime(args.loopcanary)):%Y-%m-%d %H:%M}",
        f"- {version_of([nginx_bin, '-v'])}; one worker, `return 200`, keep-alive unlimited"
        + (f"; {version_of(['wrk', '-v'])}; {version_of([BLACKBOX, '--version'])}" if "sidebyside" in parts else ""),
        f"- spans of {args.seconds:g} s, starting {args.warmup:g} s after loopcanary started"
        f" ({args.warmup_other:g} s for wrk and blackbox_exporter); medians of {args.repeat}",
        "",
    ]
    notes = [
        "How it is counted: CPU is utime + stime from /proc/<pid>/stat (all threads; 10 ms ticks) between the"
        " span's edges; wake-ups are voluntary + involuntary context switches summed over"
        " /proc/<pid>/task/*/status. Requests: loopcanary's `loopcanary_probes_total` delta (/metrics is scraped"
        " once just before and once just after the /proc edges, so a scrape's own CPU stays outside the span;"
        " the scaling table's /metrics size and time come from 5 more scrapes after the span), the /probe"
        " requests this script drove through blackbox_exporter, and for wrk the requests nginx served (its"
        " stub_status). loopcanary's probes_total counts probes scheduled; nginx's count is beside it as a check."
        " Only the prober's process is measured: not nginx, not this script (it drives blackbox_exporter on one"
        " keep-alive connection); blackbox_exporter opens a new connection to nginx for each probe, as it always does."
        " loopcanary runs with its defaults besides interval and idle_interval (jitter 0.2, 4 pooled connections,"
        " one renewed each second, log level info). The floor (bench/floor.c) keeps one connection per target,"
        " never renews it, batches targets due within 1 ms of a wake-up as loopcanary does, and parses nothing.",
    ]
    print("\n".join(head + out + notes))


if __name__ == "__main__":
    main()
