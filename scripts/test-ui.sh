#!/usr/bin/env bash
# Starts the real binary on random loopback ports with a temp data dir and
# runs the browser tests (web/e2e) against it in headless Chromium. The tests
# first send known metrics, logs and traces over the real ingest protocols
# (web/e2e/seed.mjs); the rules below fire on that data so the alerts page
# has a firing PromQL alert and a firing LogQL alert to follow.
#
# Then it runs `sightline demo` (random ports, a temp data dir) and drives
# the demo's own pages (web/e2e/demo.mjs): every page over the shop's data
# and the on-call path from a fault's alert to the service map. The demo is
# stopped with SIGINT, as Ctrl-C would, and must exit 0.
#
#   scripts/test-ui.sh bin/sightline          # both suites
#   SUITES=demo scripts/test-ui.sh bin/sightline
set -euo pipefail
bin=$(realpath "$1")
suites=${SUITES:-server demo}
tmp=$(mktemp -d)
pid=
dpid=
trap '[ -n "$pid" ] && { kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; }
  [ -n "$dpid" ] && { kill -INT $dpid 2>/dev/null || true; wait $dpid 2>/dev/null || true; }
  rm -rf "$tmp"' EXIT
status=0
cd "$(dirname "$0")/.."
[ -d web/node_modules ] || (cd web && npm ci --no-audit --no-fund --loglevel=error)

if [[ " $suites " == *" server "* ]]; then
cat >"$tmp/rules.yml" <<'YAML'
groups:
  - name: e2e-metrics
    interval: 2s
    rules:
      - alert: CheckoutQueueHigh
        expr: e2e_queue_depth{service="checkout"} > 5
        labels: {severity: warning}
        annotations:
          summary: "checkout queue depth is {{ $value }}"
      - record: service:e2e_queue_depth:max
        expr: max by (service) (e2e_queue_depth)
YAML
cat >"$tmp/log-rules.yml" <<'YAML'
groups:
  - name: e2e-logs
    interval: 2s
    rules:
      - alert: PaymentOutOfMemory
        expr: sum by (service_name) (count_over_time({service_name="payment"} |= "OutOfMemoryError" [10m])) > 0
        labels: {severity: critical}
        annotations:
          summary: "payment logged OutOfMemoryError"
YAML
cat >"$tmp/sightline.yml" <<YAML
global:
  evaluation_interval: 2s
rule_files: [$tmp/rules.yml]
rules:
  log_rule_files: [$tmp/log-rules.yml]
YAML
"$bin" server --config "$tmp/sightline.yml" --data-dir "$tmp/data" --http-addr 127.0.0.1:0 \
  --otlp-grpc-addr 127.0.0.1:0 --otlp-http-addr 127.0.0.1:0 >"$tmp/log" 2>&1 &
pid=$!
addr=
for _ in $(seq 1 300); do
  addr=$(sed -n 's/.*msg=listening listener=http addr=\([^ ]*\).*/\1/p' "$tmp/log" | head -1)
  [ -n "$addr" ] && curl -sf "http://$addr/-/ready" >/dev/null && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.2
done
[ -n "$addr" ] || { echo "server did not start:"; cat "$tmp/log"; exit 1; }
s0=$SECONDS
(cd web && SIGHTLINE_URL="http://$addr" node e2e/run.mjs) || {
  status=1
  echo "--- server log (errors) ---"
  grep -E 'level=(ERROR|WARN)' "$tmp/log" | cut -c1-400 | tail -20 || true
}
echo "browser tests against the server: $((SECONDS - s0))s"
kill $pid 2>/dev/null || true
wait $pid 2>/dev/null || true
pid=
fi

if [[ " $suites " == *" demo "* ]]; then
s0=$SECONDS
# --fault-every 0: the tests switch the fault themselves; --duration is a
# safety net should this script die without stopping the demo.
"$bin" demo --data-dir "$tmp/demo" --http-addr 127.0.0.1:0 --otlp-grpc-addr 127.0.0.1:0 \
  --otlp-http-addr 127.0.0.1:0 --fault-every 0 --rps 10 --duration 10m >"$tmp/demo.out" 2>"$tmp/demo.log" &
dpid=$!
daddr= gw=
for _ in $(seq 1 300); do
  daddr=$(sed -n 's/.*msg=listening listener=http addr=\([^ ]*\).*/\1/p' "$tmp/demo.log" | head -1)
  gw=$(sed -n 's/.*msg=listening listener=shop-gateway addr=\([^ ]*\).*/\1/p' "$tmp/demo.log" | head -1)
  [ -n "$daddr" ] && [ -n "$gw" ] && curl -sf "http://$daddr/-/ready" >/dev/null && grep -q '^  Open ' "$tmp/demo.out" && break
  kill -0 $dpid 2>/dev/null || break
  sleep 0.2
done
[ -n "$daddr" ] && [ -n "$gw" ] || { echo "demo did not start:"; cat "$tmp/demo.out" "$tmp/demo.log"; exit 1; }
# The URL the demo tells the user to open is the server the tests drive.
grep -qF "Open  http://$daddr/" "$tmp/demo.out" || { echo "the demo printed a URL that is not its server ($daddr):"; cat "$tmp/demo.out"; status=1; }
(cd web && SIGHTLINE_URL="http://$daddr" SIGHTLINE_DEMO_GATEWAY="http://$gw" SIGHTLINE_BINARY="$bin" node e2e/demo.mjs) || {
  status=1
  echo "--- demo log (errors) ---"
  grep -E 'level=(ERROR|WARN)' "$tmp/demo.log" | cut -c1-400 | tail -20 || true
}
# Ctrl-C: everything stops cleanly and the exit status is 0.
kill -INT $dpid
drc=0
wait $dpid || drc=$?
dpid=
if [ $drc -ne 0 ]; then
  echo "sightline demo exited with status $drc after SIGINT:"
  tail -20 "$tmp/demo.log"
  status=1
fi
echo "browser tests over the demo: $((SECONDS - s0))s"
fi
exit $status
