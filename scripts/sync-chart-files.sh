#!/usr/bin/env bash
# Copies the lab's rule files and dashboards into the chart (helm reads only
# inside the chart directory). deploy/ is the source: edit there, then run
# this; tests/helm/test_chart.py (DriftTest) fails while the copies differ.
set -euo pipefail
cd "$(dirname "$0")/.."
files=helm/loopcanary/files
mkdir -p "$files/dashboards"
cp deploy/prometheus/recording-rules.yml deploy/prometheus/alert-rules.yml "$files/"
rm -f "$files"/dashboards/*.json
cp deploy/grafana/dashboards/*.json "$files/dashboards/"
echo "synced deploy/prometheus/*-rules.yml and deploy/grafana/dashboards/*.json into $files" >&2
