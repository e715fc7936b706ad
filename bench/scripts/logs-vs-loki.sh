#!/usr/bin/env bash
# Side-by-side log benchmark: sightline vs Loki on the same data and machine
# (issue 4: needle, count_over_time by level and one-trace-id query speed;
# plus ingest lines per CPU-second and disk bytes per line). Manual: it is
# not part of `make test` and needs a Loki binary built outside the
# repository from its public sources.
#
# Usage: bench/scripts/logs-vs-loki.sh LOKI_BINARY [LINES]
#
#   LINES               loggen records, one ~300-byte JSON line each (default 1000000)
#   SIGHTLINE_BINARY    sightline to measure (default: built from this checkout)
#   SIGHTLINE_VERSION   text recorded as its version (default: git describe)
#   LOGGEN              loggen binary (default: built from ../shared/bench/loggen)
#   BENCH_DIR           keep data, server logs, Loki's config and results here
#                       (default: a temporary directory, removed at exit)
#   PEER_VERSION        text recorded as Loki's version (e.g. its commit)
#   RUNS                warm runs per query (default 10)
#   PROFILE             comma-separated: ingest and/or query names (needle,
#                       needle_rare, needle_substring, count_by_level, trace_id)
#                       to CPU-profile on sightline (pprof files in the work dir)
#
# Both servers start on loopback with a fresh data directory and ingest the
# same loggen -format json file over HTTP: sightline as JSON lines (ts →
# time, msg → message, service → stream), Loki as JSON pushes of the raw
# line with stream label service and structured metadata level and
# trace_id. Loki runs as a single binary on the filesystem (tsdb v13, its
# default chunk encoding, no WAL, results caches off so warm runs are not
# answered from a cache, rate limits raised). Each server is flushed and
# left until idle, then answers the same LogQL queries once (first run)
# and RUNS times more; every answer is checked against loggen's ground
# truth. CPU figures are the server's user+system seconds from
# /proc/PID/stat. The table's last column is sightline/peer.
set -euo pipefail
cd "$(dirname "$0")/../.."
loki=${1:?usage: $0 LOKI_BINARY [LINES]}
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

# Recent timestamps: sightline refuses rows older than its retention.
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

echo "== Loki ${PEER_VERSION:-}"
rm -rf "$work/loki-data"
port_free 127.0.0.1:19831
cat > "$work/loki.yaml" <<EOF
auth_enabled: false
server:
  http_listen_address: 127.0.0.1
  http_listen_port: 19831
  grpc_listen_address: 127.0.0.1
  grpc_listen_port: 19832
  log_level: warn
  http_server_read_timeout: 10m
  http_server_write_timeout: 10m
  grpc_server_max_recv_msg_size: 268435456
  grpc_server_max_send_msg_size: 268435456
common:
  instance_addr: 127.0.0.1
  path_prefix: $work/loki-data
  storage:
    filesystem:
      chunks_directory: $work/loki-data/chunks
      rules_directory: $work/loki-data/rules
  replication_factor: 1
  ring:
    kvstore:
      store: inmemory
ingester:
  wal:
    enabled: false
    flush_on_shutdown: true
query_range:
  cache_results: false
  cache_index_stats_results: false
  cache_volume_results: false
  cache_series_results: false
  cache_label_results: false
  cache_instant_metric_results: false
limits_config:
  ingestion_rate_mb: 4096
  ingestion_burst_size_mb: 4096
  per_stream_rate_limit: 4GB
  per_stream_rate_limit_burst: 4GB
  reject_old_samples: false
  max_entries_limit_per_query: 100000
storage_config:
  use_thanos_objstore: false # the thanos client ignores common.storage.filesystem
schema_config:
  configs:
    - from: 2020-10-24
      store: tsdb
      object_store: filesystem
      schema: v13
      index:
        prefix: index_
        period: 24h
pattern_ingester:
  enabled: false
analytics:
  reporting_enabled: false
EOF
"$loki" -config.file="$work/loki.yaml" > "$work/loki.log" 2>&1 &
lpid=$!
pids+=("$lpid")
wait_ready http://127.0.0.1:19831/ready "$lpid"
"$work/logpeerbench" run -target loki -url http://127.0.0.1:19831 -pid "$lpid" -data-dir "$work/loki-data" \
  -version "${PEER_VERSION:-$loki}" -out "$work/loki.json" "${common[@]}"
stop "$lpid"
# Loki writes its TSDB index files at shutdown: the whole directory again.
echo "Loki data dir after shutdown: $(du -sB1 "$work/loki-data" | cut -f1) bytes allocated"

echo
echo "Data: $lines lines, $(stat -c %s "$work/logs.jsonl") bytes, loggen -format json -start $start -duration 1h"
"$work/logpeerbench" table "$work/sightline.json" "$work/loki.json"
