#!/usr/bin/env bash
# Side-by-side traces benchmark: sightline vs Jaeger v2 (Badger store), one
# after the other on this machine, on the same pre-generated spans
# (bench/cmd/tracebench: 60 services, traces of 5–30 spans, ~500 B/span)
# sent over OTLP gRPC. For each server it reports:
#   - server CPU-seconds for ingest per span (from /proc/PID/stat, start of
#     send to SETTLE s after it, minus the idle CPU of SETTLE s before it;
#     and including the shutdown flush, via /usr/bin/time),
#   - bytes on disk per span after a clean stop (du, allocated blocks),
#   - GET /api/traces/<id> latency (300 random ids, twice) and
#     GET /api/traces?service=…&limit=20 latency through each one's Jaeger
#     query HTTP API, after a restart on the same data,
#   - correctness: every stored trace is fetched by id and its span ids
#     compared with what was generated (-all), search hits are checked
#     against the query.
#
# Usage: bench/scripts/traces-vs-jaeger.sh [TRACES]   (default 6000 ≈ 105k spans)
# Environment: SIGHTLINE_BINARY (default: go build), JAEGER_BINARY (default
# /work/peers/bin/jaeger, built from github.com/jaegertracing/jaeger with
# `go build ./cmd/jaeger`), JAEGER_CONFIG (default
# /work/peers/jaeger/config-badger.yaml), WORK (default a temp dir),
# NICE (default 10: the machine is shared).
set -euo pipefail
cd "$(dirname "$0")/../.."
traces=${1:-6000}
settle=${SETTLE:-20}
nice_lvl=${NICE:-10}
work=${WORK:-$(mktemp -d)}
mkdir -p "$work"
jaeger=${JAEGER_BINARY:-/work/peers/bin/jaeger}
jconf=${JAEGER_CONFIG:-/work/peers/jaeger/config-badger.yaml}
if [ -z "${SIGHTLINE_BINARY:-}" ]; then
  go build -o "$work/sightline" ./cmd/sightline
  SIGHTLINE_BINARY=$work/sightline
fi
go build -o "$work/tracebench" ./bench/cmd/tracebench
tb=$work/tracebench
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT

wait_http() { for _ in $(seq 1 600); do curl -s -o /dev/null "$1" && return 0; sleep 0.5; done; echo "not ready: $1" >&2; return 1; }
# cpu_ticks PID: utime+stime of PID in clock ticks.
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
tck=$(getconf CLK_TCK)

"$tb" gen-meta -traces "$traces" -window 20m -out "$work/meta.json"
spans=$(sed -n 's/.*"spans": *\([0-9]*\).*/\1/p' "$work/meta.json")

# run NAME DATA_DIR GRPC_ADDR QUERY_URL API_FLAGS CMD...: ingest, stop,
# measure disk, restart, query.
run() {
  local name=$1 data=$2 grpc=$3 url=$4 apiflags=$5
  shift 5
  echo "== $name"
  rm -rf "$data"; mkdir -p "$data"
  /usr/bin/time -f "%U %S" -o "$work/$name.time" nice -n "$nice_lvl" "$@" > "$work/$name.log" 2>&1 &
  local tpid=$! pid=""
  for _ in $(seq 1 100); do pid=$(pgrep -P "$tpid" | head -1 || true); [ -n "$pid" ] && break; sleep 0.1; done
  # `nice` execs the server, so the child of time is the server itself.
  wait_http "$url/api/traces/0123456789abcdef0123456789abcdef"
  sleep 5
  # Idle baseline over the settle time, subtracted from the ingest figure.
  local i0 i1; i0=$(cpu_ticks "$pid"); sleep "$settle"; i1=$(cpu_ticks "$pid")
  local c0 w0; c0=$(cpu_ticks "$pid"); w0=$(date +%s.%N)
  "$tb" send -meta "$work/meta.json" -addr "$grpc" -conns 2
  sleep "$settle" # background flushes, batching, compactions
  local c1 w1; c1=$(cpu_ticks "$pid"); w1=$(date +%s.%N)
  kill -TERM "$pid"; wait "$tpid" || true
  local total; total=$(awk '{printf "%d", ($1+$2)*100}' "$work/$name.time")
  local du_alloc du_app
  du_alloc=$(du -s --block-size=1 "$data" | cut -f1)
  du_app=$(du -s --apparent-size --block-size=1 "$data" | cut -f1)
  awk -v n="$name" -v s="$spans" -v c0="$c0" -v c1="$c1" -v i0="$i0" -v i1="$i1" -v tot="$total" -v tck="$tck" -v da="$du_alloc" -v dp="$du_app" -v w="$(echo "$w1 - $w0" | bc)" 'BEGIN{
    idle=(i1-i0)/tck; ing=(c1-c0)/tck-idle; all=(tot/100)-(c0/tck)-idle;
    printf "%s: %d spans; ingest CPU %.2f s net of %.2f s idle baseline (%.0f spans/CPU-s, %.1f µs/span) in %.0f s wall incl. settle; with shutdown flush %.2f CPU-s (%.0f spans/CPU-s)\n", n, s, ing, idle, s/ing, ing*1e6/s, w, all, s/all;
    printf "%s: data dir after stop %.2f MB allocated (%.1f B/span), %.2f MB apparent (%.1f B/span)\n", n, da/1e6, da/s, dp/1e6, dp/s }'
  if [ -d "$data/events" ]; then
    local ev; ev=$(du -s --apparent-size --block-size=1 "$data/events" | cut -f1)
    awk -v n="$name" -v s="$spans" -v e="$ev" 'BEGIN{printf "%s: of which spans (events/) %.2f MB = %.1f B/span; the rest is the metric store (span metrics, service graph)\n", n, e/1e6, e/s}'
  fi
  # Restart on the same data for the query measurements.
  nice -n "$nice_lvl" "$@" >> "$work/$name.log" 2>&1 &
  pid=$!
  wait_http "$url/api/traces/0123456789abcdef0123456789abcdef"
  sleep 5
  local q0; q0=$(cpu_ticks "$pid")
  # shellcheck disable=SC2086
  "$tb" api -meta "$work/meta.json" -url "$url" -n 300 -searches 60 -all $apiflags
  local q1; q1=$(cpu_ticks "$pid")
  echo "$name: query phase server CPU $(echo "scale=2; ($q1 - $q0) / $tck" | bc) s"
  kill -TERM "$pid"; wait "$pid" || true
}

printf 'metrics:\n  self_scrape: false\n' > "$work/sightline.yml"
run sightline "$work/sightline-data" 127.0.0.1:24317 http://127.0.0.1:19810 "" \
  "$SIGHTLINE_BINARY" server --config "$work/sightline.yml" --data-dir "$work/sightline-data" \
  --http-addr 127.0.0.1:19810 --otlp-grpc-addr 127.0.0.1:24317 --otlp-http-addr "" --log-level warn

export JAEGER_BADGER_DIR=$work/jaeger-data
# Jaeger v2 at this commit serves trace by id on /api/traces/<id> but
# search only on /api/v3/traces (OTLP JSON); the legacy search is gone.
run jaeger "$work/jaeger-data" 127.0.0.1:14317 http://127.0.0.1:16686 -search-v3 \
  "$jaeger" --config "$jconf"
echo "work dir: $work"
