"""What a person sees, read back by tests: headless Chromium (Debian's) that
loads a page and returns its rendered DOM or a screenshot, a small DOM reader,
and helpers to find and stop the processes of a session.

Chromium runs at the lowest CPU priority (nice 19): it shares two cores with
the loopcanary it looks at, and a browser starting up must not be what starves
loopcanary's prober.
"""

import os
import shutil
import signal
import subprocess
import tempfile
from html.parser import HTMLParser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SOURCE = os.environ.get(
    "LOOPCANARY_SOURCE", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
)
BUILD = os.environ.get("LOOPCANARY_BUILD", os.path.join(SOURCE, "build", "release"))
# Screenshots land here on every run; with LOOPCANARY_UPDATE_SCREENSHOTS=1 the
# ones the README shows are also copied into docs/img/.
SHOTS = os.path.join(BUILD, "face")
README_IMAGES = os.path.join(SOURCE, "docs", "img")
README_SHOTS = {"landing-stall.png"}  # the ones README.md shows

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
]


def chromium(args, url, timeout=90):
    """Runs headless Chromium once on `url`; returns its stdout."""
    if not os.path.exists(CHROMIUM):
        raise AssertionError(f"{CHROMIUM} is missing: scripts/deps.sh installs Debian's chromium")
    profile = tempfile.mkdtemp(prefix="loopcanary-chromium-")
    try:
        r = subprocess.run(
            ["nice", "-n", "19", CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, url],
            capture_output=True, timeout=timeout, start_new_session=True,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    if r.returncode != 0:
        raise AssertionError(f"chromium exited {r.returncode}: {r.stderr.decode()[-2000:]}")
    return r.stdout.decode("utf-8", "replace")


def dump_dom(url):
    return Dom(chromium(["--dump-dom", "--window-size=1280,1600"], url))


def screenshot(url, name, height=2000):
    """Saves a PNG of `url` as SHOTS/name (and docs/img/name when updating)."""
    os.makedirs(SHOTS, exist_ok=True)
    path = os.path.join(SHOTS, name)
    if os.path.exists(path):
        os.unlink(path)
    chromium([f"--screenshot={path}", f"--window-size=1280,{height}"], url)
    with open(path, "rb") as f:
        if f.read(8) != b"\x89PNG\r\n\x1a\n":
            raise AssertionError(f"{path} is not a PNG")
    if os.environ.get("LOOPCANARY_UPDATE_SCREENSHOTS") and name in README_SHOTS:
        os.makedirs(README_IMAGES, exist_ok=True)
        shutil.copyfile(path, os.path.join(README_IMAGES, name))
    return path


class Element:
    def __init__(self, tag, attrs, parent):
        self.tag = tag
        self.attrs = dict(attrs)
        self.parent = parent
        self.children = []
        self.text_parts = []

    @property
    def classes(self):
        return set((self.attrs.get("class") or "").split())

    def text(self):
        return " ".join(" ".join(p.split()) for p in self._texts() if p.strip())

    def _texts(self):
        yield from self.text_parts
        for c in self.children:
            yield from c._texts()

    def find_all(self, tag=None, cls=None, **attrs):
        out = []
        for c in self.children:
            if ((tag is None or c.tag == tag) and (cls is None or cls in c.classes)
                    and all(c.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())):
                out.append(c)
            out.extend(c.find_all(tag, cls, **attrs))
        return out

    def find(self, tag=None, cls=None, **attrs):
        found = self.find_all(tag, cls, **attrs)
        return found[0] if found else None


class Dom(HTMLParser):
    """The rendered DOM as a tree of Elements (stdlib html.parser)."""

    VOID = {"meta", "link", "br", "img", "input", "hr", "col", "area", "base", "wbr", "source"}

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.html = html
        self.root = Element("#root", [], None)
        self.current = self.root
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        e = Element(tag, attrs, self.current)
        self.current.children.append(e)
        if tag not in self.VOID:
            self.current = e

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Element(tag, attrs, self.current))

    def handle_endtag(self, tag):
        e = self.current
        while e is not self.root and e.tag != tag:
            e = e.parent
        if e is not self.root:
            self.current = e.parent

    def handle_data(self, data):
        self.current.text_parts.append(data)

    def find_all(self, *a, **k):
        return self.root.find_all(*a, **k)

    def find(self, *a, **k):
        return self.root.find(*a, **k)


def session_processes(sid):
    """PIDs of the processes whose session id is `sid` (from /proc)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # comm may hold spaces and parentheses: fields after the last ')'.
        fields = stat[stat.rindex(")") + 2:].split()
        state, session = fields[0], int(fields[3])
        if session == sid and state != "Z":
            pids.append(int(entry))
    return pids


def kill_session(sid):
    """SIGKILLs every process left in session `sid`, each by its PID."""
    for pid in session_processes(sid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
