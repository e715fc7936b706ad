package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// compatRules exercise pending and firing states, `for`, templated labels
// and alerts over a recording rule's output.
const compatRules = `groups:
  - name: compat
    interval: 1s
    rules:
      - record: queue:depth:sum
        expr: sum(shop_queue_depth)
      - alert: QueueDeep
        expr: shop_queue_depth > 10
        for: 3s
        labels: {severity: warning}
      - alert: QueueVeryDeep
        expr: shop_queue_depth > 20
        labels: {severity: critical, band: "{{ if gt $value 24.0 }}high{{ else }}low{{ end }}"}
      - alert: QueueDeepForAnHour
        expr: shop_queue_depth > 5
        for: 1h
      - alert: SumHigh
        expr: queue:depth:sum > 30
        for: 2s
`

// TestAlertsMatchPrometheus runs the same rules in Prometheus and in
// sightline over the same scraped data (Prometheus remote-writes what it
// scrapes, without its own rule outputs) and compares ALERTS,
// ALERTS_FOR_STATE and the recording rule.
func TestAlertsMatchPrometheus(t *testing.T) {
	promName := "prometheus"
	if p := os.Getenv("SIGHTLINE_PROMETHEUS"); p != "" {
		promName = p
	}
	promBin, err := exec.LookPath(promName)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("prometheus must be installed in CI: %v", err)
		}
		t.Skip("prometheus not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, "# TYPE shop_queue_depth gauge\nshop_queue_depth{queue=\"a\"} 3\nshop_queue_depth{queue=\"b\"} 12\nshop_queue_depth{queue=\"c\"} 25\nshop_queue_depth{queue=\"d\"} 21\n")
	})}
	go target.Serve(ln)
	defer target.Close()

	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yml")
	writeFile(t, rules, compatRules)
	cfg := filepath.Join(dir, "sightline.yml")
	writeFile(t, cfg, fmt.Sprintf("metrics:\n  self_scrape: false\nglobal:\n  evaluation_interval: 1s\nrule_files: [%q]\n", rules))
	s := StartServer(t, "--config", cfg)

	promAddr := freeAddr(t)
	promCfg := filepath.Join(dir, "prometheus.yml")
	writeFile(t, promCfg, fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: shop
    static_configs: [{targets: [%q]}]
remote_write:
  - url: %s/api/v1/write
    queue_config: {batch_send_deadline: 200ms}
    write_relabel_configs:
      - source_labels: [__name__]
        regex: "ALERTS|ALERTS_FOR_STATE|queue:.*"
        action: drop
`, rules, ln.Addr().String(), s.URL))
	startProcess(t, promBin, "--config.file="+promCfg, "--storage.tsdb.path="+filepath.Join(dir, "prom"),
		"--web.listen-address="+promAddr)
	promURL := "http://" + promAddr

	queries := []string{
		`ALERTS`,
		`group by (alertname, alertstate, queue, severity, band, instance, job) (ALERTS_FOR_STATE)`,
		`queue:depth:sum`,
	}
	var last []string
	Eventually(t, 60*time.Second, func() error {
		at := time.Now().Add(-2 * time.Second)
		last = last[:0]
		for _, q := range queries {
			want, got := instant(promURL, q, at), instant(s.URL, q, at)
			if want.err != nil || want.body == "" {
				return fmt.Errorf("prometheus %s: %v %q", q, want.err, want.body)
			}
			if diff := compareResults(want, got); diff != "" {
				return fmt.Errorf("%s: %s", q, diff)
			}
			last = append(last, want.body)
		}
		// Steady state: every alert has settled.
		if !strings.Contains(last[0], `alertname="SumHigh",alertstate="firing"`) || !strings.Contains(last[0], `alertname="QueueDeep",alertstate="firing"`) {
			return fmt.Errorf("not settled yet:\n%s", last[0])
		}
		return nil
	})
	for _, want := range []string{
		`alertname="QueueDeepForAnHour",alertstate="pending"`,
		`alertname="QueueVeryDeep",alertstate="firing",band="high"`,
		`alertname="QueueVeryDeep",alertstate="firing",band="low"`,
	} {
		if !strings.Contains(last[0], want) {
			t.Errorf("ALERTS lacks %s:\n%s", want, last[0])
		}
	}
	if n := strings.Count(last[0], "\n") + 1; n != 9 {
		t.Errorf("want 9 ALERTS series (3 QueueDeep, 2 QueueVeryDeep, 3 pending QueueDeepForAnHour, 1 SumHigh), got %d:\n%s", n, last[0])
	}
}
