#!/usr/bin/env bash
# Installs the Debian packages the tests use when they are missing:
# chromium (browser tests), prometheus and prometheus-node-exporter (the
# PromQL and alert comparisons against real Prometheus, promtool), rsyslog
# with its Elasticsearch output (a real log shipper sending to sightline)
# and util-linux's logger (syslog ingest). Needs root (as in CI).
set -euo pipefail
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v prometheus >/dev/null || need+=(prometheus)
command -v promtool >/dev/null || need+=(prometheus)
command -v prometheus-node-exporter >/dev/null || need+=(prometheus-node-exporter)
command -v rsyslogd >/dev/null || need+=(rsyslog)
[ -e /usr/lib/x86_64-linux-gnu/rsyslog/omelasticsearch.so ] || ls /usr/lib/*/rsyslog/omelasticsearch.so >/dev/null 2>&1 || need+=(rsyslog-elasticsearch)
command -v logger >/dev/null || need+=(bsdutils)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
echo "installing: ${need[*]}"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# --no-install-recommends keeps it small; the prometheus package would
# otherwise pull in its web assets and exporters we do not use.
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian starts the services it installs; the tests run their own copies.
for svc in prometheus prometheus-node-exporter rsyslog; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then $SUDO systemctl stop "$svc" || true; fi
done
