#!/usr/bin/env python3
"""Writes the hand-made seeds of tests/fuzz/corpus/ (seed-* files).

The other seeds are written here, so a seed that needs a binary prefix
(fuzz_checks) stays readable. The config seeds are the example configs and the
loader's test files, copied only with --config and then minimized:
`fuzz_config -merge=1 <empty dir> corpus/fuzz_config` names the files that add
coverage (by content hash); the others were deleted. Files not named seed-*
were added by `-merge=1` from fuzzing runs and are kept as they are.
Run from anywhere:
    python3 tests/fuzz/seeds.py [--config]
"""

import pathlib
import shutil
import struct
import sys

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CORPUS = HERE / "corpus"

UNITS = {
    "zero": "0",
    "zero-seconds": "0s",
    "ms": "10ms",
    "minutes-seconds": "1m30s",
    "every-unit": "1y2w3d4h5m6s7ms",
    "largest": "106751d23h47m16s854ms",
    "overflow": "9223372036854775807ms",
    "units-out-of-order": "1s1m",
    "unit-twice": "1s1s",
    "bare-number": "10",
    "fraction": "1.5s",
    "space": "5 s",
    "microseconds": "10us",
    "spelled-unit": "5sec",
    "negative": "-1s",
    "ratio": "0.05",
    "percent": "5%",
    "percent-over": "150%",
    "one": "1",
    "rate-second": "20/s",
    "rate-minute": "600/m",
    "rate-hour": "0.5/h",
    "rate-exponent": "1e3/s",
    "rate-inf": "inf/s",
    "rate-bad-unit": "20/d",
    "nan": "nan",
    "exponent-underflow": "1e-400",
    # Eight bytes are also read as a Duration in nanoseconds.
    "ns-sub-millisecond": struct.pack("<q", 1500),
    "ns-negative": struct.pack("<q", -90_000_000_000),
}

CRLF = "\r\n"


def http(lines, body=""):
    return CRLF.join(lines) + CRLF + CRLF + body


# fuzz_checks: flags byte (expect index in bits 0-1, HEAD bit 2, read size
# index in bits 3-4: whole, 1, 3, 512 bytes), a big-endian int16 status, bytes.
def checks(expect=0, head=False, read=0, status=200, response=""):
    flags = expect | (4 if head else 0) | (read << 3)
    data = response.encode() if isinstance(response, str) else response
    return bytes([flags]) + struct.pack(">h", status) + data


OK_JSON = '{"status":"ok"}'
CHECKS = {
    "ok-length": checks(1, response=http(["HTTP/1.1 200 OK", "Content-Type: application/json",
                                          f"Content-Length: {len(OK_JSON)}"], OK_JSON)),
    "ok-length-bytewise": checks(1, read=1, response=http(
        ["HTTP/1.1 200 OK", f"Content-Length: {len(OK_JSON)}"], OK_JSON)),
    "chunked": checks(1, read=2, response=http(
        ["HTTP/1.1 200 OK", "Transfer-Encoding: chunked"],
        "5\r\n{\"sta\r\nA;ext=1\r\ntus\":\"up\"}\r\n0\r\nX-Trailer: 1\r\n\r\n")),
    "chunked-bad-size": checks(0, response=http(
        ["HTTP/1.1 200 OK", "Transfer-Encoding: chunked"], "zz\r\nhello\r\n0\r\n\r\n")),
    "chunked-truncated": checks(0, response=http(
        ["HTTP/1.1 200 OK", "Transfer-Encoding: chunked"], "10\r\nshort")),
    "chunked-and-length": checks(0, response=http(
        ["HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "Content-Length: 3"], "0\r\n\r\n")),
    "no-content": checks(0, status=204, response=http(["HTTP/1.1 204 No Content"])),
    "not-modified": checks(0, status=304, response=http(["HTTP/1.1 304 Not Modified",
                                                         "Content-Length: 99"])),
    "head-with-length": checks(0, head=True, response=http(["HTTP/1.1 200 OK",
                                                            "Content-Length: 1000"])),
    "until-eof": checks(0, read=3, response=http(["HTTP/1.0 200 OK"], "body until close")),
    "truncated-body": checks(0, response=http(["HTTP/1.1 200 OK", "Content-Length: 100"],
                                              "0123456789")),
    "over-body-limit": checks(0, response=http(["HTTP/1.1 200 OK", "Content-Length: 70000"],
                                               "x" * 100)),
    "bad-status-line": checks(0, response="HTTP/1.1 2000 OK\r\n\r\n"),
    "http2-preface": checks(0, response="HTTP/2 200\r\n\r\n"),
    "not-http": checks(0, response="SSH-2.0-OpenSSH_9.2\r\n"),
    "obs-fold": checks(0, response=http(["HTTP/1.1 200 OK", "X-Long: a", " folded",
                                         "Content-Length: 0"])),
    "header-no-colon": checks(0, response=http(["HTTP/1.1 200 OK", "Broken header"])),
    "bad-length": checks(0, response=http(["HTTP/1.1 200 OK", "Content-Length: 1x"])),
    "two-lengths": checks(0, response=http(["HTTP/1.1 200 OK", "Content-Length: 1",
                                            "Content-Length: 2"], "ab")),
    "headers-only": checks(0, response="HTTP/1.1 200 OK\r\nServer: x\r\n"),
    "empty": checks(0, response=""),
    "pathological-body": checks(2, status=200, response=http(
        ["HTTP/1.1 200 OK", "Content-Length: 61"], "a" * 60 + "b")),
    "error-body": checks(3, status=503, response=http(
        ["HTTP/1.1 503 Service Unavailable", "Content-Length: 7"], "error\r\n")),
    "status-negative": checks(0, status=-1, response="HTTP/1.1 999 Weird\r\n\r\n"),
}


def request(method, target, headers=(), body="", version="HTTP/1.1"):
    lines = [f"{method} {target} {version}", "Host: 127.0.0.1:19420", *headers]
    if body and not any(h.lower().startswith("transfer-encoding") for h in headers):
        lines.append(f"Content-Length: {len(body)}")
    return http(lines, body)


SCEN = "/api/v1/scenarios"
ROUTER = {
    "landing": request("GET", "/"),
    "landing-head": request("HEAD", "/"),
    "landing-post": request("POST", "/", body="x"),
    "metrics": request("GET", "/metrics"),
    "metrics-query": request("GET", "/metrics?name[]=loopcanary_up"),
    "metrics-head": request("HEAD", "/metrics"),
    "metrics-delete": request("DELETE", "/metrics"),
    "healthy": request("GET", "/-/healthy"),
    "ready": request("GET", "/-/ready", version="HTTP/1.0"),
    "reload-post": request("POST", "/-/reload"),
    "reload-put": request("PUT", "/-/reload", body="{}"),
    "reload-get": request("GET", "/-/reload"),
    "status": request("GET", "/api/v1/status", ["Accept: application/json"]),
    "scenarios": request("GET", SCEN),
    "scenarios-slash": request("GET", SCEN + "/"),
    "scenario": request("GET", SCEN + "/checkout-ramp"),
    "scenario-unknown": request("GET", SCEN + "/nope"),
    "scenario-post": request("POST", SCEN + "/k6-soak"),
    "start-conflict": request("POST", SCEN + "/checkout-ramp/start"),
    "start": request("POST", SCEN + "/k6-soak/start"),
    "start-unknown": request("POST", SCEN + "/nope/start"),
    "start-get": request("GET", SCEN + "/k6-soak/start"),
    "stop": request("POST", SCEN + "/checkout-ramp/stop"),
    "stop-not-running": request("POST", SCEN + "/k6-soak/stop", body="{}"),
    "scenario-bad-action": request("POST", SCEN + "/k6-soak/pause"),
    "scenario-too-deep": request("POST", SCEN + "/a/start/b"),
    "double-slashes": request("GET", "//api//v1//scenarios//checkout-ramp"),
    "not-found": request("GET", "/api/v2/status"),
    "absolute-form": request("GET", "http://127.0.0.1:19420/metrics"),
    "asterisk": request("OPTIONS", "*"),
    "chunked-post": request("POST", "/-/reload", ["Transfer-Encoding: chunked"],
                            "3\r\nabc\r\n0\r\n\r\n"),
    "pipelined": request("GET", "/-/healthy") + request("HEAD", "/metrics")
                 + request("POST", SCEN + "/k6-soak/stop", ["Connection: close"]),
    "keep-alive-1.0": request("GET", "/-/ready", ["Connection: keep-alive"], version="HTTP/1.0")
                      + request("GET", "/", version="HTTP/1.0"),
    "truncated-body": "POST /-/reload HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc",
    "bad-version": "GET / HTTP/9.9x\r\n\r\n",
    "http09": "GET /\r\n\r\n",
    "lowercase-method": "get / HTTP/1.1\r\n\r\n",
    "unknown-method": request("BREW", "/metrics"),
    "header-no-colon": "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
}


def write(target, seeds):
    out = CORPUS / target
    out.mkdir(parents=True, exist_ok=True)
    for name, data in seeds.items():
        data = data.encode() if isinstance(data, str) else data
        assert len(data) < 4096, name
        (out / f"seed-{name}").write_bytes(data)


def copy_config_seeds():
    config = CORPUS / "fuzz_config"
    config.mkdir(parents=True, exist_ok=True)
    for src in sorted((ROOT / "config" / "examples").glob("*.yaml")):
        shutil.copyfile(src, config / f"seed-{src.stem}")
    for src in sorted((ROOT / "tests" / "config" / "testdata").glob("*.yml")):
        shutil.copyfile(src, config / f"seed-{src.stem}")


def main():
    if "--config" in sys.argv[1:]:
        copy_config_seeds()
    write("fuzz_units", UNITS)
    write("fuzz_checks", CHECKS)
    write("fuzz_router", ROUTER)


if __name__ == "__main__":
    main()
