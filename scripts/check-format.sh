#!/usr/bin/env bash
# Fails when a tracked C++ file differs from what the repo's .clang-format
# makes of it (ctest runs this as `format`). Fix with:
#   git ls-files '*.c' '*.cpp' '*.hpp' | xargs clang-format -i
set -euo pipefail
cd "$(dirname "$0")/.."
git ls-files -z '*.c' '*.cpp' '*.hpp' | xargs -0 clang-format --dry-run --Werror
