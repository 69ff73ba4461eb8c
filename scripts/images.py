#!/usr/bin/python3
"""Builds the images the container tests run, with podman, from the
repository's Dockerfiles, and caches each one by a hash of its inputs.

    scripts/images.py [NAME ...]     # default: every image; prints name=tag

Names (IMAGES below): loopcanary (deploy/Dockerfile), demo-app
(deploy/lab/app/Dockerfile), prometheus and alertmanager (deploy/podman/:
Debian's packages, for the compose lab without a registry).

No registry is needed. The Dockerfiles start `FROM debian:bookworm[-slim]`;
when no such image is present, `base` makes one from the Debian mirror with
debootstrap (minbase, slimmed like the official -slim image) and imports it
under both names. An image from a registry that is already there is used as
it is.

Cache: an image's tag is `localhost/loopcanary-test/<name>:<hash>`, the hash
of everything its build reads — the Dockerfile, every file of its context
(for deploy/Dockerfile only what deploy/Dockerfile.dockerignore lets in),
and the IDs of the images it starts FROM. When that tag exists, nothing is
built. podman's own layer cache also keeps the apt layers across changes
of the sources. The base image is rebuilt only when its recipe changes.

Runs as root (debootstrap, podman's root storage). Takes no lock itself: the
caller (ctest under scripts/test.sh) decides what else runs meanwhile.
"""

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

SOURCE = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CONTAINERS_CONF = os.path.join(SOURCE, "scripts", "podman", "containers.conf")
REPOSITORY = "localhost/loopcanary-test"

BASE_IMAGES = ("docker.io/library/debian:bookworm-slim", "docker.io/library/debian:bookworm")
BASE_LABEL = "io.loopcanary.base-recipe"
INPUTS_LABEL = "io.loopcanary.inputs"
# Bump when the recipe in make_base() changes, so cached bases are rebuilt.
BASE_RECIPE = "debootstrap minbase bookworm, debian.sources bookworm+updates+security, slim excludes, apt docker-clean: v2"
MIRROR = "http://deb.debian.org/debian"

# name -> (Dockerfile, context dir, ignore file or None); paths from the source root.
IMAGES = {
    "loopcanary": ("deploy/Dockerfile", ".", "deploy/Dockerfile.dockerignore"),
    "demo-app": ("deploy/lab/app/Dockerfile", "deploy/lab/app", None),
    "prometheus": ("deploy/podman/prometheus.Dockerfile", "deploy/podman", None),
    "alertmanager": ("deploy/podman/alertmanager.Dockerfile", "deploy/podman", None),
}

# What the official -slim image leaves out (debuerreotype's slimify list).
SLIM_EXCLUDES = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
"""

# The official image's apt settings (debuerreotype): no .deb files or package
# caches left behind by `apt-get install`, no translations, gzipped indexes.
APT_CONF = {
    "docker-clean": (
        'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb '
        '/var/cache/apt/*.bin || true"; };\n'
        'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb '
        '/var/cache/apt/*.bin || true"; };\n'
        'Dir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n'),
    "docker-no-languages": 'Acquire::Languages "none";\n',
    "docker-gzip-indexes": 'Acquire::GzipIndexes "true";\n',
    "docker-autoremove-suggests": 'Apt::AutoRemove::SuggestsImportant "false";\n',
}

DEBIAN_SOURCES = """\
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


def log(message):
    print(f"images: {message}", file=sys.stderr, flush=True)


def podman_env():
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", CONTAINERS_CONF)
    return env


def podman(*args, check=True, capture=True, timeout=3600, input=None):
    if shutil.which("podman") is None:
        raise SystemExit("images: podman is not installed: run scripts/deps.sh")
    r = subprocess.run(["podman", *args], env=podman_env(), text=True, timeout=timeout, input=input,
                       capture_output=capture)
    if check and r.returncode != 0:
        raise SystemExit(f"images: podman {' '.join(args)} failed ({r.returncode}):\n"
                         f"{(r.stdout or '')[-3000:]}{(r.stderr or '')[-3000:]}")
    return r


def image_exists(ref):
    return podman("image", "exists", ref, check=False).returncode == 0


def image_label(ref, label):
    r = podman("image", "inspect", "--format", f'{{{{index .Labels "{label}"}}}}', ref, check=False)
    return r.stdout.strip() if r.returncode == 0 else None


def image_id(ref):
    return podman("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()


def base_hash():
    recipe = BASE_RECIPE + SLIM_EXCLUDES + DEBIAN_SOURCES + MIRROR + repr(sorted(APT_CONF.items()))
    return hashlib.sha256(recipe.encode()).hexdigest()[:16]


def make_base():
    """debian:bookworm-slim (and :bookworm) from the mirror, unless present:
    a registry's image (no label) is kept, ours is kept while its recipe holds."""
    wanted = base_hash()
    if all(image_exists(ref) and image_label(ref, BASE_LABEL) in ("", "<no value>", wanted)
           for ref in BASE_IMAGES):
        return image_id(BASE_IMAGES[0])
    if shutil.which("debootstrap") is None:
        raise SystemExit("images: debootstrap is not installed: run scripts/deps.sh")
    if os.geteuid() != 0:
        raise SystemExit("images: making the base image needs root (debootstrap, podman import)")
    started = time.monotonic()
    log(f"making {BASE_IMAGES[0]} with debootstrap from {MIRROR} (about a minute)")
    with tempfile.TemporaryDirectory(prefix="loopcanary-rootfs-") as tmp:
        root = os.path.join(tmp, "rootfs")
        r = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", root, MIRROR],
                           capture_output=True, text=True, timeout=1200)
        if r.returncode != 0:
            raise SystemExit(f"images: debootstrap failed:\n{r.stdout[-3000:]}{r.stderr[-3000:]}")
        with open(os.path.join(root, "etc/dpkg/dpkg.cfg.d/docker-slim"), "w") as f:
            f.write(SLIM_EXCLUDES)
        for sub in ("usr/share/groff", "usr/share/info", "usr/share/linda", "usr/share/lintian/overrides",
                    "usr/share/locale", "usr/share/man"):
            shutil.rmtree(os.path.join(root, sub), ignore_errors=True)
        docs = os.path.join(root, "usr/share/doc")
        for dirpath, _, files in os.walk(docs):
            for name in files:
                if name != "copyright":
                    os.remove(os.path.join(dirpath, name))
        for name, text in APT_CONF.items():
            with open(os.path.join(root, "etc/apt/apt.conf.d", name), "w") as f:
                f.write(text)
        os.remove(os.path.join(root, "etc/apt/sources.list"))
        with open(os.path.join(root, "etc/apt/sources.list.d/debian.sources"), "w") as f:
            f.write(DEBIAN_SOURCES)
        for sub in ("var/lib/apt/lists", "var/cache/apt/archives"):
            for entry in os.listdir(os.path.join(root, sub)):
                path = os.path.join(root, sub, entry)
                if os.path.isfile(path):
                    os.remove(path)
        tar = subprocess.Popen(["tar", "--numeric-owner", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        r = subprocess.run(["podman", "import", "--change", f"LABEL {BASE_LABEL}={wanted}",
                            "--change", 'CMD ["bash"]', "-", BASE_IMAGES[0]],
                           stdin=tar.stdout, env=podman_env(), capture_output=True, text=True, timeout=600)
        tar.stdout.close()
        tar.wait()
        if r.returncode != 0 or tar.returncode != 0:
            raise SystemExit(f"images: podman import failed: {r.stderr[-3000:]}")
    for ref in BASE_IMAGES[1:]:
        podman("tag", BASE_IMAGES[0], ref)
    log(f"base image made in {time.monotonic() - started:.0f}s")
    return image_id(BASE_IMAGES[0])


def read_ignore(path):
    """A .dockerignore as [(negated, pattern)], in order; the last match wins."""
    rules = []
    with open(os.path.join(SOURCE, path)) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            rules.append((negated, line.lstrip("!").strip("/")))
    return rules


def _matches(pattern, relpath):
    """Docker's matching, enough for our ignore files: `*` within a path
    element, `**` across them, and a directory pattern covers what is in it."""
    regex = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex += "(.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            regex += ".*"
            i += 2
        elif pattern[i] == "*":
            regex += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            regex += "[^/]"
            i += 1
        else:
            regex += re.escape(pattern[i])
            i += 1
    return re.fullmatch(regex + "(/.*)?", relpath) is not None


def context_files(context, ignore):
    """The context's files, as relative paths, that the build can read."""
    top = os.path.join(SOURCE, context)
    rules = read_ignore(ignore) if ignore else []
    selected = []
    for dirpath, dirnames, files in os.walk(top):
        rel_dir = os.path.relpath(dirpath, top)
        dirnames[:] = sorted(d for d in dirnames if not (rel_dir == "." and d in (".git", "build")))
        for name in sorted(files):
            rel = os.path.normpath(os.path.join(rel_dir, name))
            excluded = False
            for negated, pattern in rules:
                if _matches(pattern, rel):
                    excluded = not negated
            if not excluded:
                selected.append(rel)
    return selected


def from_images(dockerfile):
    """The images a Dockerfile's stages start FROM (not its own stages)."""
    with open(os.path.join(SOURCE, dockerfile)) as f:
        text = f.read()
    stages, refs = set(), []
    for m in re.finditer(r"^FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", text, re.M | re.I):
        ref = m.group(1)
        if ref not in stages:
            if "/" not in ref.split(":")[0]:
                ref = "docker.io/library/" + ref
            refs.append(ref)
        if m.group(2):
            stages.add(m.group(2))
    return refs


def inputs_hash(name):
    dockerfile, context, ignore = IMAGES[name]
    h = hashlib.sha256()
    h.update(f"{name}\0".encode())
    with open(os.path.join(SOURCE, dockerfile), "rb") as f:
        h.update(f.read())
    for ref in from_images(dockerfile):
        h.update(f"\0{ref}={image_id(ref)}".encode())
    for rel in context_files(context, ignore):
        path = os.path.join(SOURCE, context, rel)
        h.update(f"\0{rel}\0{os.stat(path).st_mode & 0o111}\0".encode())
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


def build(name):
    """Builds `name` unless its tag exists; returns the tag."""
    dockerfile, context, ignore = IMAGES[name]
    make_base()
    digest = inputs_hash(name)
    tag = f"{REPOSITORY}/{name}:{digest}"
    if image_exists(tag):
        return tag
    started = time.monotonic()
    log(f"building {tag} from {dockerfile}")
    with tempfile.TemporaryDirectory(prefix=f"loopcanary-context-{name}-") as tmp:
        # Exactly the files hashed above, so the hash names what was built.
        for rel in context_files(context, ignore):
            dest = os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy2(os.path.join(SOURCE, context, rel), dest)
        # --format docker keeps the demo app's HEALTHCHECK (OCI has none).
        r = podman("build", "--pull=never", "--format", "docker", "--label", f"{INPUTS_LABEL}={digest}",
                   "-f", os.path.join(SOURCE, dockerfile), "-t", tag, tmp, capture=True, check=False,
                   timeout=3600)
    if r.returncode != 0:
        raise SystemExit(f"images: building {name} failed:\n{r.stdout[-6000:]}\n{r.stderr[-3000:]}")
    log(f"built {tag} in {time.monotonic() - started:.0f}s")
    # Older builds of the same image: untag them (their layers go with the last tag).
    listed = podman("images", "--format", "{{.Repository}}:{{.Tag}}", f"{REPOSITORY}/{name}").stdout.split()
    for old in listed:
        if old != tag and old.startswith(f"{REPOSITORY}/{name}:"):
            podman("rmi", old, check=False)
    return tag


def main(argv):
    names = argv or list(IMAGES)
    unknown = [n for n in names if n not in IMAGES and n != "base"]
    if unknown:
        raise SystemExit(f"images: unknown image {unknown}; known: base, {', '.join(IMAGES)}")
    for name in names:
        if name == "base":
            print(f"base={BASE_IMAGES[0]}@{make_base()}")
        else:
            print(f"{name}={build(name)}")


if __name__ == "__main__":
    main(sys.argv[1:])
