"""Issue 6, access control: --web.config.file in the exporter-toolkit format puts
TLS and basic auth in front of every endpoint of loopcanary's own server; the
admin API and /-/reload stay off unless their flags are given. The certificates
are made by the `openssl` CLI and the bcrypt hash by `htpasswd` at test time,
and `promtool check web-config` must accept the same file."""

import base64
import http.client
import os
import re
import shutil
import ssl
import subprocess
import sys
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import BINARY, Loopcanary, Metrics, Workdir, wait_for  # noqa: E402
from tlstools import TestPki  # noqa: E402

HTPASSWD = shutil.which("htpasswd")  # Debian's apache2-utils (scripts/deps.sh)
# A missing tool fails this module rather than skipping it: a CI without it
# would otherwise pass without ever checking basic auth.
assert HTPASSWD, "htpasswd missing: scripts/deps.sh installs Debian's apache2-utils"
PROMTOOL = shutil.which("promtool")

# Probes go to a closed port: this file is about loopcanary's own server.
CONFIG = """
targets:
  - name: demo
    url: http://127.0.0.1:9
    canaries:
      - { name: health, path: /health, interval: 500ms }
scenarios:
  - { name: marker, target: demo }
"""


def bcrypt_hash(user, password, cost=10):
    """What exporter-toolkit's docs suggest: `htpasswd -nBC 10`."""
    out = subprocess.run([HTPASSWD, "-nbBC", str(cost), user, password], capture_output=True,
                         check=True, timeout=60).stdout.decode()
    return out.strip().split(":", 1)[1]


def basic(user, password):
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class SecureLoopcanary:
    """loopcanary with a web config, reached over HTTPS with the test CA."""

    def __init__(self, workdir, web_config_path, ca_cert, args=(), client_cert=None):
        self.lc = Loopcanary(workdir, CONFIG, args=[f"--web.config.file={web_config_path}", *args],
                             wait_ready=False)
        self.context = ssl.create_default_context(cafile=ca_cert)
        if client_cert:
            self.context.load_cert_chain(*client_cert)

        def address():
            if not self.lc.process.alive():
                raise AssertionError(f"loopcanary exited: {self.lc.process.output()}")
            m = re.search(r'msg="listening" address=(\S+)', self.lc.process.output())
            return m.group(1) if m else None

        self.address = wait_for(address, 15, message="loopcanary to listen")
        self.port = int(self.address.rsplit(":", 1)[1])
        self.url = f"https://127.0.0.1:{self.port}"

    def request(self, method, path, headers=None, context=None):
        """(status, body, headers); never raises on HTTP error codes."""
        req = urllib.request.Request(self.url + path, method=method, headers=headers or {},
                                     data=b"" if method == "POST" else None)
        try:
            with urllib.request.urlopen(req, context=context or self.context, timeout=10) as r:
                return r.status, r.read().decode(), r.headers
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(), e.headers

    def stop(self):
        return self.lc.stop()

    def log_tail(self):
        with open(self.lc.process.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")[-3000:]


class TlsAndBasicAuth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.workdir_cm = Workdir()
        cls.tmp = cls.workdir_cm.__enter__()
        cls.pki = TestPki(cls.tmp)
        cls.cert, cls.key = cls.pki.issue("loopcanary")
        cls.hash = bcrypt_hash("prometheus", "scrape-secret")
        cls.web = os.path.join(cls.tmp, "web.yml")
        # Relative paths: exporter-toolkit reads them from the file's folder.
        with open(cls.web, "w") as f:
            f.write(f"""
tls_server_config:
  cert_file: {os.path.basename(cls.cert)}
  key_file: {os.path.basename(cls.key)}
  min_version: TLS12
http_server_config:
  headers:
    X-Content-Type-Options: nosniff
    X-Frame-Options: deny
basic_auth_users:
  prometheus: {cls.hash}
""")
        cls.server = SecureLoopcanary(cls.tmp, cls.web, cls.pki.ca_cert)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.workdir_cm.__exit__(None, None, None)

    def test_logs_that_tls_and_auth_are_on(self):
        self.assertRegex(self.server.lc.process.output(),
                         r'msg="listening" address=\S+ tls=true basic_auth=true')

    def test_plain_http_to_the_tls_port_fails(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        try:
            with self.assertRaises((http.client.HTTPException, ConnectionError)):
                conn.request("GET", "/metrics")
                conn.getresponse()
        finally:
            conn.close()
        self.assertTrue(self.server.lc.process.alive())

    def test_https_without_credentials_is_401(self):
        status, body, headers = self.server.request("GET", "/metrics")
        self.assertEqual(status, 401)
        self.assertEqual(headers["WWW-Authenticate"], 'Basic realm="loopcanary"')
        self.assertNotIn("loopcanary_", body)

    def test_wrong_credentials_are_401(self):
        for user, password in [("prometheus", "wrong"), ("prometheus", ""),
                                ("admin", "scrape-secret"), ("", "")]:
            with self.subTest(user=user, password=password):
                status, body, _ = self.server.request("GET", "/metrics",
                                                      headers=basic(user, password))
                self.assertEqual(status, 401)
        status, _, _ = self.server.request("GET", "/metrics",
                                           headers={"Authorization": "Bearer scrape-secret"})
        self.assertEqual(status, 401)

    def test_right_credentials_scrape_metrics(self):
        for _ in range(3):  # the second and later are answered from the cache
            status, body, headers = self.server.request(
                "GET", "/metrics", headers=basic("prometheus", "scrape-secret"))
            self.assertEqual(status, 200, body)
            self.assertIsNotNone(Metrics(body).get("loopcanary_config_last_reload_successful"))
            self.assertEqual(headers["X-Frame-Options"], "deny")
            self.assertEqual(headers["X-Content-Type-Options"], "nosniff")

    def test_every_endpoint_is_behind_auth(self):
        for method, path in [("GET", "/"), ("GET", "/-/healthy"), ("GET", "/-/ready"),
                             ("GET", "/api/v1/status"), ("POST", "/-/reload"),
                             ("POST", "/api/v1/scenarios/marker/start"), ("GET", "/nope")]:
            with self.subTest(path=path):
                status, _, _ = self.server.request(method, path)
                self.assertEqual(status, 401)
        status, _, _ = self.server.request("GET", "/-/healthy",
                                           headers=basic("prometheus", "scrape-secret"))
        self.assertEqual(status, 200)

    def test_admin_api_and_reload_are_off_without_their_flags(self):
        auth = basic("prometheus", "scrape-secret")
        status, body, _ = self.server.request("POST", "/-/reload", headers=auth)
        self.assertEqual(status, 403, body)
        self.assertIn("--web.enable-lifecycle", body)
        status, body, _ = self.server.request("POST", "/api/v1/scenarios/marker/start",
                                              headers=auth)
        self.assertEqual(status, 403, body)
        self.assertIn("--web.enable-admin-api", body)

    def test_the_certificate_is_verified_by_clients(self):
        # A client that does not trust the test CA refuses the server.
        with self.assertRaises(urllib.error.URLError):
            self.server.request("GET", "/metrics", context=ssl.create_default_context())

    def test_promtool_accepts_the_same_web_config(self):
        self.assertIsNotNone(PROMTOOL, "promtool missing: scripts/deps.sh installs Debian's prometheus")
        r = subprocess.run([PROMTOOL, "check", "web-config", self.web], capture_output=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout.decode() + r.stderr.decode())

    def test_config_check_validates_the_web_config_too(self):
        r = subprocess.run([BINARY, "--config.check", f"--config.file={self.server.lc.config_path}",
                            f"--web.config.file={self.web}"], capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertIn("TLS on, 1 basic auth user)", r.stdout.decode())


class FlagsBehindAuth(unittest.TestCase):
    def test_lifecycle_and_admin_api_work_with_their_flags_and_credentials(self):
        with Workdir() as tmp:
            pki = TestPki(tmp)
            cert, key = pki.issue("loopcanary")
            web = os.path.join(tmp, "web.yml")
            with open(web, "w") as f:
                f.write(f"tls_server_config: {{ cert_file: {cert}, key_file: {key} }}\n"
                        f"basic_auth_users: {{ ops: '{bcrypt_hash('ops', 'pw', cost=4)}' }}\n")
            server = SecureLoopcanary(tmp, web, pki.ca_cert,
                                      args=["--web.enable-lifecycle", "--web.enable-admin-api"])
            try:
                self.assertEqual(server.request("POST", "/-/reload")[0], 401)
                self.assertEqual(server.request("POST", "/api/v1/scenarios/marker/start")[0], 401)
                auth = basic("ops", "pw")
                status, body, _ = server.request("POST", "/-/reload", headers=auth)
                self.assertEqual(status, 200, body)
                status, body, _ = server.request("POST", "/api/v1/scenarios/marker/start",
                                                 headers=auth)
                self.assertIn(status, (200, 202), body)
                status, body, _ = server.request("POST", "/api/v1/scenarios/marker/stop",
                                                 headers=auth)
                self.assertIn(status, (200, 202), body)
                # A clean exit (under ASan: no leak, no error on the TLS/auth paths).
                self.assertEqual(server.stop(), 0, server.log_tail())
            finally:
                server.stop()


class ClientCertificatesAndVersions(unittest.TestCase):
    def test_require_and_verify_client_cert(self):
        with Workdir() as tmp:
            pki = TestPki(tmp)
            cert, key = pki.issue("loopcanary")
            clients = TestPki(tmp, name="clients")
            client = clients.issue("prometheus-client", sans=(), usage="clientAuth")
            stranger = pki.issue("stranger", sans=(), usage="clientAuth")  # another CA
            web = os.path.join(tmp, "web.yml")
            with open(web, "w") as f:
                f.write(f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
                        f"  client_auth_type: RequireAndVerifyClientCert\n"
                        f"  client_ca_file: {clients.ca_cert}\n")
            if PROMTOOL:
                r = subprocess.run([PROMTOOL, "check", "web-config", web], capture_output=True,
                                   timeout=60)
                self.assertEqual(r.returncode, 0, r.stdout.decode() + r.stderr.decode())
            server = SecureLoopcanary(tmp, web, pki.ca_cert, client_cert=client)
            try:
                self.assertEqual(server.request("GET", "/-/healthy")[0], 200)
                for name, chain in [("no client certificate", None),
                                    ("a certificate from another CA", stranger)]:
                    with self.subTest(name):
                        ctx = ssl.create_default_context(cafile=pki.ca_cert)
                        if chain:
                            ctx.load_cert_chain(*chain)
                        with self.assertRaises((urllib.error.URLError, ssl.SSLError,
                                                ConnectionError)):
                            server.request("GET", "/-/healthy", context=ctx)
                self.assertTrue(server.lc.process.alive())
                self.assertEqual(server.stop(), 0, server.log_tail())
            finally:
                server.stop()

    def test_min_version_tls13_refuses_tls12_clients(self):
        with Workdir() as tmp:
            pki = TestPki(tmp)
            cert, key = pki.issue("loopcanary")
            web = os.path.join(tmp, "web.yml")
            with open(web, "w") as f:
                f.write(f"tls_server_config: {{ cert_file: {cert}, key_file: {key}, "
                        f"min_version: TLS13 }}\n")
            server = SecureLoopcanary(tmp, web, pki.ca_cert)
            try:
                self.assertEqual(server.request("GET", "/-/healthy")[0], 200)
                old = ssl.create_default_context(cafile=pki.ca_cert)
                old.maximum_version = ssl.TLSVersion.TLSv1_2
                with self.assertRaises((urllib.error.URLError, ssl.SSLError)):
                    server.request("GET", "/-/healthy", context=old)
            finally:
                server.stop()


class BadWebConfig(unittest.TestCase):
    def run_loopcanary(self, tmp, web_text, *extra):
        config = os.path.join(tmp, "loopcanary.yaml")
        with open(config, "w") as f:
            f.write(CONFIG)
        web = os.path.join(tmp, "web.yml")
        with open(web, "w") as f:
            f.write(web_text)
        return subprocess.run([BINARY, f"--config.file={config}", f"--web.config.file={web}",
                               "--web.listen-address=127.0.0.1:0", *extra],
                              capture_output=True, timeout=30)

    def test_bad_files_exit_2_naming_the_problem(self):
        with Workdir() as tmp:
            cases = [
                ("basic_auth_users:\n  alice: plaintext\n",
                 "basic_auth_users.alice (line 2): is not a bcrypt hash"),
                ("tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n",
                 f'tls_server_config.cert_file "{tmp}/missing.crt": cannot read the file'),
                ("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Maybe\n",
                 'tls_server_config.client_auth_type (line 4): "Maybe" is not one of'),
                ("basic_auth_users: {}\nbasic_auth: {}\n", "basic_auth (line 2): unknown key"),
            ]
            for web_text, message in cases:
                with self.subTest(message=message):
                    for extra in ((), ("--config.check",)):
                        r = self.run_loopcanary(tmp, web_text, *extra)
                        self.assertEqual(r.returncode, 2, r.stderr.decode())
                        self.assertIn(message, r.stderr.decode())
                        self.assertIn("--web.config.file", r.stderr.decode())

    def test_missing_web_config_file(self):
        with Workdir() as tmp:
            config = os.path.join(tmp, "loopcanary.yaml")
            with open(config, "w") as f:
                f.write(CONFIG)
            r = subprocess.run([BINARY, f"--config.file={config}",
                                f"--web.config.file={tmp}/absent.yml",
                                "--web.listen-address=127.0.0.1:0"], capture_output=True,
                               timeout=30)
            self.assertEqual(r.returncode, 2)
            self.assertIn(f"{tmp}/absent.yml: cannot read the file", r.stderr.decode())

    def test_empty_web_config_serves_plain_http_without_auth(self):
        with Workdir() as tmp:
            web = os.path.join(tmp, "web.yml")
            open(web, "w").close()
            lc = Loopcanary(tmp, CONFIG, args=[f"--web.config.file={web}"])
            try:
                self.assertEqual(lc.get("/-/healthy")[0], 200)
                self.assertIn("tls=false basic_auth=false", lc.process.output())
            finally:
                lc.stop()


if __name__ == "__main__":
    unittest.main()
