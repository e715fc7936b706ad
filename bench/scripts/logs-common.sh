# Shared first half of the side-by-side log benchmarks (logs-vs-*.sh):
# sourced, not run. The caller sets `lines` and `runs` (the peer, its
# data directory and port are its own). This file makes the work
# directory and its cleanup, builds sightline, logpeerbench and loggen,
# writes the loggen data and its ground truth, runs sightline over it
# with logpeerbench and leaves the result in "$work/sightline.json". It
# provides port_free, wait_ready and stop to the caller, plus `pids`
# (servers to kill at exit), `common` (logpeerbench arguments both runs
# share) and `start` (the data's first timestamp).

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

# Recent timestamps: servers refuse rows older than their retention.
start=$(date -u -d '-90 min' +%Y-%m-%dT%H:%M:00Z)
"$loggen" -n "$lines" -format json -start "$start" -duration 1h -o "$work/logs.jsonl" -stats "$work/stats.json"
slver=${SIGHTLINE_VERSION:-sightline $(git describe --always --dirty 2>/dev/null)}
# Both servers get the same wait before disk is measured (SETTLE, default
# 15 s: sightline flushes its head every 10 s). To measure the disk after
# sightline compacts the quiet partition, set COMPACT_AFTER (e.g. 1m) and
# a SETTLE that covers it plus the last flush (e.g. 90s).
common=(-in "$work/logs.jsonl" -stats "$work/stats.json" -runs "$runs" -settle "${SETTLE:-15s}")

echo "== $slver"
rm -rf "$work/sl-data"
port_free 127.0.0.1:19811
printf 'metrics:\n  self_scrape: false\n' > "$work/sightline.yml"
if [ -n "${COMPACT_AFTER:-}" ]; then
  printf 'events:\n  compact_after: %s\n' "$COMPACT_AFTER" >> "$work/sightline.yml"
fi
"$sl" server --config "$work/sightline.yml" --data-dir "$work/sl-data" --http-addr 127.0.0.1:19811 \
  --otlp-grpc-addr "" --otlp-http-addr "" --log-level warn > "$work/sightline.log" 2>&1 &
spid=$!
pids+=("$spid")
wait_ready http://127.0.0.1:19811/-/ready "$spid"
"$work/logpeerbench" run -target sightline -url http://127.0.0.1:19811 -pid "$spid" -data-dir "$work/sl-data" \
  -version "$slver" -out "$work/sightline.json" ${PROFILE:+-profile "$PROFILE" -profile-dir "$work"} "${common[@]}"
stop "$spid"
