#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite through ctest.
# Usage: scripts/test.sh [preset] [extra ctest args]   (preset: release, debug, asan)
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
shift || true
./scripts/build.sh "$preset"
ctest --preset "$preset" "$@"
