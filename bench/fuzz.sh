#!/usr/bin/env bash
# Fuzzes each libFuzzer target for N seconds and prints a table of the results.
# Usage: bench/fuzz.sh [seconds per target, default 300] [target...]
# Env: FUZZ_WORKERS (default: min(2, nproc)), FUZZ_BUILD (default build/fuzz),
#      FUZZ_OUT (default $FUZZ_BUILD/bench-fuzz; wiped first).
# Builds the `fuzz` preset's fuzzers, copies each committed corpus to FUZZ_OUT
# and fuzzes the copy with -jobs=-workers=FUZZ_WORKERS; the source tree is never
# written. Coverage is that of the final corpus (one -runs=0 pass over it, so
# the figures of parallel workers are not double counted).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-300}"
shift || true
targets=("$@")
((${#targets[@]})) || targets=(fuzz_config fuzz_units fuzz_checks fuzz_router)
cores="$(nproc)"
workers="${FUZZ_WORKERS:-$((cores < 2 ? cores : 2))}"
build="$(realpath -m "${FUZZ_BUILD:-build/fuzz}")"
out="$(realpath -m "${FUZZ_OUT:-$build/bench-fuzz}")"

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target loopcanary_fuzzers >/dev/null
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"

rm -rf "$out"
rows=()
for t in "${targets[@]}"; do
  work="$out/$t"
  mkdir -p "$work/corpus" "$work/artifacts"
  cp tests/fuzz/corpus/"$t"/* "$work/corpus/"
  [ -d tests/fuzz/regressions/"$t" ] && cp tests/fuzz/regressions/"$t"/* "$work/corpus/"
  echo "fuzzing $t for ${seconds}s with $workers workers..." >&2
  start=$(date +%s)
  # Each job writes fuzz-<i>.log in the working directory; a crash ends its job.
  (cd "$work" && "$build/tests/fuzz/$t" -jobs="$workers" -workers="$workers" \
    -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix=artifacts/ corpus >/dev/null 2>&1) || true
  elapsed=$(($(date +%s) - start))
  execs=$(cat "$work"/fuzz-*.log | awk '/stat::number_of_executed_units/ {s += $NF} END {print s + 0}')
  # cov/ft/corpus of the final corpus, as one process sees it.
  final=$("$build/tests/fuzz/$t" -runs=0 -max_len=4096 "$work/corpus" 2>&1 | grep -E 'INITED|DONE' | tail -1)
  cov=$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$final")
  ft=$(sed -nE 's/.*ft: ([0-9]+).*/\1/p' <<<"$final")
  corpus=$(find "$work/corpus" -type f | wc -l)
  crashes=$(find "$work/artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  rows+=("$(printf '| %-11s | %7s | %10s | %7s | %5s | %6s | %6s | %7s |' "$t" "$elapsed" "$execs" \
    "$((execs / (elapsed > 0 ? elapsed : 1)))" "${cov:-?}" "${ft:-?}" "$corpus" "$crashes")")
done

echo
echo "workers: $workers of $cores cores; artifacts and final corpora under $out/<target>/"
echo
echo "| target      | seconds | executions |  exec/s |   cov |     ft | corpus | crashes |"
echo "|-------------|--------:|-----------:|--------:|------:|-------:|-------:|--------:|"
printf '%s\n' "${rows[@]}"
