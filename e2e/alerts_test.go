package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// webhookSink is an Alertmanager webhook receiver on 127.0.0.1.
type webhookSink struct {
	URL  string
	mu   sync.Mutex
	msgs []webhookMsg
}

type webhookMsg struct {
	Receiver          string            `json:"receiver"`
	Status            string            `json:"status"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	Alerts            []struct {
		Status       string            `json:"status"`
		Labels       map[string]string `json:"labels"`
		GeneratorURL string            `json:"generatorURL"`
	} `json:"alerts"`
}

func newWebhookSink(t *testing.T) *webhookSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &webhookSink{URL: "http://" + ln.Addr().String() + "/hook"}
	srv := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var m webhookMsg
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("webhook body: %v: %s", err, b)
		}
		w.mu.Lock()
		w.msgs = append(w.msgs, m)
		w.mu.Unlock()
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return w
}

func (w *webhookSink) Messages() []webhookMsg {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]webhookMsg(nil), w.msgs...)
}

// gaugeTarget serves app_errors{service="checkout"} with a settable value.
func gaugeTarget(t *testing.T) (addr string, v *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	v = new(atomic.Int64)
	srv := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(rw, "# TYPE app_errors gauge\napp_errors{service=\"checkout\"} %d\n", v.Load())
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), v
}

const alertRules = `groups:
  - name: shop
    interval: 1s
    rules:
      - alert: HighErrors
        expr: app_errors > 5
        for: 3s
        labels: {severity: critical}
        annotations:
          summary: "{{ $labels.service }} has {{ $value }} errors"
      - alert: ErrorsWarning
        expr: app_errors > 1
        for: 5s
        labels: {severity: warning}
`

// alertsSetup starts sightline scraping a gauge target with alertRules,
// a webhook receiver and an inhibition of warnings by criticals.
func alertsSetup(t *testing.T) (*Server, *webhookSink, *atomic.Int64) {
	t.Helper()
	addr, v := gaugeTarget(t)
	hook := newWebhookSink(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "rules.yml"), alertRules)
	cfg := filepath.Join(dir, "sightline.yml")
	writeFile(t, cfg, fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: shop
    static_configs:
      - targets: [%q]
rule_files: [%q]
alertmanager:
  route:
    receiver: hook
    group_by: [alertname]
    group_wait: 1s
    group_interval: 2s
    repeat_interval: 1h
  receivers:
    - name: hook
      webhook_configs:
        - url: %q
          send_resolved: true
  inhibit_rules:
    - source_matchers: [severity="critical"]
      target_matchers: [severity="warning"]
      equal: [service]
`, addr, filepath.Join(dir, "rules.yml"), hook.URL))
	return StartServer(t, "--config", cfg), hook, v
}

func TestAlertsFireNotifyInhibitResolve(t *testing.T) {
	s, hook, v := alertsSetup(t)
	v.Store(10)
	start := time.Now()
	Eventually(t, 30*time.Second, func() error {
		if n := len(hook.Messages()); n == 0 {
			return fmt.Errorf("no notification yet")
		}
		return nil
	})
	if d := time.Since(start); d < 3*time.Second {
		t.Errorf("notified after %s, before `for: 3s` elapsed", d)
	}
	// Several group intervals pass: still exactly one notification.
	time.Sleep(5 * time.Second)
	msgs := hook.Messages()
	if len(msgs) != 1 {
		t.Fatalf("want exactly 1 notification, got %d: %+v", len(msgs), msgs)
	}
	m := msgs[0]
	if m.Status != "firing" || len(m.Alerts) != 1 || m.Alerts[0].Labels["alertname"] != "HighErrors" {
		t.Fatalf("notification: %+v", m)
	}
	if got := m.CommonAnnotations["summary"]; got != "checkout has 10 errors" {
		t.Errorf("templated summary %q", got)
	}
	if g := m.Alerts[0].GeneratorURL; !strings.HasPrefix(g, s.URL+"/graph?") || !strings.Contains(g, "q=app_errors+%3E+5") || !strings.Contains(g, "from=") {
		t.Errorf("generatorURL %q does not open the expression in sightline", g)
	}
	// The warning is inhibited by the critical alert, and shown so.
	var am []struct {
		Labels map[string]string `json:"labels"`
		Status struct {
			State       string   `json:"state"`
			InhibitedBy []string `json:"inhibitedBy"`
		} `json:"status"`
	}
	getJSON(t, s.URL+"/api/v2/alerts", &am)
	found := false
	for _, a := range am {
		if a.Labels["alertname"] == "ErrorsWarning" {
			found = true
			if a.Status.State != "suppressed" || len(a.Status.InhibitedBy) == 0 {
				t.Errorf("ErrorsWarning status %+v, want suppressed by inhibition", a.Status)
			}
		}
	}
	if !found {
		t.Errorf("ErrorsWarning missing from /api/v2/alerts: %+v", am)
	}
	// Prometheus API lists the firing alert.
	code, r := s.Get("/api/v1/alerts", nil)
	if code != 200 || !strings.Contains(string(r.Data), `"HighErrors"`) || !strings.Contains(string(r.Data), `"firing"`) {
		t.Errorf("/api/v1/alerts: %d %s", code, r.Data)
	}

	// Resolve: one resolved notification follows.
	v.Store(0)
	Eventually(t, 30*time.Second, func() error {
		msgs := hook.Messages()
		if len(msgs) < 2 {
			return fmt.Errorf("%d notifications", len(msgs))
		}
		if msgs[1].Status != "resolved" || msgs[1].Alerts[0].Labels["alertname"] != "HighErrors" {
			return fmt.Errorf("second notification %+v", msgs[1])
		}
		return nil
	})
	time.Sleep(3 * time.Second)
	if msgs := hook.Messages(); len(msgs) != 2 {
		t.Errorf("want 2 notifications in total, got %d: %+v", len(msgs), msgs)
	}
	// History has both transitions of HighErrors.
	var hist struct {
		Data []struct {
			State  string            `json:"state"`
			Labels map[string]string `json:"labels"`
		} `json:"data"`
	}
	getJSON(t, s.URL+"/api/v1/alerts/history?alertname=HighErrors", &hist)
	if len(hist.Data) != 2 || hist.Data[0].State != "resolved" || hist.Data[1].State != "firing" {
		t.Errorf("history %+v", hist.Data)
	}
}

func TestAlertsSilence(t *testing.T) {
	s, hook, v := alertsSetup(t)
	body := fmt.Sprintf(`{"matchers":[{"name":"service","value":"checkout","isRegex":false,"isEqual":true}],
"startsAt":%q,"endsAt":%q,"createdBy":"e2e","comment":"maintenance"}`,
		time.Now().Add(-time.Minute).UTC().Format(time.RFC3339), time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	resp, err := http.Post(s.URL+"/api/v2/silences", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var created struct {
		SilenceID string `json:"silenceID"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &created) != nil || created.SilenceID == "" {
		t.Fatalf("create silence: %d %s", resp.StatusCode, b)
	}
	v.Store(10)
	Eventually(t, 30*time.Second, func() error {
		var am []struct {
			Labels map[string]string `json:"labels"`
			Status struct {
				State      string   `json:"state"`
				SilencedBy []string `json:"silencedBy"`
			} `json:"status"`
		}
		getJSON(t, s.URL+"/api/v2/alerts?filter=alertname%3D%22HighErrors%22", &am)
		if len(am) != 1 || am[0].Status.State != "suppressed" || len(am[0].Status.SilencedBy) != 1 || am[0].Status.SilencedBy[0] != created.SilenceID {
			return fmt.Errorf("alerts %+v", am)
		}
		return nil
	})
	time.Sleep(4 * time.Second)
	if n := len(hook.Messages()); n != 0 {
		t.Fatalf("silenced alert notified %d times", n)
	}
	// Listed, then expired: the notification goes out.
	var sils []struct {
		ID     string `json:"id"`
		Status struct {
			State string `json:"state"`
		} `json:"status"`
	}
	getJSON(t, s.URL+"/api/v2/silences", &sils)
	if len(sils) != 1 || sils[0].ID != created.SilenceID || sils[0].Status.State != "active" {
		t.Fatalf("silences %+v", sils)
	}
	req, _ := http.NewRequest(http.MethodDelete, s.URL+"/api/v2/silence/"+created.SilenceID, nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("expire silence: %v %v", err, resp)
	}
	resp.Body.Close()
	Eventually(t, 30*time.Second, func() error {
		msgs := hook.Messages()
		if len(msgs) != 1 || msgs[0].GroupLabels["alertname"] != "HighErrors" {
			return fmt.Errorf("after the silence expired: %+v", msgs)
		}
		return nil
	})
}

func TestAlertsRestartKeepsFiringWithoutRenotifying(t *testing.T) {
	s, hook, v := alertsSetup(t)
	v.Store(10)
	Eventually(t, 30*time.Second, func() error {
		if len(hook.Messages()) == 0 {
			return fmt.Errorf("no notification")
		}
		return nil
	})
	// A silence for another alert must survive the restart too.
	body := fmt.Sprintf(`{"matchers":[{"name":"alertname","value":"Other","isRegex":false,"isEqual":true}],"startsAt":%q,"endsAt":%q,"createdBy":"e2e","comment":"kept"}`,
		time.Now().UTC().Format(time.RFC3339), time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	resp, err := http.Post(s.URL+"/api/v2/silences", "application/json", strings.NewReader(body))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("create silence: %v %v", err, resp)
	}
	resp.Body.Close()
	s.Stop()
	if _, err := os.Stat(filepath.Join(s.DataDir, "alerts", "nflog")); err != nil {
		t.Fatalf("the notification log was not snapshotted on stop: %v", err)
	}
	s.Restart()
	Eventually(t, 30*time.Second, func() error {
		code, r := s.Get("/api/v1/alerts", nil)
		if code != 200 || !strings.Contains(string(r.Data), `"state":"firing"`) {
			return fmt.Errorf("not firing after restart: %s", r.Data)
		}
		return nil
	})
	time.Sleep(6 * time.Second) // several group intervals
	if n := len(hook.Messages()); n != 1 {
		t.Fatalf("restart re-notified: %d notifications", n)
	}
	var sils []struct {
		Comment string `json:"comment"`
	}
	getJSON(t, s.URL+"/api/v2/silences", &sils)
	if len(sils) != 1 || sils[0].Comment != "kept" {
		t.Errorf("silences after restart: %+v", sils)
	}
	var hist struct {
		Data []struct {
			State string `json:"state"`
		} `json:"data"`
	}
	getJSON(t, s.URL+"/api/v1/alerts/history?alertname=HighErrors", &hist)
	if len(hist.Data) != 1 || hist.Data[0].State != "firing" {
		t.Errorf("history after restart: %+v", hist.Data)
	}
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(v); err != nil {
		t.Fatalf("GET %s: %v: %s", u, err, b)
	}
}

func TestAlertsReloadKeepsState(t *testing.T) {
	s, hook, v := alertsSetup(t)
	v.Store(10)
	Eventually(t, 30*time.Second, func() error {
		if len(hook.Messages()) == 0 {
			return fmt.Errorf("no notification")
		}
		return nil
	})
	// Add a rule to the file and reload over HTTP.
	var files struct {
		Groups []struct {
			File string `json:"file"`
		} `json:"groups"`
	}
	code, r := s.Get("/api/v1/rules", nil)
	if code != 200 || json.Unmarshal(r.Data, &files) != nil || len(files.Groups) != 1 {
		t.Fatalf("/api/v1/rules: %d %s", code, r.Data)
	}
	writeFile(t, files.Groups[0].File, alertRules+`      - record: app:errors:max
        expr: max(app_errors)
`)
	resp, err := http.Post(s.URL+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("reload: %s", resp.Status)
	}
	Eventually(t, 20*time.Second, func() error {
		if v := s.Query(`app:errors:max`, time.Now()); len(v) != 1 {
			return fmt.Errorf("new recording rule not evaluated: %v", v)
		}
		return nil
	})
	// The firing alert kept its state: still firing, not re-notified.
	code, r = s.Get("/api/v1/alerts", nil)
	if code != 200 || !strings.Contains(string(r.Data), `"state":"firing"`) {
		t.Errorf("after reload: %s", r.Data)
	}
	time.Sleep(4 * time.Second)
	if n := len(hook.Messages()); n != 1 {
		t.Errorf("reload re-notified: %d notifications", n)
	}
	// A broken file is refused and the running rules stay.
	writeFile(t, files.Groups[0].File, "groups: [{name: x, rules: [{alert: A, expr: 'sum('}]}]\n")
	resp, err = http.Post(s.URL+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 200 {
		t.Error("reload with a broken rule file succeeded")
	}
	if v := s.Query(`ALERTS{alertname="HighErrors",alertstate="firing"}`, time.Now()); len(v) != 1 {
		t.Errorf("HighErrors lost after a failed reload: %v", v)
	}
}
