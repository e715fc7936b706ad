#!/usr/bin/env bash
# Starts the real binary on random loopback ports with a temp data dir and
# runs the browser tests (web/e2e) against it in headless Chromium. The tests
# first send known metrics, logs and traces over the real ingest protocols
# (web/e2e/seed.mjs); the rules below fire on that data so the alerts page
# has a firing PromQL alert and a firing LogQL alert to follow.
set -euo pipefail
bin=$(realpath "$1")
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && { kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; }; rm -rf "$tmp"' EXIT
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
for _ in $(seq 1 300); do
  addr=$(sed -n 's/.*msg=listening listener=http addr=\([^ ]*\).*/\1/p' "$tmp/log" | head -1)
  [ -n "$addr" ] && curl -sf "http://$addr/-/ready" >/dev/null && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.2
done
[ -n "${addr:-}" ] || { echo "server did not start:"; cat "$tmp/log"; exit 1; }
cd web
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
status=0
SIGHTLINE_URL="http://$addr" node e2e/run.mjs || status=$?
if [ $status -ne 0 ]; then
  echo "--- server log (errors) ---"
  grep -E 'level=(ERROR|WARN)' "$tmp/log" | cut -c1-400 | tail -20 || true
fi
exit $status
