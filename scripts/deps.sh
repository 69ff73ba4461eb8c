#!/usr/bin/env bash
# Installs every Debian 12 package loopcanary needs to build, run its demo and
# run its tests. Idempotent: packages already installed are not touched, and
# apt-get is only called when something is missing.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config clang clang-format clang-tidy libclang-rt-14-dev
  # libraries (Debian 12 only)
  libboost-dev libboost-system-dev libboost-regex-dev prometheus-cpp-dev libyaml-cpp-dev libcli11-dev catch2
  nlohmann-json3-dev libssl-dev libspdlog-dev libfmt-dev
  # demo target and integration tests
  # (gunicorn: the pre-fork server of the multi-worker tests)
  python3 python3-fastapi python3-uvicorn python3-prometheus-client python3-yaml gunicorn
  # audit reports: JSON Schema validation, the HTML report opened in headless Chromium
  python3-jsonschema chromium
  # real Prometheus, promtool, Alertmanager, amtool, yamllint, openssl CLI, curl
  prometheus prometheus-alertmanager yamllint openssl curl procps
  # --web.config.file: libxcrypt's crypt_r for bcrypt; htpasswd makes the test hashes
  libcrypt-dev apache2-utils
  # container tests: podman (with runc, see scripts/podman/containers.conf),
  # debootstrap for a registry-free base image, a venv for podman-compose (below)
  # (netavark and aardvark-dns: podman's network backend with name resolution
  # between compose services; only recommended by podman, so named here)
  podman runc catatonit debootstrap iptables uidmap slirp4netns fuse-overlayfs python3-venv
  netavark aardvark-dns
  # the browser test of the landing page (headless, with a font to render text)
  chromium fonts-dejavu-core
  # bench only (bench/sidebyside.py: cost per probe beside other probers), no
  # test needs them: the loopback server (nginx runs as our own instance from
  # a temp dir; the package's service is not used), a closed-loop HTTP client,
  # and the Prometheus prober to compare with. Small: ~17 MiB together.
  nginx wrk prometheus-blackbox-exporter
  # bench/instructions.py: instructions per probe under callgrind
  valgrind
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  # Wait for another apt run (a parallel build, unattended-upgrades) instead of failing.
  apt=(apt-get -o DPkg::Lock::Timeout=600)
  $sudo "${apt[@]}" update -qq
  $sudo "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Helm, pinned, built from source with Go (>= 1.26) when missing: Debian 12 has
# no helm package and its golang is 1.19 (README.md, "Kubernetes", says what to
# do without a recent Go). The ldflags are helm's Makefile's, so the binary
# reports its version and defaults to the Kubernetes release of its client-go
# (1.36) as a released helm does. tests/helm and tests/container find it here.
HELM_VERSION=v3.21.4
HELM_KUBE_MINOR=36
tools="${LOOPCANARY_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/loopcanary/tools}"
helm_bin="$tools/helm-$HELM_VERSION/helm"
go=$(command -v go || echo /usr/local/go/bin/go)
if [ ! -x "$helm_bin" ] && [ ! -x "$go" ]; then
  # Not fatal: building and the demo need no helm; the chart tests fail and say so.
  echo "deps: no Go to build helm $HELM_VERSION with (needs Go >= 1.26): the chart tests" \
    "(tests/helm, tests/container) will fail; see README.md, Kubernetes" >&2
elif [ ! -x "$helm_bin" ]; then
  echo "deps: building helm $HELM_VERSION with $("$go" version | cut -d' ' -f3) into $helm_bin (a few minutes)" >&2
  flags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for pkg in pkg/lint/rules pkg/chartutil; do
    flags="$flags -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=$HELM_KUBE_MINOR"
  done
  GOBIN="$tools/helm-$HELM_VERSION" CGO_ENABLED=0 GOFLAGS=-trimpath \
    "$go" install -ldflags "$flags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" ||
    echo "deps: building helm $HELM_VERSION failed (Go >= 1.26 needed): the chart tests will fail;" \
      "see README.md, Kubernetes" >&2
fi

# podman-compose, pinned, from PyPI into its own venv: Debian 12's 1.0.3 cannot
# run the lab (it passes `network_mode: service:app` to podman verbatim; 1.0.4
# turns it into container:<app>). tests/container/test_compose_lab.py uses it.
PODMAN_COMPOSE_VERSION=1.0.6
compose_venv="$tools/podman-compose-$PODMAN_COMPOSE_VERSION"
if [ ! -x "$compose_venv/bin/podman-compose" ]; then
  echo "deps: installing podman-compose $PODMAN_COMPOSE_VERSION into $compose_venv" >&2
  /usr/bin/python3 -m venv "$compose_venv"
  "$compose_venv/bin/pip" install -q "podman-compose==$PODMAN_COMPOSE_VERSION"
fi
