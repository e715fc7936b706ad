package scrape

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/storage/remote"
	"go.yaml.in/yaml/v3"
)

// writeReceiver is a remote-write endpoint that keeps the samples of one
// metric; while down it answers 503.
type writeReceiver struct {
	mu      sync.Mutex
	down    bool
	headers http.Header
	values  map[float64]int // counter value → times received
	labels  map[string]string
	refused int
}

func (w *writeReceiver) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.down {
		w.refused++
		http.Error(rw, "down", http.StatusServiceUnavailable)
		return
	}
	if r.URL.Path != WritePath {
		http.NotFound(rw, r)
		return
	}
	req, err := remote.DecodeWriteRequest(r.Body)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	w.headers = r.Header.Clone()
	for _, ts := range req.Timeseries {
		ls := map[string]string{}
		for _, l := range ts.Labels {
			ls[l.Name] = l.Value
		}
		if ls["__name__"] != "demo_requests_total" {
			continue
		}
		w.labels = ls
		for _, s := range ts.Samples {
			w.values[s.Value]++
		}
	}
	rw.WriteHeader(http.StatusNoContent)
}

func (w *writeReceiver) setDown(d bool) { w.mu.Lock(); w.down = d; w.mu.Unlock() }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func node(t *testing.T, text string) yaml.Node {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(text), &n); err != nil {
		t.Fatal(err)
	}
	return *n.Content[0]
}

// TestScrapeAndRemoteWrite scrapes an httptest target whose counter grows
// by one per scrape and forwards to a remote-write receiver that is down
// for a while: samples scraped during the outage are held in the WAL and
// arrive once it is back, every counter value from the first to the last.
func TestScrapeAndRemoteWrite(t *testing.T) {
	var scrapes atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := scrapes.Add(1)
		fmt.Fprintf(w, "# TYPE demo_requests_total counter\ndemo_requests_total{path=\"/a\"} %d\n", n)
	}))
	defer target.Close()
	rcv := &writeReceiver{values: map[float64]int{}}
	server := httptest.NewServer(rcv)
	defer server.Close()

	o := DefaultOptions()
	o.ScrapeInterval, o.ScrapeTimeout = 100*time.Millisecond, 100*time.Millisecond
	o.ExternalLabels = map[string]string{"agent": "node-1"}
	o.ScrapeConfigs = node(t, fmt.Sprintf("- job_name: demo\n  static_configs: [{targets: [%q]}]\n", strings.TrimPrefix(target.URL, "http://")))
	o.Dir = t.TempDir()
	o.Server = server.URL
	o.Headers = map[string]string{"X-Scope-OrgID": "team-a"}
	f, err := New(o, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	waitFor(t, "first samples", func() bool { rcv.mu.Lock(); defer rcv.mu.Unlock(); return len(rcv.values) >= 2 })
	rcv.setDown(true)
	down := scrapes.Load()
	waitFor(t, "scrapes during the outage", func() bool {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		return scrapes.Load() >= down+10 && rcv.refused > 0
	})
	rcv.setDown(false)
	last := scrapes.Load()
	missing := func() []int64 {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		var m []int64
		for v := int64(1); v <= last; v++ {
			if rcv.values[float64(v)] == 0 {
				m = append(m, v)
			}
		}
		return m
	}
	deadline := time.Now().Add(30 * time.Second)
	for m := missing(); len(m) > 0; m = missing() {
		if time.Now().After(deadline) {
			t.Fatalf("after the outage, counter values %v of 1..%d never arrived (outage from %d)", m, last, down)
		}
		time.Sleep(20 * time.Millisecond)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if rcv.labels["job"] != "demo" || rcv.labels["path"] != "/a" || rcv.labels["agent"] != "node-1" {
		t.Fatalf("labels %v", rcv.labels)
	}
	if rcv.headers.Get("X-Scope-OrgID") != "team-a" {
		t.Fatalf("headers %v", rcv.headers)
	}
}

func TestOptions(t *testing.T) {
	cases := []struct {
		name    string
		scrape  string
		rw      string
		server  string
		wantErr string
		wantURL string
	}{
		{"default remote write", "- job_name: a\n  static_configs: [{targets: ['localhost:1']}]", "", "http://srv:9800/", "", "http://srv:9800/api/v1/write"},
		{"own remote write", "- job_name: a\n  static_configs: [{targets: ['localhost:1']}]", "- url: http://elsewhere/push", "", "", "http://elsewhere/push"},
		{"no server", "- job_name: a\n  static_configs: [{targets: ['localhost:1']}]", "", "", "no remote_write and no server", ""},
		{"bad scrape config", "- job_name: a\n  bogus_field: 1", "", "http://srv", "scrape_configs", ""},
		{"duplicate job", "- job_name: a\n- job_name: a", "", "http://srv", "scrape_configs", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions()
			o.ScrapeConfigs = node(t, tc.scrape)
			if tc.rw != "" {
				o.RemoteWrite = node(t, tc.rw)
			}
			o.Server = tc.server
			err := o.Validate()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cfg, _ := o.PromConfig()
			if got := cfg.RemoteWriteConfigs[0].URL.String(); got != tc.wantURL {
				t.Fatalf("remote write URL %s, want %s", got, tc.wantURL)
			}
		})
	}
	var empty Options
	if empty.Enabled() || empty.Validate() != nil {
		t.Fatal("empty options must be disabled and valid")
	}
}
