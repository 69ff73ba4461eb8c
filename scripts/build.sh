#!/usr/bin/env bash
# Configures and builds one CMake preset (default: release) after making sure
# every Debian package is installed. Usage: scripts/build.sh [preset]
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
./scripts/deps.sh
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)"
