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
  python3 python3-fastapi python3-uvicorn python3-prometheus-client python3-yaml
  # real Prometheus, promtool, Alertmanager, amtool, yamllint, openssl CLI, curl
  prometheus prometheus-alertmanager yamllint openssl curl procps
  # --web.config.file: libxcrypt's crypt_r for bcrypt; htpasswd makes the test hashes
  libcrypt-dev apache2-utils
  # the browser test of the landing page (headless, with a font to render text)
  chromium fonts-dejavu-core
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
