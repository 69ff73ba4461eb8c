"""The images, built with podman from the repository's Dockerfiles
(scripts/images.py; a base image from debootstrap when no debian:bookworm
is present): loopcanary (deploy/Dockerfile), the demo app, and the
Prometheus and Alertmanager images of deploy/podman/ for the compose lab.

The first run builds them (about 10 minutes on two cores, most of it
compiling loopcanary in the builder stage); later runs find each one by the
hash of its inputs and build nothing. The other container tests need these
images (ctest fixture container_images).

Then what the image promises: a numeric non-root user 10001, the config path
in the entrypoint, it runs with a read-only root filesystem, its runtime
stage has the binary and nothing of the build.
"""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import containerlib as c  # noqa: E402


class ImagesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        started = time.monotonic()
        cls.tags = {name: c.image(name) for name in c.images.IMAGES}
        c.log(started, f"images ready: {cls.tags}")

    def test_cached_by_inputs(self):
        for name, tag in self.tags.items():
            with self.subTest(image=name):
                self.assertEqual(tag, f"{c.images.REPOSITORY}/{name}:{c.images.inputs_hash(name)}")
                self.assertEqual(c.podman("image", "inspect", "--format",
                                          f'{{{{index .Labels "{c.images.INPUTS_LABEL}"}}}}', tag).stdout.strip(),
                                 tag.rsplit(":", 1)[1])

    def test_hash_covers_what_the_build_reads(self):
        files = c.images.context_files(".", "deploy/Dockerfile.dockerignore")
        self.assertIn("exporter/main.cpp", files)
        self.assertIn("CMakeLists.txt", files)
        self.assertFalse([f for f in files if f.startswith(("tests/", "docs/", "helm/", "deploy/"))], files)
        self.assertFalse([f for f in files if "/testdata/" in f], files)
        self.assertFalse([f for f in files if f.endswith(".md") or (f.startswith("bench/") and f != "bench/CMakeLists.txt")],
                         "documentation and benchmarks are not the image's inputs")

    def test_loopcanary_image_user_and_entrypoint(self):
        config = c.inspect(self.tags["loopcanary"])["Config"]
        self.assertEqual(config["User"], "10001:10001")
        self.assertEqual(config["Entrypoint"], ["/usr/bin/loopcanary", "--config.file=/etc/loopcanary/loopcanary.yaml"])
        self.assertIn("19420/tcp", config["ExposedPorts"])

    def test_loopcanary_runs_read_only_as_10001(self):
        r = c.podman("run", "--rm", "--read-only", "--cap-drop=ALL", "--entrypoint", "sh", self.tags["loopcanary"],
                     "-c", "id -u; id -g; touch /probe 2>/dev/null && echo writable || echo read-only; "
                           "/usr/bin/loopcanary --version")
        lines = r.stdout.split()
        self.assertEqual(lines[:3], ["10001", "10001", "read-only"], r.stdout)
        self.assertIn("loopcanary", r.stdout)

    def test_config_check_inside_the_image(self):
        config = os.path.join(c.SOURCE, "config", "examples", "starter.yaml")
        r = c.podman("run", "--rm", "--read-only", "-v", f"{config}:/etc/loopcanary/loopcanary.yaml:ro,Z",
                     self.tags["loopcanary"], "--config.check", check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_runtime_stage_holds_no_build_tools(self):
        r = c.podman("run", "--rm", "--entrypoint", "sh", self.tags["loopcanary"], "-c",
                     "for t in gcc g++ cmake ninja; do command -v $t; done; ls /src 2>/dev/null; true")
        self.assertEqual(r.stdout.strip(), "")

    def test_lab_images_run(self):
        for name, binary in (("prometheus", "prometheus"), ("alertmanager", "alertmanager")):
            with self.subTest(image=name):
                r = c.podman("run", "--rm", self.tags[name], "--version")
                self.assertIn(binary, r.stdout + r.stderr)
        r = c.podman("run", "--rm", self.tags["demo-app"], "python3", "-c", "import fastapi, uvicorn; print('ok')")
        self.assertEqual(r.stdout.strip(), "ok")


if __name__ == "__main__":
    unittest.main()
