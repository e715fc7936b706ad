#!/usr/bin/env bash
# Starts the real binary on random loopback ports with a temp data dir and
# runs the browser tests (web/e2e) against it in headless Chromium.
set -euo pipefail
bin=$(realpath "$1")
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
"$bin" server --data-dir "$tmp/data" --http-addr 127.0.0.1:0 --otlp-grpc-addr 127.0.0.1:0 --otlp-http-addr 127.0.0.1:0 >"$tmp/log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
  addr=$(sed -n 's/.*msg=listening listener=http addr=\([^ ]*\).*/\1/p' "$tmp/log" | head -1)
  [ -n "$addr" ] && curl -sf "http://$addr/-/ready" >/dev/null && break
  sleep 0.2
done
[ -n "${addr:-}" ] || { echo "server did not start:"; cat "$tmp/log"; exit 1; }
cd web
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
SIGHTLINE_URL="http://$addr" node e2e/run.mjs
