#!/usr/bin/env bash
# Log collector throughput, tail to acknowledged at the server: sightline
# agent vs the OpenTelemetry Collector's filelog receiver (otlphttp exporter),
# each reading the same generated file from its start and shipping it to a
# fresh sightline server on this machine.
#
# Usage: bench/scripts/agent-vs-otelcol.sh [OTELCOL_BINARY]
#   LINES=1000000   lines in the generated file
#   SIGHTLINE_BINARY=path   use this sightline build instead of building one
#   PEERS=/work/peers       where the collector is built (outside the repo)
# OTELCOL_BINARY defaults to $PEERS/otelcol/dist/otelcol-filelog; when it is
# missing it is built from public sources with the collector builder
# (go.opentelemetry.io/collector/cmd/builder@v0.165.0) and a manifest holding
# only receiver/filelogreceiver, exporter/otlphttpexporter and
# extension/storage/filestorage, all v0.165.0 (v0.161.0 would match the
# other peers, but the module proxy here lacks pkg/stanza v0.161.0).
#
# A run is done when the server's index/stats counts every line; the figures
# are the collector process's CPU seconds (user+sys from /proc/PID/stat) up
# to that moment, and lines and MB per CPU-second. After a pause the count
# is checked again: exactly LINES (nothing lost, nothing doubled).
set -euo pipefail
cd "$(dirname "$0")/../.."
peers=${PEERS:-/work/peers}
otelcol=${1:-$peers/otelcol/dist/otelcol-filelog}
lines=${LINES:-1000000}
if [ ! -x "$otelcol" ] && [ -z "${1:-}" ]; then
  echo "building the OpenTelemetry Collector peer in $peers/otelcol"
  mkdir -p "$peers/otelcol"
  GOBIN="$peers/otelcol/bin" go install go.opentelemetry.io/collector/cmd/builder@v0.165.0
  cat > "$peers/otelcol/builder.yaml" <<EOF
dist:
  name: otelcol-filelog
  description: OpenTelemetry Collector with only the filelog receiver and otlphttp exporter (sightline benchmark peer)
  output_path: $peers/otelcol/dist
receivers:
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/receiver/filelogreceiver v0.165.0
exporters:
  - gomod: go.opentelemetry.io/collector/exporter/otlphttpexporter v0.165.0
extensions:
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage v0.165.0
EOF
  "$peers/otelcol/bin/builder" --config "$peers/otelcol/builder.yaml"
fi
[ -x "$otelcol" ] || { echo "no OpenTelemetry Collector at $otelcol"; exit 1; }

tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
sightline=${SIGHTLINE_BINARY:-}
if [ -z "$sightline" ]; then
  sightline=$tmp/sightline
  CGO_ENABLED=0 go build -trimpath -o "$sightline" ./cmd/sightline
fi
tck=$(getconf CLK_TCK)
port=19861

# ~175-byte logfmt-ish lines with timestamps over the last ~20 minutes.
python3 - "$tmp/app.log" "$lines" <<'EOF'
import sys, time, datetime
path, n = sys.argv[1], int(sys.argv[2])
base = time.time() - 1200
step = 1000.0 / n
methods = ["GET", "POST", "PUT", "DELETE"]
with open(path, "w") as f:
    for i in range(n):
        t = datetime.datetime.fromtimestamp(base + i * step, datetime.timezone.utc)
        f.write('%s level=%s service=checkout trace_id=%016x msg="request handled" method=%s path=/api/items/%d status=%d duration_ms=%d seq=%d\n' % (
            t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z", "error" if i % 97 == 0 else "info",
            (i * 2654435761) & 0xffffffffffffffff, methods[i % 4], i % 5000, 500 if i % 97 == 0 else 200, i % 1000, i))
EOF
bytes=$(stat -c %s "$tmp/app.log")
echo "input: $lines lines, $bytes bytes ($(awk -v b="$bytes" -v n="$lines" 'BEGIN{printf "%.0f", b/n}') bytes/line)"

cpu() { awk -v t="$tck" '{printf "%.2f", ($14+$15)/t}' "/proc/$1/stat"; }
entries() {
  curl -sf -G "http://127.0.0.1:$port/loki/api/v1/index/stats" --data-urlencode "query={service_name=\"$1\"}" \
    --data-urlencode "start=$(($(date +%s) - 172800))000000000" --data-urlencode "end=$(($(date +%s) + 3600))000000000" |
    sed -n 's/.*"entries":\([0-9]*\).*/\1/p'  || true
}

start_server() {
  printf 'metrics:\n  self_scrape: false\n' > "$tmp/server.yml"
  rm -rf "$tmp/server"
  "$sightline" server --config "$tmp/server.yml" --data-dir "$tmp/server" --http-addr 127.0.0.1:$port \
    --otlp-grpc-addr "" --otlp-http-addr "" --log-level warn 2>"$tmp/server.log" &
  spid=$!
  for _ in $(seq 1 300); do curl -sf http://127.0.0.1:$port/-/ready >/dev/null && return 0; sleep 0.2; done
  echo "server not ready"; cat "$tmp/server.log"; exit 1
}

# run NAME SERVICE CMD...: start the collector, wait until the server holds
# every line, print one result row.
run() {
  local name=$1 service=$2; shift 2
  start_server
  local s0; s0=$(cpu $spid)
  local t0; t0=$(date +%s.%N)
  "$@" 2>"$tmp/$service.log" &
  local cpid=$! n=0 c=0 last=-1 since=$SECONDS
  while :; do
    n=$(entries "$service"); n=${n:-0}
    c=$(cpu $cpid)
    [ "$n" -ge "$lines" ] && break
    if ! kill -0 $cpid 2>/dev/null; then echo "$name exited:"; tail -20 "$tmp/$service.log"; exit 1; fi
    if [ "$n" != "$last" ]; then last=$n since=$SECONDS; fi
    # No progress for a minute: lines were lost (the row says so).
    if [ $((SECONDS - since)) -ge 60 ]; then
      echo "$name: stuck at $n of $lines lines; its log says:" >&2
      grep -iE 'error|drop|reject' "$tmp/$service.log" | head -3 | cut -c1-300 >&2
      break
    fi
    sleep 0.2
  done
  local t1; t1=$(date +%s.%N)
  local s1; s1=$(cpu $spid)
  sleep 3
  n=$(entries "$service")
  kill $cpid; wait $cpid 2>/dev/null || true
  kill $spid; wait $spid 2>/dev/null || true
  awk -v name="$name" -v n="$n" -v want="$lines" -v b="$bytes" -v c="$c" -v w="$(awk -v a="$t1" -v b="$t0" 'BEGIN{print a-b}')" -v s="$(awk -v a="$s1" -v b="$s0" 'BEGIN{print a-b}')" 'BEGIN{
    printf "| %-34s | %9d | %s | %8.2f | %10.0f | %8.2f | %7.1f | %9.2f |\n", name, n, (n==want ? "yes" : "NO "), c, want/c, b/1e6/c, w, s }'
}

echo "| collector                          |    stored | all | CPU-s    | lines/CPU-s | MB/CPU-s | wall s  | server CPU-s |"
echo "|------------------------------------|-----------|-----|----------|-------------|----------|---------|--------------|"

mkdir -p "$tmp/agent-auto" "$tmp/agent-none"
run "sightline agent (logfmt parsing)" bench-agent \
  "$sightline" agent --server http://127.0.0.1:$port --path "$tmp/app.log" --data-dir "$tmp/agent-auto" \
  --label service.name=bench-agent --log-level warn

printf 'parse: {parse: none}\n' > "$tmp/agent-none.yml"
run "sightline agent (no field parsing)" bench-agent-raw \
  "$sightline" agent --config "$tmp/agent-none.yml" --server http://127.0.0.1:$port --path "$tmp/app.log" \
  --data-dir "$tmp/agent-none" --label service.name=bench-agent-raw --log-level warn

mkdir -p "$tmp/otel-storage"
cat > "$tmp/otelcol.yml" <<EOF
extensions:
  file_storage:
    directory: $tmp/otel-storage
receivers:
  filelog:
    include: [$tmp/app.log]
    start_at: beginning
    storage: file_storage
    # Without it a full sending queue drops lines (the receiver's default);
    # with it reading waits, as sightline agent's back-pressure does.
    retry_on_failure: {enabled: true}
    resource:
      service.name: bench-otelcol
exporters:
  otlphttp:
    logs_endpoint: http://127.0.0.1:$port/otlp/v1/logs
    compression: gzip
    sending_queue:
      batch:
        flush_timeout: 1s
        min_size: 5000
        max_size: 5000
service:
  extensions: [file_storage]
  telemetry:
    logs: {level: warn}
    metrics: {level: none}
  pipelines:
    logs:
      receivers: [filelog]
      exporters: [otlphttp]
EOF
run "otelcol filelog→otlphttp" bench-otelcol "$otelcol" --config "$tmp/otelcol.yml"
