"""Issue 6, TLS for targets: an https:// target is verified by default, and a
failed verification is a `tls_error` whose reason a person can read. The CA and
the server certificate are made by the `openssl` CLI at test time; the target
is a stdlib Python HTTPS server on loopback."""

import os
import re
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import BINARY, Loopcanary, Workdir, wait_for
from tlstools import HttpsTarget, TestPki


def tls_config(url, tls="", interval="50ms"):
    """One target with a /health canary; `tls` is the flow mapping's body."""
    tls_line = f"    tls: {{ {tls} }}\n" if tls else ""
    return (
        "targets:\n"
        "  - name: secure\n"
        f"    url: {url}\n"
        f"{tls_line}"
        "    canaries:\n"
        f"      - {{ name: health, path: /health, interval: {interval}, idle_interval: {interval},\n"
        "          timeout: 2s,\n"
        "          expect: { status: [200], body_regex: '\"ok\"' } }\n"
    )


def counts(lc):
    """(scheduled and finished, ok, tls_error, other failures) of the canary."""
    m = lc.metrics()
    labels = dict(target="secure", canary="health")
    total = m.get("loopcanary_probes_total", **labels) or 0
    in_flight = m.get("loopcanary_probes_in_flight", **labels) or 0
    failures = m.sum("loopcanary_probe_failures_total", **labels)
    tls = m.get("loopcanary_probe_failures_total", reason="tls_error", **labels) or 0
    finished = total - in_flight
    return finished, finished - failures, tls, failures - tls


def probe_failed_lines(lc):
    return [line for line in lc.process.output().splitlines() if 'msg="probe failed"' in line]


class TlsTargets(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.workdir_cm = Workdir()
        cls.tmp = cls.workdir_cm.__enter__()
        cls.pki = TestPki(cls.tmp)
        cert, key = cls.pki.issue("server")
        cls.target = HttpsTarget(cls.tmp, cert, key)

    @classmethod
    def tearDownClass(cls):
        cls.target.stop()
        cls.workdir_cm.__exit__(None, None, None)

    def run_canary(self, tls, seconds=1.5, args=()):
        """Runs loopcanary for `seconds` of probing; returns (loopcanary, counts)."""
        lc = Loopcanary(self.tmp, tls_config(self.target.url, tls), args=args)
        self.addCleanup(lc.stop)
        wait_for(lambda: counts(lc)[0] >= 10, 10, message="ten finished probes")
        time.sleep(seconds)
        return lc, counts(lc)

    def test_unknown_ca_fails_every_probe_with_tls_error_and_says_why(self):
        lc, (finished, ok, tls, other) = self.run_canary("")
        self.assertGreater(finished, 20)
        self.assertEqual(ok, 0, "no probe may pass an unverified certificate")
        self.assertEqual(other, 0)
        self.assertEqual(tls, finished)
        # The reason is in the log: the handshake failed on certificate verification,
        # with OpenSSL's own verify result (the CA is not one we trust).
        lines = probe_failed_lines(lc)
        self.assertTrue(lines, lc.process.output()[-3000:])
        self.assertIn("reason=tls_error", lines[0])
        self.assertIn("certificate verify failed", lines[0])
        self.assertIn("unable to get local issuer certificate", lines[0])
        # Failures are logged at most once per 10 s per canary and reason.
        self.assertEqual(len(lines), 1, lines)
        # Consecutive TLS failures make the target unresponsive, like refused connections.
        wait_for(lambda: lc.metrics().get("loopcanary_runtime_status", target="secure") == 3, 10,
                 message="the target to read unresponsive")

    def test_ca_file_makes_every_probe_pass(self):
        lc, (finished, ok, tls, other) = self.run_canary(f"ca_file: {self.pki.ca_cert}")
        self.assertGreater(finished, 20)
        self.assertEqual((tls, other), (0, 0))
        self.assertEqual(ok, finished)
        self.assertEqual(probe_failed_lines(lc), [])

    def test_insecure_skip_verify_accepts_an_unknown_ca(self):
        lc, (finished, ok, tls, other) = self.run_canary("insecure_skip_verify: true")
        self.assertGreater(finished, 20)
        self.assertEqual((tls, other), (0, 0))
        self.assertEqual(ok, finished)

    def test_server_name_is_checked_against_the_certificate(self):
        # The certificate is for localhost and 127.0.0.1: another name fails...
        lc, (finished, ok, tls, other) = self.run_canary(
            f"ca_file: {self.pki.ca_cert}, server_name: wrong.example")
        self.assertGreater(finished, 20)
        self.assertEqual(ok, 0)
        self.assertEqual((tls, finished), (finished, finished))
        lines = probe_failed_lines(lc)
        self.assertTrue(lines, lc.process.output()[-3000:])
        self.assertIn("reason=tls_error", lines[0])
        self.assertIn("wrong.example", lines[0])
        self.assertIn("hostname mismatch", lines[0].lower())
        lc.stop()
        # ... the right one passes, and it is what the target sees as SNI.
        lc, (finished, ok, tls, other) = self.run_canary(
            f"ca_file: {self.pki.ca_cert}, server_name: localhost")
        self.assertEqual(ok, finished)
        self.assertGreater(finished, 20)
        self.assertIn("localhost", self.target.sni_names(self.pki.ca_cert))

    def test_ip_address_url_is_verified_against_the_ip_san_without_sni(self):
        # RFC 6066: a literal IP address is not sent as SNI; it is still
        # checked against the certificate's IP SANs.
        before = len(self.target.sni_names(self.pki.ca_cert))
        lc, (finished, ok, tls, other) = self.run_canary(f"ca_file: {self.pki.ca_cert}")
        self.assertEqual(ok, finished)
        lc.stop()
        names = self.target.sni_names(self.pki.ca_cert)[before:]
        self.assertTrue(names, "the target saw loopcanary's handshakes")
        self.assertNotIn("127.0.0.1", names)

    def test_certificate_without_the_ip_san_fails_for_an_ip_url(self):
        cert, key = self.pki.issue("dns-only", sans=("DNS:localhost",))
        other_target = HttpsTarget(self.tmp, cert, key)
        self.addCleanup(other_target.stop)
        lc = Loopcanary(self.tmp, tls_config(other_target.url, f"ca_file: {self.pki.ca_cert}"))
        self.addCleanup(lc.stop)
        wait_for(lambda: counts(lc)[0] >= 10, 10, message="ten finished probes")
        finished, ok, tls, other = counts(lc)
        self.assertEqual(tls, finished)
        self.assertIn("ip address mismatch", probe_failed_lines(lc)[0].lower())


class BadCaFile(unittest.TestCase):
    """A CA file that cannot be used is a start-up error (exit 2, naming it) and
    a failed reload, but not a YAML error: --config.check passes."""

    def test_missing_or_garbage_ca_file(self):
        with Workdir() as tmp:
            garbage = f"{tmp}/garbage.pem"
            with open(garbage, "w") as f:
                f.write("this is not a certificate\n")
            for ca_file in (f"{tmp}/missing-ca.pem", garbage):
                with self.subTest(ca_file=ca_file):
                    config = f"{tmp}/bad-ca.yaml"
                    with open(config, "w") as f:
                        f.write(tls_config("https://127.0.0.1:9", f"ca_file: {ca_file}"))
                    r = subprocess.run([BINARY, "--config.check", f"--config.file={config}"],
                                       capture_output=True, timeout=30)
                    self.assertEqual(r.returncode, 0, r.stderr.decode())
                    r = subprocess.run([BINARY, f"--config.file={config}",
                                        "--web.listen-address=127.0.0.1:0"],
                                       capture_output=True, timeout=30)
                    self.assertEqual(r.returncode, 2, r.stderr.decode())
                    self.assertIn(ca_file, r.stderr.decode())
                    self.assertIn("tls.ca_file", r.stderr.decode())

    def test_reload_to_a_bad_ca_file_keeps_the_old_config(self):
        with Workdir() as tmp:
            pki = TestPki(tmp)
            cert, key = pki.issue("server")
            target = HttpsTarget(tmp, cert, key)
            self.addCleanup(target.stop)
            lc = Loopcanary(tmp, tls_config(target.url, f"ca_file: {pki.ca_cert}"))
            self.addCleanup(lc.stop)
            wait_for(lambda: counts(lc)[1] >= 10, 10, message="ten good probes")
            lc.write_config(tls_config(target.url, f"ca_file: {tmp}/missing-ca.pem"))
            lc.process.signal(signal.SIGHUP)
            wait_for(lambda: lc.metrics().get("loopcanary_config_last_reload_successful") == 0,
                     5, message="the reload to be marked failed")
            self.assertRegex(lc.process.output(),
                             re.escape("missing-ca.pem") + r".*(No such file|no such file)")
            before = counts(lc)
            time.sleep(1)
            after = counts(lc)
            self.assertGreater(after[1] - before[1], 10, "the old config keeps probing, verified")
            self.assertEqual(after[2], 0)
            self.assertTrue(lc.process.alive())


if __name__ == "__main__":
    unittest.main()
