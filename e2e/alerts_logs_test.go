package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAlertsLogRuleFiresOnPushedErrorLine(t *testing.T) {
	hook := newWebhookSink(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "log-rules.yml"), `groups:
  - name: logs
    interval: 1s
    rules:
      - alert: OutOfMemory
        expr: sum by (service) (count_over_time({service="checkout"} |= "OutOfMemoryError" [1m])) > 0
        labels: {severity: critical}
        annotations:
          summary: "{{ $labels.service }} ran out of memory"
      - record: service:log_errors:count1m
        expr: sum by (service) (count_over_time({service="checkout"} |= "ERROR" [1m]))
`)
	cfg := filepath.Join(dir, "sightline.yml")
	writeFile(t, cfg, fmt.Sprintf(`global:
  evaluation_interval: 1s
rules:
  log_rule_files: [%q]
alertmanager:
  route:
    receiver: hook
    group_wait: 1s
  receivers:
    - name: hook
      webhook_configs:
        - url: %q
`, filepath.Join(dir, "log-rules.yml"), hook.URL))
	s := StartServer(t, "--config", cfg)
	time.Sleep(2 * time.Second)
	if n := len(hook.Messages()); n != 0 {
		t.Fatalf("notified before any error line: %+v", hook.Messages())
	}
	body := fmt.Sprintf(`{"streams":[{"stream":{"service":"checkout"},"values":[["%d","ERROR java.lang.OutOfMemoryError: Java heap space"],["%d","INFO fine"]]}]}`,
		time.Now().UnixNano(), time.Now().UnixNano())
	resp, err := http.Post(s.URL+"/loki/api/v1/push", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("push: %s", resp.Status)
	}
	Eventually(t, 30*time.Second, func() error {
		msgs := hook.Messages()
		if len(msgs) == 0 {
			return fmt.Errorf("no notification")
		}
		a := msgs[0].Alerts[0]
		if a.Labels["alertname"] != "OutOfMemory" || a.Labels["service"] != "checkout" {
			return fmt.Errorf("alert %+v", a)
		}
		if !strings.HasPrefix(a.GeneratorURL, s.URL+"/logs?") || !strings.Contains(a.GeneratorURL, "q=sum") {
			return fmt.Errorf("generatorURL %q does not open the logs explorer", a.GeneratorURL)
		}
		return nil
	})
	// The recording rule wrote its series into the metric store.
	Eventually(t, 10*time.Second, func() error {
		v := s.Query(`service:log_errors:count1m`, time.Now())
		if len(v) != 1 || v[0].Metric["service"] != "checkout" || v[0].Value[1] != "1" {
			return fmt.Errorf("recording rule result %+v", v)
		}
		return nil
	})
	// /api/v1/rules shows the LogQL expression as written.
	code, r := s.Get("/api/v1/rules", nil)
	if code != 200 || !strings.Contains(string(r.Data), `OutOfMemoryError`) {
		t.Errorf("/api/v1/rules: %d %s", code, r.Data)
	}
}
