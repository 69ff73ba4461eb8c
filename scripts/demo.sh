#!/usr/bin/env bash
# Runs loopcanary against the bundled demo service and shows it working:
# installs what is missing, builds, starts the FastAPI demo app (uvicorn) on
# 127.0.0.1:8000 and loopcanary with config/examples/lab.yaml on :19420, then
# prints a status line every few seconds. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh release

app_port=8000
listen=127.0.0.1:19420
for port in "$app_port" "${listen##*:}"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "demo: port $port is in use; stop whatever listens there first" >&2
    exit 1
  fi
done

logs=$(mktemp -d /tmp/loopcanary-demo.XXXXXX)
/usr/bin/python3 -m uvicorn app:app --app-dir deploy/lab/app --host 127.0.0.1 --port "$app_port" \
  --loop asyncio --http h11 --no-access-log >"$logs/app.log" 2>&1 &
app_pid=$!
build/release/exporter/loopcanary --config.file=config/examples/lab.yaml \
  --web.listen-address="$listen" --web.enable-admin-api --web.enable-lifecycle \
  >"$logs/loopcanary.log" 2>&1 &
lc_pid=$!
cleanup() {
  kill "$lc_pid" "$app_pid" 2>/dev/null || true
  wait "$lc_pid" "$app_pid" 2>/dev/null || true
  echo; echo "demo: stopped (logs in $logs)"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

for _ in $(seq 1 100); do
  curl -fs "http://$listen/-/ready" >/dev/null 2>&1 && curl -fs "http://127.0.0.1:$app_port/health" >/dev/null 2>&1 && break
  if ! kill -0 "$app_pid" 2>/dev/null || ! kill -0 "$lc_pid" 2>/dev/null; then
    echo "demo: a process exited early; logs:" >&2; tail -n 20 "$logs"/*.log >&2; exit 1
  fi
  sleep 0.1
done

cat <<TXT

  demo app (FastAPI)    http://127.0.0.1:$app_port/health
  loopcanary            http://$listen/            (landing page: status, findings, sparklines)
  metrics               http://$listen/metrics
  status (JSON)         http://$listen/api/v1/status

  Try, in another shell:
    curl -X POST 'http://127.0.0.1:$app_port/internal/block?ms=600'      # block the app's event loop 600 ms
    curl -X POST http://$listen/api/v1/scenarios/agent-blocking/start   # drive a blocking route
    curl -X POST http://$listen/api/v1/scenarios/sync-ramp/start        # saturate the thread pool

  Ctrl-C stops both. Status every 3 s:
TXT

metric() { awk -v n="$1" '$1 == n {print $2}' <<<"$2"; }
names=(unknown healthy degraded critical unresponsive)
while kill -0 "$lc_pid" 2>/dev/null && kill -0 "$app_pid" 2>/dev/null; do
  m=$(curl -fs "http://$listen/metrics" || true)
  status=$(metric 'loopcanary_runtime_status{target="demo"}' "$m")
  probes=$(metric 'loopcanary_probes_total{canary="health",target="demo"}' "$m")
  stall=$(metric 'loopcanary_stall_seconds_total{target="demo"}' "$m")
  baseline=$(metric 'loopcanary_baseline_seconds{canary="health",target="demo"}' "$m")
  idx=$(( ${status%.*} + 1 ))
  printf '  %s  status=%s probes=%s stall_seconds_total=%s baseline=%ss\n' \
    "$(date +%T)" "${names[$idx]:-?}" "${probes:-0}" "${stall:-0}" "${baseline:-?}"
  sleep 3
done
echo "demo: a process exited; last log lines:" >&2
tail -n 20 "$logs"/*.log >&2
exit 1
