#!/usr/bin/env bash
# Side-by-side log benchmark: sightline vs VictoriaLogs on the same data and
# machine (storage.md T1 ingest lines per CPU-second, T3 disk bytes per line,
# T6 needle query; plus counts per level and one trace id). Manual: it is
# not part of `make test` and needs a VictoriaLogs binary built outside the
# repository from its public sources.
#
# Usage: bench/scripts/logs-vs-victorialogs.sh VICTORIA_LOGS_BINARY [LINES]
#
#   LINES               loggen records, one ~300-byte JSON line each (default 1000000)
#   SIGHTLINE_BINARY    sightline to measure (default: built from this checkout)
#   SIGHTLINE_VERSION   text recorded as its version (default: git describe)
#   LOGGEN              loggen binary (default: built from ../shared/bench/loggen)
#   BENCH_DIR           keep data, server logs and results here (default: a
#                       temporary directory, removed at exit)
#   PEER_VERSION        text recorded as VictoriaLogs' version (e.g. its commit)
#   RUNS                warm runs per query (default 10)
#   PROFILE             comma-separated: ingest and/or query names (needle,
#                       needle_rare, needle_substring, count_by_level, trace_id)
#                       to CPU-profile on sightline (pprof files in the work dir)
#
# Each server starts on loopback with a fresh data directory, ingests the
# same loggen -format json file over HTTP as JSON lines (ts → time, msg →
# message, service → stream), is flushed and left until idle, then answers
# each query once (first run) and RUNS times more; every answer is checked
# against loggen's ground truth. CPU figures are the server's user+system
# seconds from /proc/PID/stat. The table's last column is sightline/peer.
set -euo pipefail
cd "$(dirname "$0")/../.."
vl=${1:?usage: $0 VICTORIA_LOGS_BINARY [LINES]}
lines=${2:-1000000}
runs=${RUNS:-10}

if [ -n "${BENCH_DIR:-}" ]; then
  work=$BENCH_DIR
  mkdir -p "$work"
else
  work=$(mktemp -d)
fi
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${BENCH_DIR:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

# port_free refuses to start a server where another one already answers
# (its figures would be measured on the wrong process).
port_free() { if curl -s -o /dev/null "http://$1/"; then echo "something already listens on $1" >&2; exit 1; fi; }
# wait_ready URL PID waits until URL answers while PID is alive.
wait_ready() {
  for _ in $(seq 1 600); do
    kill -0 "$2" 2>/dev/null || { echo "server $2 exited; see its log in $work" >&2; return 1; }
    curl -sf "$1" >/dev/null && return 0
    sleep 0.2
  done
  echo "not ready: $1" >&2
  return 1
}
stop() { kill "$1"; wait "$1" 2>/dev/null || true; }

sl=${SIGHTLINE_BINARY:-}
if [ -z "$sl" ]; then
  sl=$work/sightline
  go build -o "$sl" ./cmd/sightline
fi
go build -o "$work/logpeerbench" ./bench/cmd/logpeerbench
loggen=${LOGGEN:-}
if [ -z "$loggen" ]; then
  loggen=$work/loggen
  (cd ../shared/bench && go build -o "$work/loggen" ./loggen)
fi

# Recent timestamps: both servers refuse rows older than their retention.
start=$(date -u -d '-90 min' +%Y-%m-%dT%H:%M:00Z)
"$loggen" -n "$lines" -format json -start "$start" -duration 1h -o "$work/logs.jsonl" -stats "$work/stats.json"
slver=${SIGHTLINE_VERSION:-sightline $(git describe --always --dirty 2>/dev/null)}
common=(-in "$work/logs.jsonl" -stats "$work/stats.json" -runs "$runs")

echo "== $slver"
rm -rf "$work/sl-data"
port_free 127.0.0.1:19811
printf 'metrics:\n  self_scrape: false\n' > "$work/sightline.yml"
"$sl" server --config "$work/sightline.yml" --data-dir "$work/sl-data" --http-addr 127.0.0.1:19811 \
  --otlp-grpc-addr "" --otlp-http-addr "" --log-level warn > "$work/sightline.log" 2>&1 &
spid=$!
pids+=("$spid")
wait_ready http://127.0.0.1:19811/-/ready "$spid"
"$work/logpeerbench" run -target sightline -url http://127.0.0.1:19811 -pid "$spid" -data-dir "$work/sl-data" \
  -version "$slver" -out "$work/sightline.json" ${PROFILE:+-profile "$PROFILE" -profile-dir "$work"} "${common[@]}"
stop "$spid"

echo "== VictoriaLogs ${PEER_VERSION:-}"
rm -rf "$work/vl-data"
port_free 127.0.0.1:19821
"$vl" -storageDataPath "$work/vl-data" -httpListenAddr 127.0.0.1:19821 -retentionPeriod 100y \
  -loggerLevel WARN > "$work/victorialogs.log" 2>&1 &
vpid=$!
pids+=("$vpid")
wait_ready http://127.0.0.1:19821/health "$vpid"
"$work/logpeerbench" run -target victorialogs -url http://127.0.0.1:19821 -pid "$vpid" -data-dir "$work/vl-data" \
  -version "${PEER_VERSION:-$vl}" -out "$work/victorialogs.json" "${common[@]}"
stop "$vpid"

echo
echo "Data: $lines lines, $(stat -c %s "$work/logs.jsonl") bytes, loggen -format json -start $start -duration 1h"
"$work/logpeerbench" table "$work/sightline.json" "$work/victorialogs.json"
