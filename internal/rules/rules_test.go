package rules

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/notifier"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/sightline/sightline/internal/query/logql"
	"github.com/sightline/sightline/internal/query/logql/memsource"
)

func TestExampleRulesPassPromtool(t *testing.T) {
	files, _ := filepath.Glob("../../examples/rules/*.yml")
	if len(files) == 0 {
		t.Fatal("no example rule files")
	}
	bin, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is required in CI (Debian package prometheus)")
		}
		t.Skip("promtool not installed")
	}
	out, err := exec.Command(bin, append([]string{"check", "rules"}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

func TestCheck(t *testing.T) {
	logs, _ := filepath.Glob("../../examples/log-rules/*.yml")
	proms, _ := filepath.Glob("../../examples/rules/*.yml")
	if errs := Check(Files{PromQL: proms, LogQL: logs}); len(errs) > 0 {
		t.Fatalf("examples: %v", errs)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	os.WriteFile(bad, []byte("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: '{app=\"x\"} |= \"e\"'\n"), 0o644)
	errs := Check(Files{LogQL: []string{bad}})
	if len(errs) == 0 || !strings.Contains(errs[0].Error(), "metric query") {
		t.Errorf("a log query as a rule: %v", errs)
	}
	if errs := Check(Files{PromQL: []string{bad}}); len(errs) == 0 {
		t.Error("LogQL accepted as PromQL")
	}
}

type captured struct {
	mu     sync.Mutex
	alerts []*notifier.Alert
}

func (c *captured) Send(as ...*notifier.Alert) {
	c.mu.Lock()
	c.alerts = append(c.alerts, as...)
	c.mu.Unlock()
}

func (c *captured) get() []*notifier.Alert {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*notifier.Alert(nil), c.alerts...)
}

// TestLogRulesOverMemsource runs a LogQL alerting and recording rule over
// an in-memory log source and checks the alert, its link and ALERTS.
func TestLogRulesOverMemsource(t *testing.T) {
	db, err := tsdb.Open(t.TempDir(), nil, nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	src := memsource.New()
	now := time.Now()
	src.Add("", logql.Entry{Timestamp: now.Add(-time.Second).UnixNano(), Line: "java.lang.OutOfMemoryError", Labels: labels.FromStrings("service", "checkout")})
	src.Add("", logql.Entry{Timestamp: now.Add(-time.Second).UnixNano(), Line: "all good", Labels: labels.FromStrings("service", "cart")})
	le, err := logql.NewEngine(src, logql.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rf := filepath.Join(dir, "r.yml")
	os.WriteFile(rf, []byte(`groups:
- name: g
  interval: 100ms
  rules:
  - alert: OOM
    expr: sum by (service) (count_over_time({service=~".+"} |= "OutOfMemoryError" [1m])) > 0
    annotations: {summary: "{{ $labels.service }}: {{ $value }}"}
`), 0o644)
	sink := &captured{}
	base, _ := url.Parse("http://sightline.example:9090/ui")
	m, err := New(Options{Store: db, Engine: promql.NewEngine(promql.EngineOpts{MaxSamples: 1e6, Timeout: time.Minute}),
		Logs: LogQLEngine{Engine: le}, Sender: sink, ExternalURL: base})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Update(Files{LogQL: []string{rf}, Interval: time.Second}); err != nil {
		t.Fatal(err)
	}
	m.Run()
	defer m.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for len(sink.get()) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	as := sink.get()
	if len(as) == 0 {
		t.Fatal("log rule did not fire")
	}
	a := as[0]
	if a.Labels.Get("alertname") != "OOM" || a.Labels.Get("service") != "checkout" || a.Annotations.Get("summary") != "checkout: 1" {
		t.Errorf("alert %v %v", a.Labels, a.Annotations)
	}
	u, err := url.Parse(a.GeneratorURL)
	if err != nil || u.Host != "sightline.example:9090" || u.Path != "/ui/logs" || !strings.Contains(u.Query().Get("q"), "OutOfMemoryError") || u.Query().Get("from") == "" || u.Query().Get("to") == "" {
		t.Errorf("generatorURL %q", a.GeneratorURL)
	}
	if n := len(m.AlertingRules()); n != 1 {
		t.Errorf("%d alerting rules", n)
	}
	if g := m.RuleGroups(); len(g) != 1 || !m.IsLogGroup(g[0]) {
		t.Errorf("groups %v", g)
	}
	// ALERTS{alertname="OOM"} is in the metric store.
	found := false
	for deadline := time.Now().Add(5 * time.Second); !found && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		q, _ := db.Querier(0, time.Now().Add(time.Minute).UnixMilli())
		ss := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", "ALERTS"))
		found = ss.Next() && ss.At().Labels().Get("alertname") == "OOM"
		q.Close()
	}
	if !found {
		t.Error("no ALERTS series")
	}
}

func TestLinks(t *testing.T) {
	base, _ := url.Parse("https://obs.example.com/")
	from, to := time.UnixMilli(1000), time.UnixMilli(2000)
	for _, c := range []struct{ got, want string }{
		{MetricsLink(base, `rate(x{a="b"}[5m]) > 1`, from, to), "https://obs.example.com/graph?from=1000&q=rate%28x%7Ba%3D%22b%22%7D%5B5m%5D%29+%3E+1&to=2000"},
		{LogsLink(base, `count_over_time({a="b"}[1m])`, from, to), "https://obs.example.com/logs?from=1000&q=count_over_time%28%7Ba%3D%22b%22%7D%5B1m%5D%29&to=2000"},
	} {
		if c.got != c.want {
			t.Errorf("got %s\nwant %s", c.got, c.want)
		}
	}
}

func FuzzLogQLParser(f *testing.F) {
	f.Add(`sum by (service) (count_over_time({a="b"} |= "x" [5m])) > 0`)
	f.Add(`{a="b"}`)
	f.Add(`rate({a=~".+"} | json | level="error" [1m])`)
	f.Fuzz(func(t *testing.T, s string) {
		e, err := LogQLParser{}.ParseExpr(s)
		if err != nil {
			return
		}
		// The canonical text parses again to the same text.
		e2, err := LogQLParser{}.ParseExpr(e.String())
		if err != nil || e2.String() != e.String() {
			t.Fatalf("%q → %q → %v %v", s, e.String(), e2, err)
		}
	})
}

// batches records every Send call separately.
type batches struct {
	mu    sync.Mutex
	calls [][]*notifier.Alert
}

func (b *batches) Send(as ...*notifier.Alert) {
	b.mu.Lock()
	b.calls = append(b.calls, as)
	b.mu.Unlock()
}

// TestGroupAlertsSentTogether: the alerts of all rules of a group reach the
// Sender in one call per evaluation, so a critical alert and the warning it
// inhibits fire and resolve in the same batch (an Alertmanager flush cannot
// fall between them and notify the warning as uninhibited).
func TestGroupAlertsSentTogether(t *testing.T) {
	db, err := tsdb.Open(t.TempDir(), nil, nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	src := memsource.New()
	src.Add("", logql.Entry{Timestamp: time.Now().Add(-time.Second).UnixNano(), Line: "error: timeout", Labels: labels.FromStrings("service", "checkout")})
	le, err := logql.NewEngine(src, logql.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	rf := filepath.Join(t.TempDir(), "r.yml")
	os.WriteFile(rf, []byte(`groups:
- name: g
  interval: 100ms
  rules:
  - alert: Critical
    expr: sum by (service) (count_over_time({service=~".+"} |= "error" [1m])) > 0
  - alert: Warning
    expr: sum by (service) (count_over_time({service=~".+"} |= "error" [1m])) > 0
`), 0o644)
	sink := &batches{}
	m, err := New(Options{Store: db, Engine: promql.NewEngine(promql.EngineOpts{MaxSamples: 1e6, Timeout: time.Minute}),
		Logs: LogQLEngine{Engine: le}, Sender: sink})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Update(Files{LogQL: []string{rf}, Interval: time.Second}); err != nil {
		t.Fatal(err)
	}
	m.Run()
	defer m.Stop()
	var first []*notifier.Alert
	for deadline := time.Now().Add(10 * time.Second); first == nil && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		sink.mu.Lock()
		if len(sink.calls) > 0 {
			first = sink.calls[0]
		}
		sink.mu.Unlock()
	}
	names := map[string]bool{}
	for _, a := range first {
		names[a.Labels.Get("alertname")] = true
	}
	if !names["Critical"] || !names["Warning"] {
		t.Errorf("first Send carried %v, want both rules' alerts in one call", names)
	}
}
