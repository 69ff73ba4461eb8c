#!/usr/bin/env bash
# Runs loopcanary against the bundled demo service and shows what it is for:
# installs what is missing, builds, starts the FastAPI demo app (uvicorn) on
# 127.0.0.1:8000 and loopcanary with config/examples/lab.yaml on :19420, then
# tours it (scripts/demo_tour.py): the target healthy, its event loop blocked
# for 3 s, the agent-blocking and sync-ramp scenarios, each with one line of
# what the status and signals show and why. Then it leaves both running and
# prints each status change. Ctrl-C stops both; nothing is left behind.
#
#   scripts/demo.sh               the tour, then watch
#   scripts/demo.sh --quiet       no tour: a status line every 3 s (as before)
#   scripts/demo.sh --workers 4   the app as 4 worker processes (uvicorn --workers),
#                                 each with its own event loop; no tour: block one
#                                 worker and watch worker_stall and partial stalls
#
# Environment: LOOPCANARY_DEMO_APP_PORT (8000), LOOPCANARY_DEMO_PORT (19420);
# LOOPCANARY_BIN, a loopcanary binary to use instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."

quiet=false
workers=1
while (($#)); do
  case "$1" in
    --quiet) quiet=true ;;
    --workers) workers=${2:-}; shift ;;
    --workers=*) workers=${1#--workers=} ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if ! [[ "$workers" =~ ^[1-9][0-9]?$ ]]; then
  echo "demo: --workers takes a number of worker processes from 1 to 99, not \"$workers\"" >&2
  exit 2
fi
# The tour tells the story of one event loop; with several, block one yourself.
if ((workers > 1)); then quiet=true; fi

if [ -n "${LOOPCANARY_BIN:-}" ]; then
  binary=$LOOPCANARY_BIN
else
  ./scripts/build.sh release
  binary=build/release/exporter/loopcanary
fi

app_port=${LOOPCANARY_DEMO_APP_PORT:-8000}
listen=127.0.0.1:${LOOPCANARY_DEMO_PORT:-19420}
for port in "$app_port" "${listen##*:}"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "demo: port $port is in use; stop whatever listens there first" >&2
    exit 1
  fi
done

logs=$(mktemp -d /tmp/loopcanary-demo.XXXXXX)
config=config/examples/lab.yaml
if [ "$app_port" != 8000 ]; then
  config=$logs/lab.yaml
  sed "s|http://127.0.0.1:8000|http://127.0.0.1:$app_port|" config/examples/lab.yaml >"$config"
fi

app_pid="" lc_pid="" tour_pid=""
cleanup() {
  trap - EXIT INT TERM
  for pid in $tour_pid $lc_pid $app_pid; do kill "$pid" 2>/dev/null || true; done
  for pid in $tour_pid $lc_pid $app_pid; do wait "$pid" 2>/dev/null || true; done
  echo; echo "demo: stopped (logs in $logs)"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

/usr/bin/python3 -m uvicorn app:app --app-dir deploy/lab/app --host 127.0.0.1 --port "$app_port" \
  --loop asyncio --http h11 --no-access-log --workers "$workers" >"$logs/app.log" 2>&1 &
app_pid=$!
"$binary" --config.file="$config" --web.listen-address="$listen" --web.enable-admin-api \
  --web.enable-lifecycle >"$logs/loopcanary.log" 2>&1 &
lc_pid=$!

for _ in $(seq 1 150); do
  curl -fs "http://$listen/-/ready" >/dev/null 2>&1 && curl -fs "http://127.0.0.1:$app_port/health" >/dev/null 2>&1 && break
  if ! kill -0 "$app_pid" 2>/dev/null || ! kill -0 "$lc_pid" 2>/dev/null; then
    echo "demo: a process exited early; logs:" >&2; tail -n 20 "$logs"/*.log >&2; exit 1
  fi
  sleep 0.1
done

cat <<TXT

  demo app (FastAPI)    http://127.0.0.1:$app_port/health
  loopcanary            http://$listen/            (landing page: status, findings, charts)
  metrics               http://$listen/metrics
  status (JSON)         http://$listen/api/v1/status
  logs                  $logs/loopcanary.log

TXT

if ! $quiet; then
  echo "  loopcanary probes /health every 100 ms (every 10 ms while a scenario runs). A tour of"
  echo "  a minute or two follows; open the landing page beside it."
  echo
  # In the background and waited for, so that Ctrl-C reaches the trap at once.
  /usr/bin/python3 scripts/demo_tour.py "http://$listen" "http://127.0.0.1:$app_port" &
  tour_pid=$!
  while kill -0 "$lc_pid" 2>/dev/null && kill -0 "$app_pid" 2>/dev/null && kill -0 "$tour_pid" 2>/dev/null; do
    wait -n "$tour_pid" 2>/dev/null || true
  done
  echo "demo: a process exited; last log lines:" >&2
  tail -n 20 "$logs"/*.log >&2
  exit 1
fi

echo "  Try, in another shell:"
if ((workers > 1)); then
  echo "    curl -X POST 'http://127.0.0.1:$app_port/internal/block?ms=3000'     # block ONE worker's loop 3 s (its pid in the answer)"
  echo "      -> the others answer, the whole-service stall stays 0, but worker_stall turns the status"
  echo "         critical: \"1 of N probe connections stalled … (worker <pid>)\" (landing page, /api/v1/status)"
else
  echo "    curl -X POST 'http://127.0.0.1:$app_port/internal/block?ms=600'      # block the app's event loop 600 ms"
fi
echo "    curl -X POST http://$listen/api/v1/scenarios/agent-blocking/start   # drive a blocking route"
echo "    curl -X POST http://$listen/api/v1/scenarios/sync-ramp/start        # saturate the thread pool"
echo
echo "  Ctrl-C stops both. Status every 3 s:"

metric() { awk -v n="$1" '$1 == n {print $2}' <<<"$2"; }
names=(unknown healthy degraded critical unresponsive)
while kill -0 "$lc_pid" 2>/dev/null && kill -0 "$app_pid" 2>/dev/null; do
  m=$(curl -fs "http://$listen/metrics" || true)
  status=$(metric 'loopcanary_runtime_status{target="demo"}' "$m")
  probes=$(metric 'loopcanary_probes_total{canary="health",target="demo"}' "$m")
  stall=$(metric 'loopcanary_stall_seconds_total{target="demo"}' "$m")
  partial=$(metric 'loopcanary_partial_stall_seconds_total{target="demo"}' "$m")
  baseline=$(metric 'loopcanary_baseline_seconds{canary="health",target="demo"}' "$m")
  idx=$(( ${status%.*} + 1 ))
  printf '  %s  status=%s probes=%s stall_seconds_total=%s partial_stall_seconds_total=%s baseline=%ss\n' \
    "$(date +%T)" "${names[$idx]:-?}" "${probes:-0}" "${stall:-0}" "${partial:-0}" "${baseline:-?}"
  sleep 3
done
echo "demo: a process exited; last log lines:" >&2
tail -n 20 "$logs"/*.log >&2
exit 1
