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
#   SETTLE              least wait after ingest before disk is measured, the
#                       same for both servers (default 15s)
#   COMPACT_AFTER       sightline's events.compact_after (default: its own,
#                       10m); with 1m and SETTLE=90s disk is measured after
#                       the quiet partition's compaction
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

# shellcheck source=bench/scripts/logs-common.sh
. bench/scripts/logs-common.sh

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
