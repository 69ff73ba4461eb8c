#!/usr/bin/python3
"""An HTTP/1.1 server on loopback that misbehaves on purpose, one fault per path.

    /usr/bin/python3 tests/hardening/fault_server.py [--port 0] [--lifetime S]

prints `listening PORT` on stdout once it accepts connections. Stdlib only.

Paths (the query string is ignored except for /late):
  /ok                 200 `{"status":"ok"}` at once; keep-alive honoured
  /wrong-body         200 `{"status":"degraded"}` (no `"ok"` in it); keep-alive
  /late?ms=N          the /ok answer N ms after the request arrived; keep-alive
  /hang               reads the request and never answers
  /slowloris          a valid response whose header arrives one byte per second
  /endless            200 chunked, the body never ends
  /huge               Content-Length 100 MB, streamed for real
  /bad-status-line    a status line that is not HTTP (`HTTP/1.1 two-hundred OK`)
  /bad-chunked        200 chunked with a chunk size that is not hex
  /reset-mid-body     Content-Length 1000, 100 bytes of body, then an RST
                      (SO_LINGER 0 and close)
  /close-after-headers  Content-Length 100, the header only, then a clean close (FIN)
  anything else       404; keep-alive
A port where nothing listens ("refuses connections") is `refused_port()`.

Bounded: at most --max-connections connections at once (more are closed on
accept); a request header of at most 16 KiB (431 beyond) and a request body of
at most 1 MiB (413 beyond), read in small pieces and discarded; every write
waits for the socket to drain, so a client that stops reading holds no more
than the transport's write buffer; no connection lives longer than --hold
seconds, whatever its fault. The faults that never end on their own (/hang,
/endless, /huge, the held connections of /bad-*) end when the client closes.
The server exits on SIGTERM or SIGINT, when its parent dies (PR_SET_PDEATHSIG,
and a getppid() watch as a fallback) and after --lifetime seconds if given.
"""

import argparse
import asyncio
import ctypes
import os
import signal
import socket
import struct
import sys
import urllib.parse

MAX_HEADER_BYTES = 16 * 1024
MAX_REQUEST_BODY = 1024 * 1024
READ_CHUNK = 16 * 1024
HUGE_BYTES = 100 * 1000 * 1000
LATE_MAX_MS = 60_000
OK_BODY = b'{"status":"ok"}'
WRONG_BODY = b'{"status":"degraded"}'


def refused_port():
    """A loopback port on which connections are refused: a socket bound to it
    but not listening (the kernel answers SYN with RST). Returns (socket, port);
    keep the socket open while the port must stay refused, so that nothing else
    can take it, and close it afterwards."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


class Request:
    def __init__(self, method, target, version, headers):
        self.method = method
        self.version = version
        self.headers = headers
        parsed = urllib.parse.urlsplit(target)
        self.path = parsed.path
        self.query = urllib.parse.parse_qs(parsed.query)

    @property
    def keep_alive(self):
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection


class BadRequest(Exception):
    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Connection:
    def __init__(self, server, reader, writer):
        self.server = server
        self.reader = reader
        self.writer = writer
        self._gone = None  # set once we stop reading requests and watch for EOF

    async def read_request(self):
        """The next request, its body read and discarded; None at a clean EOF."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as e:
            if e.partial.strip():
                raise BadRequest(400, "Bad Request") from None
            return None
        except asyncio.LimitOverrunError:
            raise BadRequest(431, "Request Header Fields Too Large") from None
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise BadRequest(400, "Bad Request")
        headers = {}
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep:
                raise BadRequest(400, "Bad Request")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raise BadRequest(501, "Not Implemented")
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            raise BadRequest(400, "Bad Request") from None
        if length < 0:
            raise BadRequest(400, "Bad Request")
        if length > MAX_REQUEST_BODY:
            raise BadRequest(413, "Content Too Large")
        while length > 0:
            chunk = await self.reader.read(min(length, READ_CHUNK))
            if not chunk:
                return None
            length -= len(chunk)
        return Request(parts[0], parts[1], parts[2], headers)

    async def send(self, data):
        self.writer.write(data)
        await self.writer.drain()

    async def respond(self, status, reason, body, keep_alive, content_type="application/json"):
        head = (
            f"HTTP/1.1 {status} {reason}\r\n"
            f"Content-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
        )
        await self.send(head.encode("ascii") + body)
        return keep_alive

    def watch_for_close(self):
        """From now on requests are no longer read: incoming bytes are discarded
        until EOF, which sets the future returned by `gone()`."""

        async def drain_input():
            try:
                while await self.reader.read(READ_CHUNK):
                    pass
            except (ConnectionError, OSError):
                pass

        if self._gone is None:
            self._gone = asyncio.ensure_future(drain_input())
        return self._gone

    async def wait_gone(self, seconds):
        """Sleeps `seconds`, or less if the client closes; True when it did."""
        gone = self.watch_for_close()
        done, _ = await asyncio.wait({gone}, timeout=seconds)
        return bool(done) or self.writer.is_closing()

    async def hold(self):
        """Keeps the connection open, unanswered, until the client closes it."""
        await self.wait_gone(self.server.hold)

    def reset(self):
        """Closes with an RST instead of a FIN."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    def close(self):
        if self._gone is not None:
            self._gone.cancel()
        # A graceful close flushes what is buffered first; a client that does not
        # read would keep that pending for ever, so then drop it.
        if self.writer.transport.get_write_buffer_size() == 0:
            self.writer.close()
        else:
            self.writer.transport.abort()


# --- behaviours: each returns True to keep the connection for the next request


async def ok(conn, req):
    return await conn.respond(200, "OK", OK_BODY, req.keep_alive)


async def wrong_body(conn, req):
    return await conn.respond(200, "OK", WRONG_BODY, req.keep_alive)


async def late(conn, req):
    try:
        ms = int(req.query.get("ms", ["0"])[0])
    except ValueError:
        return await conn.respond(400, "Bad Request", b"ms must be an integer", False, "text/plain")
    await asyncio.sleep(max(0, min(ms, LATE_MAX_MS)) / 1000)
    return await conn.respond(200, "OK", OK_BODY, req.keep_alive)


async def hang(conn, req):
    await conn.hold()
    return False


async def slowloris(conn, req):
    response = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(OK_BODY), OK_BODY)
    )
    for i in range(len(response)):
        await conn.send(response[i:i + 1])
        if await conn.wait_gone(1.0):
            break
    return False


async def endless(conn, req):
    await conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"1000\r\n" + b"x" * 0x1000 + b"\r\n"
    gone = conn.watch_for_close()
    while not gone.done():
        await conn.send(chunk)  # waits while the client does not read
    return False


async def huge(conn, req):
    await conn.send(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n" % HUGE_BYTES
    )
    block = b"y" * 65536
    gone = conn.watch_for_close()
    left = HUGE_BYTES
    while left > 0 and not gone.done():
        n = min(left, len(block))
        await conn.send(block[:n])
        left -= n
    return False


async def bad_status_line(conn, req):
    await conn.send(b"HTTP/1.1 two-hundred OK\r\nContent-Length: 2\r\n\r\nok")
    await conn.hold()  # the client must judge the bytes, not wait for a close
    return False


async def bad_chunked(conn, req):
    await conn.send(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"zz;\r\nnot a chunk\r\n"
    )
    await conn.hold()
    return False


async def reset_mid_body(conn, req):
    await conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n" + b"z" * 100)
    # Let the part reach the client first, so that it is mid-body when the RST lands.
    await asyncio.sleep(0.01)
    conn.reset()
    return False


async def close_after_headers(conn, req):
    await conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n")
    return False  # the caller closes: a FIN after a header that promised a body


async def not_found(conn, req):
    return await conn.respond(404, "Not Found", b"no such fault", req.keep_alive, "text/plain")


BEHAVIOURS = {
    "/ok": ok,
    "/wrong-body": wrong_body,
    "/late": late,
    "/hang": hang,
    "/slowloris": slowloris,
    "/endless": endless,
    "/huge": huge,
    "/bad-status-line": bad_status_line,
    "/bad-chunked": bad_chunked,
    "/reset-mid-body": reset_mid_body,
    "/close-after-headers": close_after_headers,
}


class FaultServer:
    def __init__(self, max_connections, hold):
        self.max_connections = max_connections
        self.hold = hold
        self.connections = set()

    async def handle(self, reader, writer):
        if len(self.connections) >= self.max_connections:
            writer.transport.abort()
            return
        conn = Connection(self, reader, writer)
        task = asyncio.current_task()
        self.connections.add(task)
        try:
            await asyncio.wait_for(self.serve(conn), self.hold)
        except (asyncio.TimeoutError, ConnectionError, OSError):
            pass
        finally:
            self.connections.discard(task)
            conn.close()

    async def serve(self, conn):
        while True:
            try:
                req = await conn.read_request()
            except BadRequest as e:
                await conn.respond(e.status, e.reason, e.reason.encode(), False, "text/plain")
                return
            if req is None:
                return
            if not await BEHAVIOURS.get(req.path, not_found)(conn, req):
                return


def die_with_parent():
    """Asks the kernel for SIGTERM when the parent exits (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


async def main(args):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    parent = os.getppid()

    async def watch_parent():
        # PR_SET_PDEATHSIG fires when the parent *thread* ends and is lost across
        # a race at start-up; polling getppid() covers both.
        while os.getppid() == parent and parent != 1:
            await asyncio.sleep(0.5)
        stop.set()

    faults = FaultServer(args.max_connections, args.hold)
    server = await asyncio.start_server(
        faults.handle, "127.0.0.1", args.port, limit=MAX_HEADER_BYTES, backlog=1024
    )
    port = server.sockets[0].getsockname()[1]
    print(f"listening {port}", flush=True)
    watcher = asyncio.ensure_future(watch_parent())
    try:
        await asyncio.wait_for(stop.wait(), args.lifetime)
    except asyncio.TimeoutError:
        pass
    watcher.cancel()
    server.close()
    for task in list(faults.connections):
        task.cancel()
    await asyncio.gather(*faults.connections, return_exceptions=True)


if __name__ == "__main__":
    die_with_parent()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-connections", type=int, default=1024)
    parser.add_argument("--hold", type=float, default=300.0,
                        help="seconds after which any connection is closed")
    parser.add_argument("--lifetime", type=float, default=None,
                        help="seconds after which the server exits (default: never)")
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
