"""The loopcanary demo service: a FastAPI app with one route per degradation.

Run it with Debian's uvicorn:

    /usr/bin/python3 -m uvicorn app:app --app-dir deploy/lab/app --port 8000 \
        --loop asyncio --http h11 --no-access-log

or as a pre-fork server, each worker process with its own event loop (add
`--workers 4` to the line above, or use gunicorn:
`gunicorn -k uvicorn.workers.UvicornWorker -w 4 --chdir deploy/lab/app app:app`).
Every answer of /health names its worker (`pid`, and the X-Worker-Id header),
and a block blocks the loop of the worker that took the request only.

Routes
  /health          light: what loopcanary's canaries probe; {"status": "ok", "pid": …}
  /agent?ms=N      `async def` + time.sleep: blocks the event loop for N ms
  /io?ms=N         `async def` + await asyncio.sleep: healthy, the loop stays free
  /sync?ms=N       `def` + time.sleep: runs in anyio's thread pool (40 tokens)
  /cpu?ms=N        CPU-bound loop inside `async def`: starves the loop by computing
  /internal/truth  the inside view, for tests and the lab: event-loop lag by
                   sleep drift (max and histogram since the last read), anyio's
                   thread-limiter statistics, requests in flight per route, and
                   every injected block with its CLOCK_MONOTONIC start, end,
                   and `served`: when the loop next ran a /health handler (a
                   loop that slept wakes to a cold CPU; on a small VM it serves
                   its first request 10-90 ms after the sleep returns), and
                   `stalls`: the last 1000 times the loop woke 40 ms or more
                   late, injected or not (a busy machine's, too), with the
                   CLOCK_MONOTONIC start and end of each
  POST /internal/block?ms=N[&delay_ms=M | &at=T][&pid=P]
                   blocks the loop for exactly N ms, M ms from now (default 0)
                   or at CLOCK_MONOTONIC time T (the same clock in every
                   worker: blocks of several workers can start together),
                   without a client having to wait for it; answers with the
                   worker's pid. With pid=P only worker P blocks (another
                   worker answers "scheduled": false)
"""

import asyncio
import collections
import contextlib
import os
import socket
import threading
import time

import anyio.to_thread
from fastapi import FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse

LAG_PERIOD_S = 0.010
# Upper bounds in seconds of the inside lag histogram, like loopcanary's buckets.
LAG_BUCKETS = [0.0005 * 2**i for i in range(17)]
# A lag this long is kept as a stall of this loop, with when it happened.
STALL_RECORD_S = 0.040

app = FastAPI(title="loopcanary demo service")


class Truth:
    """What the process knows about itself. Touched only from the event loop,
    except `in_flight` for /sync which runs in worker threads (hence the lock)."""

    def __init__(self):
        self.lag_max = 0.0
        self.lag_max_total = 0.0
        self.lag_counts = [0] * (len(LAG_BUCKETS) + 1)
        self.lag_samples = 0
        self.blocks = []  # {"ms", "start", "end"} in CLOCK_MONOTONIC seconds
        self.stalls = collections.deque(maxlen=1000)  # {"start", "end"}, the same clock
        self.in_flight = {}
        self.requests = {}
        self.lock = threading.Lock()

    def observe_lag(self, lag):
        self.lag_samples += 1
        self.lag_max = max(self.lag_max, lag)
        self.lag_max_total = max(self.lag_max_total, lag)
        for i, bound in enumerate(LAG_BUCKETS):
            if lag <= bound:
                self.lag_counts[i] += 1
                break
        else:
            self.lag_counts[-1] += 1

    @contextlib.contextmanager
    def track(self, route):
        with self.lock:
            self.in_flight[route] = self.in_flight.get(route, 0) + 1
            self.requests[route] = self.requests.get(route, 0) + 1
        try:
            yield
        finally:
            with self.lock:
                self.in_flight[route] -= 1


truth = Truth()


async def lag_monitor():
    """Sleeps 10 ms at a time; how late each wake-up is, is the loop's lag."""
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        await asyncio.sleep(LAG_PERIOD_S)
        lag = max(0.0, loop.time() - before - LAG_PERIOD_S)
        truth.observe_lag(lag)
        if lag >= STALL_RECORD_S:
            # loop.time() is CLOCK_MONOTONIC, as time.monotonic() is.
            truth.stalls.append({"start": before + LAG_PERIOD_S, "end": before + LAG_PERIOD_S + lag})


def nodelay_listeners():
    """TCP_NODELAY on every listening TCP socket this process holds, as
    gunicorn sets it: connections accepted from it inherit it. `uvicorn
    --workers` (0.17) binds its shared socket as socket.socket(AF_INET),
    protocol 0, so asyncio skips TCP_NODELAY on the connections it accepts;
    h11 writes a response in two sends, and the second then waits for the
    client's delayed ACK whenever a keep-alive connection is reused within it
    (measured: 199 of 200 requests 10 ms apart on one connection took ~42 ms
    under --workers 4, none with one worker). Outside requests would see that
    too; this demo is about event-loop stalls, not Nagle's algorithm."""
    for name in os.listdir("/proc/self/fd"):
        try:
            sock = socket.fromfd(int(name), socket.AF_INET, socket.SOCK_STREAM)
        except OSError:
            continue  # not a socket
        with sock:
            try:
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) and \
                        sock.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN) in (socket.AF_INET, socket.AF_INET6):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                continue


@app.on_event("startup")
async def start_lag_monitor():
    nodelay_listeners()
    app.state.lag_task = asyncio.create_task(lag_monitor())


def clamp_ms(ms):
    return max(0, min(ms, 120_000)) / 1000.0


PID = os.getpid()


@app.get("/health")
async def health(response: Response):
    if truth.blocks and truth.blocks[-1]["served"] is None:
        truth.blocks[-1]["served"] = time.monotonic()
    response.headers["X-Worker-Id"] = str(PID)
    return {"status": "ok", "pid": PID}


@app.get("/agent")
async def agent(ms: int = Query(200)):
    with truth.track("agent"):
        time.sleep(clamp_ms(ms))  # the bug this product exists to catch
    return {"route": "agent", "ms": ms}


@app.get("/io")
async def io(ms: int = Query(200)):
    with truth.track("io"):
        await asyncio.sleep(clamp_ms(ms))
    return {"route": "io", "ms": ms}


@app.get("/sync")
def sync(ms: int = Query(100)):
    with truth.track("sync"):
        time.sleep(clamp_ms(ms))
    return {"route": "sync", "ms": ms}


@app.get("/cpu")
async def cpu(ms: int = Query(200)):
    with truth.track("cpu"):
        deadline = time.monotonic() + clamp_ms(ms)
        n = 0
        while time.monotonic() < deadline:
            n += 1
    return {"route": "cpu", "ms": ms, "iterations": n}


def block_loop(ms):
    start = time.monotonic()
    time.sleep(ms / 1000.0)
    truth.blocks.append({"ms": ms, "start": start, "end": time.monotonic(), "served": None})


@app.post("/internal/block")
async def block(
    ms: int = Query(..., ge=1, le=120_000),
    delay_ms: int = Query(0, ge=0, le=60_000),
    at: float = Query(None),
    pid: int = Query(None),
):
    now = time.monotonic()
    if pid is not None and pid != PID:
        # Meant for another worker of a pre-fork server: this one stays free.
        return {"scheduled": False, "pid": PID, "now": now}
    loop = asyncio.get_running_loop()
    delay = delay_ms / 1000.0 if at is None else max(0.0, min(at - now, 60.0))
    loop.call_later(delay, block_loop, ms)
    return {"scheduled": True, "ms": ms, "delay_ms": round(delay * 1000), "now": now, "pid": PID}


@app.get("/internal/truth")
async def internal_truth(reset: bool = Query(True)):
    limiter = anyio.to_thread.current_default_thread_limiter()
    stats = limiter.statistics()
    with truth.lock:
        in_flight = dict(truth.in_flight)
        requests = dict(truth.requests)
    body = {
        "pid": os.getpid(),
        "now": time.monotonic(),
        "loop_lag": {
            "period_seconds": LAG_PERIOD_S,
            "max_seconds": truth.lag_max,
            "max_seconds_total": truth.lag_max_total,
            "samples": truth.lag_samples,
            "buckets": LAG_BUCKETS,
            "counts": truth.lag_counts,
        },
        "thread_limiter": {
            "borrowed": stats.borrowed_tokens,
            "total": stats.total_tokens,
            "waiting": stats.tasks_waiting,
        },
        "in_flight": in_flight,
        "requests": requests,
        "blocks": truth.blocks,
        "stalls": list(truth.stalls),
    }
    if reset:
        truth.lag_max = 0.0
        truth.lag_counts = [0] * (len(LAG_BUCKETS) + 1)
    return JSONResponse(body)
