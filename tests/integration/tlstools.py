"""TLS helpers for integration tests: a throwaway CA and certificates made with
the `openssl` CLI at test time, and a small stdlib HTTPS server that answers
/health like the demo app. Nothing here is committed key material: every file
is created in the test's temp dir and removed with it."""

import json
import os
import subprocess
import sys
import textwrap

from harness import PYTHON, Process, free_port, wait_for

OPENSSL = "/usr/bin/openssl"


def _openssl(*args, cwd):
    result = subprocess.run([OPENSSL, *args], cwd=cwd, capture_output=True, timeout=60)
    if result.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed:\n{result.stderr.decode()}")


class TestPki:
    """A CA and leaf certificates signed by it, in `workdir`. EC P-256 keys:
    quick to make, accepted at OpenSSL's default security level."""

    def __init__(self, workdir, name="test"):
        self.dir = workdir
        self.ca_cert = os.path.join(workdir, f"{name}-ca.crt")
        self.ca_key = os.path.join(workdir, f"{name}-ca.key")
        _openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", self.ca_key, "-out", self.ca_cert, "-days", "2",
            "-subj", f"/CN=loopcanary {name} CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            cwd=workdir,
        )

    def issue(self, name, sans=("DNS:localhost", "IP:127.0.0.1"), usage="serverAuth"):
        """Makes `name`.key and `name`.crt signed by the CA; returns (cert, key)."""
        key = os.path.join(self.dir, f"{name}.key")
        csr = os.path.join(self.dir, f"{name}.csr")
        cert = os.path.join(self.dir, f"{name}.crt")
        ext = os.path.join(self.dir, f"{name}.ext")
        with open(ext, "w") as f:
            f.write(f"basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                    f"extendedKeyUsage={usage}\n")
            if sans:
                f.write(f"subjectAltName={','.join(sans)}\n")
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", key, "-out", csr, "-subj", f"/CN={name}", cwd=self.dir)
        _openssl("x509", "-req", "-in", csr, "-CA", self.ca_cert, "-CAkey", self.ca_key,
                 "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext, cwd=self.dir)
        return cert, key


# The HTTPS target: /health answers 200 {"status":"ok"} with keep-alive;
# /_sni lists the server names clients sent (None when no SNI), newest last.
_SERVER = textwrap.dedent(r'''
    import http.server, json, ssl, sys
    cert, key, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    seen = []
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    def on_sni(sock, name, context):
        seen.append(name)
        del seen[:-100]
    ctx.sni_callback = on_sni

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def do_GET(self):
            if self.path == "/health":
                body = b'{"status":"ok"}'
            elif self.path == "/_sni":
                body = json.dumps(seen).encode()
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True
        def get_request(self):
            sock, addr = self.socket.accept()
            # The handshake happens on the first read, in the handler's thread,
            # so a client that fails it never holds up accept().
            return ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr
        def handle_error(self, request, client_address):
            pass  # failed handshakes are what the tests provoke

    server = Server(("127.0.0.1", port), Handler)
    print("serving", flush=True)
    server.serve_forever()
''')


class HttpsTarget:
    """The stdlib HTTPS server above on a free loopback port, stopped by PID."""

    def __init__(self, workdir, cert, key):
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        script = os.path.join(workdir, "https_target.py")
        with open(script, "w") as f:
            f.write(_SERVER)
        self.process = Process([PYTHON, script, cert, key, str(self.port)],
                               os.path.join(workdir, f"https-target-{self.port}.log"))
        try:
            wait_for(self._listening, 15, message="the HTTPS target to listen")
        except AssertionError:
            print(self.process.output(), file=sys.stderr)
            self.process.stop()
            raise

    def _listening(self):
        if not self.process.alive():
            raise AssertionError(f"HTTPS target exited: {self.process.output()}")
        return "serving" in self.process.output()

    def sni_names(self, ca_file):
        """The server names clients sent so far (None for a client without SNI)."""
        import ssl
        import urllib.request
        ctx = ssl.create_default_context(cafile=ca_file)
        with urllib.request.urlopen(f"https://localhost:{self.port}/_sni", context=ctx,
                                    timeout=5) as r:
            return json.loads(r.read())[:-1]  # the last one is this request's own

    def stop(self):
        return self.process.stop()
