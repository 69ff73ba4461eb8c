"""The guided part of scripts/demo.sh: with the demo app and loopcanary
running, show what loopcanary is for in a few minutes, one line per step:

  1. the target healthy;
  2. its event loop blocked for 3 s (an injected block), and the way back;
  3. agent-blocking: a blocking call inside an async route (the bug);
  4. sync-ramp: a sync route saturating the thread pool (not the loop);
  5. where to look next. Then it keeps watching and prints each status change.

Every line says what loopcanary's status and signals show *now*, read from
/api/v1/status, and why; nothing is scripted in advance. On a busy machine
loopcanary may report itself starved (status unknown, prober_starved): the
tour says so rather than pretending.

Usage: demo_tour.py LOOPCANARY_URL APP_URL [--no-watch]
Standard library only; stops quietly on Ctrl-C.
"""

import json
import sys
import time
import urllib.error
import urllib.request

LEVELS = {-1: "unknown", 0: "healthy", 1: "degraded", 2: "critical", 3: "unresponsive"}
TARGET = "demo"


def request(method, url, timeout=5.0):
    req = urllib.request.Request(url, data=b"" if method == "POST" else None, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


class Tour:
    def __init__(self, lc, app):
        self.lc = lc.rstrip("/")
        self.app = app.rstrip("/")

    # --- reading loopcanary -------------------------------------------------

    def target(self):
        try:
            status, body = request("GET", self.lc + "/api/v1/status", timeout=3)
        except (OSError, urllib.error.URLError):
            return None
        if status != 200:
            return None
        for t in json.loads(body)["targets"]:
            if t["name"] == TARGET:
                return t
        return None

    def wait(self, condition, timeout, interval=0.2):
        """Polls the target until condition(t) is truthy; returns (t, ok)."""
        deadline = time.monotonic() + timeout
        t = None
        while time.monotonic() < deadline:
            t = self.target()
            if t is not None and condition(t):
                return t, True
            time.sleep(interval)
        return t, False

    @staticmethod
    def shown_findings(t):
        """Findings a person sees: holding or clearing, with their evidence."""
        return [f for f in t["findings"] if f.get("state") in ("holding", "clearing")]

    @staticmethod
    def evidence(t, finding=None, levels=None):
        """The describe() texts of the remembered evidence, worst level first."""
        order = {"unresponsive": 0, "critical": 1, "degraded": 2, "healthy": 3, "unknown": 4}
        items = []
        for f in t["findings"]:
            if finding and f["finding"] != finding:
                continue
            for e in f.get("remembered_evidence", []):
                if levels and e["level"] not in levels:
                    continue
                items.append(e)
        items.sort(key=lambda e: order.get(e["level"], 5))
        return [e["text"] for e in items]

    @staticmethod
    def route(t, name):
        for r in t["routes"]:
            if r["name"] == name:
                return r
        return {}

    def status_text(self, t):
        if t is None:
            return "status not readable (is loopcanary running?)"
        text = f"status {t['status_name']}"
        if t["status"] == -1 and t.get("unknown_reason"):
            text += f" ({t['unknown_reason']})"
        return text

    # --- steps ---------------------------------------------------------------

    def say(self, line=""):
        print(line, flush=True)

    def step_healthy(self):
        t, ok = self.wait(lambda t: t["status"] == 0, 45)
        if ok:
            time.sleep(3)  # a few seconds of calm to look at
            t = self.target() or t
        if t is None:
            self.say(f"[1/5] healthy: {self.status_text(t)}")
            return
        baseline = t["canaries"][0]["baseline_seconds"]
        base = f"{baseline * 1000:.1f} ms" if baseline else "a time not learned yet"
        self.say(f"[1/5] healthy: {self.status_text(t)}; /health answers in {base} (its "
                 f"baseline), {t['signals']['stalls_total']} stalls so far.")
        if t and t["status"] == -1:
            self.say("      loopcanary says unknown rather than guess: on a busy machine its own "
                     "timers fire late (prober_starved).")

    def step_block(self):
        self.say("[2/5] blocking the app's event loop for 3 s "
                 "(POST /internal/block?ms=3000: time.sleep on the loop) ...")
        status, body = request("POST", self.app + "/internal/block?ms=3000")
        if status != 200:
            self.say(f"      the app refused the block: {status} {body.strip()}")
            return
        started = time.monotonic()
        worst, worst_t, worst_at = -2, None, None
        while time.monotonic() - started < 3.6:
            t = self.target()
            if t is not None and t["status"] > worst:
                worst, worst_t, worst_at = t["status"], t, time.monotonic() - started
            time.sleep(0.1)
        if worst_t is None:
            self.say("      loopcanary did not answer during the block")
            return
        ev = self.evidence(worst_t, "event_loop_starvation", {"unresponsive", "critical"})
        why = f": {ev[0]}" if ev else ""
        self.say(f"      during the block: {self.status_text(worst_t)} {worst_at:.1f} s in{why}"
                 f" — /health got no answer while the loop was blocked.")
        t = self.target()
        if t is not None:
            ev = self.evidence(t, "event_loop_starvation", {"critical"})
            why = f": {ev[0]}" if ev else ""
            self.say(f"      after it: {self.status_text(t)}{why} — the stall stays in the "
                     f"{t['signals']['window_seconds']:.0f} s window, so the status waits before "
                     f"it steps down.")
        t, ok = self.wait(lambda t: t["status"] == 0, 60, interval=0.5)
        if ok:
            self.say(f"      back to healthy {time.monotonic() - started:.0f} s after the block "
                     f"began: one level per {self.step_down(t)} of calm once the stall left the "
                     f"window; the landing page kept the finding, marked clearing, meanwhile.")
        else:
            self.say(f"      still {self.status_text(t)} a minute later.")

    @staticmethod
    def step_down(t):
        return f"{t.get('step_down_after_seconds', 3):g} s"

    def run_scenario(self, name):
        status, body = request("POST", f"{self.lc}/api/v1/scenarios/{name}/start")
        if status != 202:
            self.say(f"      could not start {name}: {status} {body.strip()}")
            return False
        return True

    def scenario_running(self, name):
        try:
            status, body = request("GET", f"{self.lc}/api/v1/scenarios/{name}", timeout=3)
        except (OSError, urllib.error.URLError):
            return False
        return status == 200 and json.loads(body)["state"] != "idle"

    def stop_scenario(self, name):
        request("POST", f"{self.lc}/api/v1/scenarios/{name}/stop")
        deadline = time.monotonic() + 10
        while self.scenario_running(name) and time.monotonic() < deadline:
            time.sleep(0.2)

    def step_agent(self):
        self.say("[3/5] agent-blocking: GET /agent?ms=200 (time.sleep inside async def), "
                 "2 at a time ...")
        if not self.run_scenario("agent-blocking"):
            return
        t, _ = self.wait(lambda t: self.route(t, "agent").get("hol_blocking_ratio") is not None
                         and t["status"] != 0, 15, interval=0.5)
        time.sleep(2)
        t = self.target() or t
        agent = self.route(t, "agent") if t else {}
        hol = agent.get("hol_blocking_ratio")
        names = ", ".join(f["finding"] for f in self.shown_findings(t)) if t else ""
        hol_text = f"HOL blocking for agent {hol * 100:.0f} %" if hol is not None else \
            "HOL blocking not known yet"
        self.say(f"      {self.status_text(t)}, findings {names or 'none'}; {hol_text} — "
                 f"/health waits behind the heavy route: the route blocks the loop, not only "
                 f"itself.")
        self.stop_scenario("agent-blocking")
        self.wait(lambda t: t["status"] == 0, 60, interval=0.5)

    def step_sync(self):
        self.say("[4/5] sync-ramp: GET /sync?ms=100 (a plain def route: anyio's 40 threads), "
                 "concurrency 1, 2, 4 … 64, 5 s a step ...")
        if not self.run_scenario("sync-ramp"):
            return
        best = {}
        seen = {}  # status name -> a target read with it
        hol_max = None
        deadline = time.monotonic() + 50
        time.sleep(1)
        while time.monotonic() < deadline and self.scenario_running("sync-ramp"):
            t = self.target()
            if t is not None:
                r = self.route(t, "sync")
                for key in ("queue_amplification_ratio", "executor_capacity_estimate",
                            "saturation_concurrency"):
                    if r.get(key) is not None:
                        best[key] = max(best.get(key, 0), r[key]) if key != \
                            "executor_capacity_estimate" else r[key]
                if r.get("hol_blocking_ratio") is not None:
                    hol_max = max(hol_max or 0, r["hol_blocking_ratio"])
                seen.setdefault(t["status_name"], t)
            time.sleep(0.5)
        amp = best.get("queue_amplification_ratio")
        cap = best.get("executor_capacity_estimate")
        parts = []
        parts.append(f"queue amplification for sync up to {amp:.2f}×" if amp else
                     "no queue amplification measured")
        if cap:
            parts.append(f"executor capacity ≈ {cap:.0f} (anyio's 40 threads, seen from outside)")
        if hol_max is not None:
            parts.append(f"HOL blocking for sync at most {hol_max * 100:.0f} %")
        known = [s for s in ("unresponsive", "critical", "degraded", "healthy") if s in seen]
        if known:
            worst = seen[known[0]]
            names = ", ".join(f["finding"] for f in self.shown_findings(worst))
            parts.append(f"status up to {known[0]}" + (f" ({names})" if names else ""))
        if "unknown" in seen:
            parts.append("unknown at times: loopcanary's own prober was starved of CPU")
        self.say(f"      {'; '.join(parts)} — requests queue for threads while the loop stays "
                 f"free.")
        if self.scenario_running("sync-ramp"):
            self.stop_scenario("sync-ramp")

    def step_done(self):
        self.say(f"[5/5] done. Everything keeps running: the landing page {self.lc}/ shows the "
                 f"status timeline, findings, failing probes and charts; try "
                 f"curl -X POST '{self.app}/internal/block?ms=800' or start a scenario from "
                 f"{self.lc}/api/v1/scenarios. Ctrl-C stops both.")

    def watch(self):
        """Prints each status change until interrupted."""
        last = None
        unreachable = 0
        while unreachable < 10:  # loopcanary gone: demo.sh says so and stops
            t = self.target()
            unreachable = unreachable + 1 if t is None else 0
            if t is not None and t["status"] != last:
                if last is not None:
                    ev = [e["text"] for f in t["findings"] for e in f.get("evidence", [])
                          if e["holds"]]
                    why = f": {'; '.join(ev[:2])}" if ev else ""
                    self.say(f"  {time.strftime('%H:%M:%S')}  status {LEVELS[last]} → "
                             f"{t['status_name']}{why}")
                last = t["status"]
            time.sleep(1)
        return 1


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    tour = Tour(*args)
    try:
        tour.step_healthy()
        tour.step_block()
        tour.step_agent()
        tour.step_sync()
        tour.step_done()
        if "--no-watch" not in sys.argv:
            return tour.watch()
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
