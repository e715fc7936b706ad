#!/usr/bin/env bash
# Side-by-side remote_write ingest: sightline vs Prometheus' own receiver on
# the same machine and the same generated workload (bench/remotewrite).
# Usage: bench/scripts/remotewrite-vs-prometheus.sh [PROMETHEUS_BINARY] [-- remotewrite flags]
# Default Prometheus: Debian's /usr/bin/prometheus (make deps). Prints one
# line per receiver: samples/s, receiver CPU seconds, samples per CPU-second,
# peak RSS.
set -euo pipefail
cd "$(dirname "$0")/../.."
prom=${1:-$(command -v prometheus)}
shift || true
[ "${1:-}" = "--" ] && shift
go build -o bin/sightline ./cmd/sightline
go build -o bin/remotewrite ./bench/remotewrite
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

wait_ready() { for _ in $(seq 1 300); do curl -sf "$1" >/dev/null && return 0; sleep 0.2; done; echo "not ready: $1"; return 1; }

echo "== sightline $(git describe --always --dirty 2>/dev/null)"
printf 'metrics:\n  self_scrape: false\n' > "$tmp/s.yml"
bin/sightline server --config "$tmp/s.yml" --data-dir "$tmp/sl" --http-addr 127.0.0.1:19801 --otlp-grpc-addr "" --otlp-http-addr "" --log-level warn &
spid=$!
wait_ready http://127.0.0.1:19801/-/ready
bin/remotewrite -url http://127.0.0.1:19801/api/v1/write -pid $spid "$@"
kill $spid; wait $spid 2>/dev/null || true

echo "== $("$prom" --version 2>&1 | head -1)"
printf 'global:\n  scrape_interval: 1h\n' > "$tmp/p.yml"
flags=(--config.file="$tmp/p.yml" --storage.tsdb.path="$tmp/prom" --web.listen-address=127.0.0.1:19802 --log.level=warn)
if "$prom" --help 2>&1 | grep -q -- web.enable-remote-write-receiver; then
  flags+=(--web.enable-remote-write-receiver)
else
  flags+=(--enable-feature=remote-write-receiver)
fi
"$prom" "${flags[@]}" &
ppid=$!
wait_ready http://127.0.0.1:19802/-/ready
bin/remotewrite -url http://127.0.0.1:19802/api/v1/write -pid $ppid "$@"
kill $ppid; wait $ppid 2>/dev/null || true
