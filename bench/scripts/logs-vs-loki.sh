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
#   SETTLE              least wait after ingest before disk is measured, the
#                       same for both servers (default 15s)
#   COMPACT_AFTER       sightline's events.compact_after (default: its own,
#                       10m); with 1m and SETTLE=90s disk is measured after
#                       the quiet partition's compaction
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

# shellcheck source=bench/scripts/logs-common.sh
. bench/scripts/logs-common.sh

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
