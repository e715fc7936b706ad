package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/sightline/sightline/internal/agent/parse"
	"github.com/sightline/sightline/internal/config"
)

func TestFormatRecord(t *testing.T) {
	ts := time.Date(2026, 11, 24, 16, 43, 26, 123e6, time.UTC)
	tid, _ := trace.TraceIDFromHex("0af7651916cd43dd8448eb211c80319c")
	sid, _ := trace.SpanIDFromHex("b7ad6b7169203331")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid})
	poolErr := &faultError{msg: "ShopPool - Connection is not available, request timed out after 150ms",
		javaClass: "java.sql.SQLTransientConnectionException", cause: "shop.db.PoolExhaustedException: all 8 connections in use"}
	tests := []struct {
		name  string
		style LogStyle
		err   error
		want  []string // substrings, in order
		lines int
	}{
		{"json", StyleJSON, nil, []string{`"level":"info"`, `"msg":"order placed"`, `"service":"cart"`, `"span_id":"b7ad6b7169203331"`, `"trace_id":"0af7651916cd43dd8448eb211c80319c"`, `"ts":"2026-11-24T16:43:26.123Z"`, `"user":"u-1"`}, 1},
		{"logfmt", StyleLogfmt, errors.New("boom now"), []string{`ts=2026-11-24T16:43:26.123Z level=info service=cart msg="order placed" trace_id=0af7651916cd43dd8448eb211c80319c span_id=b7ad6b7169203331 user=u-1 error="boom now"`}, 1},
		{"logback plain", StyleLogback, nil, []string{"2026-11-24 16:43:26.123 [grpc-exec-", "] INFO  shop.cart.CartService - order placed user=u-1 trace_id=0af7651916cd43dd8448eb211c80319c span_id=b7ad6b7169203331"}, 1},
		{"logback stack", StyleLogback, poolErr, []string{"INFO  shop.cart.CartService", "\njava.sql.SQLTransientConnectionException: ShopPool - Connection is not available", "\n\tat shop.cart.CartRepository.execute(", "\nCaused by: shop.db.PoolExhaustedException", "\n\t... 5 more\n"}, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			formatRecord(&b, tc.style, ts, "cart", "info", "order placed", sc, tc.err, []any{"user", "u-1"})
			got := b.String()
			rest := got
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("missing %q (in order) in\n%s", w, got)
				}
				rest = rest[i+len(w):]
			}
			if n := strings.Count(got, "\n"); n != tc.lines || !strings.HasSuffix(got, "\n") {
				t.Errorf("got %d lines, want %d:\n%s", n, tc.lines, got)
			}
			if tc.style == StyleJSON {
				var m map[string]any
				if err := json.Unmarshal(b.Bytes(), &m); err != nil {
					t.Errorf("not JSON: %v", err)
				}
			}
		})
	}
}

func TestLogfmtValue(t *testing.T) {
	for in, want := range map[string]string{"a": "a", "": `""`, "a b": `"a b"`, `x"y`: `"x\"y"`, "k=v": `"k=v"`} {
		if got := logfmtValue(in); got != want {
			t.Errorf("logfmtValue(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestFaultsHandlerAndRemote(t *testing.T) {
	f := NewFaults()
	srv := httptest.NewServer(f.Handler())
	defer srv.Close()
	ctx := context.Background()
	st, err := SetRemote(ctx, srv.Client(), srv.URL, FaultPool, true)
	if err != nil {
		t.Fatal(err)
	}
	if !st[FaultPool] || st[FaultLatency] || !f.On(FaultPool) {
		t.Fatalf("after switching pool on: %v", st)
	}
	if st, err = SetRemote(ctx, srv.Client(), srv.URL, FaultPool, false); err != nil || st[FaultPool] || f.On(FaultPool) {
		t.Fatalf("after switching pool off: %v %v", st, err)
	}
	if _, err := SetRemote(ctx, srv.Client(), srv.URL, "meteor", true); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("unknown fault: err = %v, want a 404", err)
	}
	resp, err := http.Post(srv.URL+"/faults/latency?on=maybe", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("on=maybe: %s, want 400", resp.Status)
	}
}

func TestFaultsCycle(t *testing.T) {
	f := NewFaults()
	var mu sync.Mutex
	var seen []string
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Cycle(ctx, 20*time.Millisecond, 10*time.Millisecond, func(n string, on bool) {
			mu.Lock()
			defer mu.Unlock()
			if on {
				seen = append(seen, n)
			}
		})
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n >= len(FaultNames)+1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < len(FaultNames)+1 {
		t.Fatalf("cycle switched on only %v", seen)
	}
	for i, n := range seen {
		if n != FaultNames[i%len(FaultNames)] {
			t.Errorf("fault %d = %s, want %s", i, n, FaultNames[i%len(FaultNames)])
		}
	}
	for n, on := range f.State() {
		if on {
			t.Errorf("%s still on after the cycle stopped", n)
		}
	}
}

func TestConfigYAMLLoads(t *testing.T) {
	dir := t.TempDir()
	if err := writeRules(dir); err != nil {
		t.Fatal(err)
	}
	text, err := ConfigYAML(ConfigParams{RuleDir: dir, ScrapeInterval: 5 * time.Second,
		Targets: []Target{{"gateway", "127.0.0.1:1"}, {"catalog", "127.0.0.1:2"}}})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(text, nil)
	if err != nil {
		t.Fatalf("config.Load: %v\n%s", err, text)
	}
	sc := cfg.Prometheus.ScrapeConfigs
	if len(sc) != 1 || sc[0].JobName != "shop" || time.Duration(sc[0].ScrapeInterval) != 5*time.Second {
		t.Fatalf("scrape configs: %+v", sc)
	}
	if len(cfg.Prometheus.RuleFiles) != 1 || len(cfg.Rules.LogRuleFiles) != 1 {
		t.Errorf("rule files: %v, log rule files: %v", cfg.Prometheus.RuleFiles, cfg.Rules.LogRuleFiles)
	}
}

// The rules shipped in examples/demo are the ones the demo embeds.
func TestExampleRulesMatchEmbedded(t *testing.T) {
	for _, n := range []string{"rules.yml", "log-rules.yml"} {
		emb, err := rulesFS.ReadFile("rules/" + n)
		if err != nil {
			t.Fatal(err)
		}
		ex, err := os.ReadFile(filepath.Join("..", "..", "examples", "demo", n))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(emb, ex) {
			t.Errorf("examples/demo/%s differs from internal/demo/rules/%s; copy one over the other", n, n)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Options)
		ok   bool
	}{
		{"defaults", func(*Options) {}, true},
		{"no otlp grpc", func(o *Options) { o.OTLPGRPCAddr = "" }, false},
		{"zero rps", func(o *Options) { o.RPS = 0 }, false},
		{"fault-for longer than every", func(o *Options) { o.FaultFor = o.FaultEvery }, false},
		{"faults off", func(o *Options) { o.FaultEvery = 0 }, true},
		{"negative duration", func(o *Options) { o.Duration = -1 }, false},
	} {
		o := DefaultOptions()
		tc.mod(&o)
		if err := o.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// syncBuffer collects log output from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestRunShop runs the whole demo briefly and checks what each part
// produced: log files in three styles with trace ids, the server's scrape
// of every service, traces through the Jaeger API, a fault switched over
// HTTP.
func TestRunShop(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole demo")
	}
	dir := t.TempDir()
	logs := &syncBuffer{}
	o := DefaultOptions()
	o.DataDir, o.HTTPAddr, o.OTLPGRPCAddr, o.OTLPHTTPAddr = dir, "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	o.FaultEvery, o.RPS, o.ScrapeInterval, o.MetricInterval = 0, 10, 2*time.Second, 2*time.Second
	o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, o) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("Run did not stop within 60s")
		}
	}()

	addr := func(name string) string {
		re := regexp.MustCompile(`msg=listening listener=` + name + ` addr=(\S+)`)
		var a string
		eventually(t, 30*time.Second, func() error {
			if m := re.FindStringSubmatch(logs.String()); m != nil {
				a = m[1]
				return nil
			}
			return fmt.Errorf("no %s listener logged yet:\n%s", name, logs.String())
		})
		return "http://" + a
	}
	server, gateway := addr("http"), addr("shop-gateway")

	// Every style's file fills with lines that carry trace ids.
	traceRE := regexp.MustCompile(`trace_id"?[=:]"?([0-9a-f]{32})`)
	for _, s := range Services {
		eventually(t, 30*time.Second, func() error {
			b, err := os.ReadFile(filepath.Join(dir, "shop-logs", s.Name+".log"))
			if err != nil {
				return err
			}
			if !traceRE.Match(b) {
				return fmt.Errorf("%s.log has no trace ids yet (%d bytes)", s.Name, len(b))
			}
			return nil
		})
	}

	// The server scrapes every service.
	eventually(t, 40*time.Second, func() error {
		var r struct {
			Data struct {
				Result []struct {
					Metric map[string]string `json:"metric"`
				} `json:"result"`
			} `json:"data"`
		}
		if err := getJSON(server+"/api/v1/query?query="+url.QueryEscape(`sum by (service) (shop_requests_total)`), &r); err != nil {
			return err
		}
		if len(r.Data.Result) != len(Services) {
			return fmt.Errorf("scraped services: %v", r.Data.Result)
		}
		return nil
	})

	// Checkout traces reach at least four services.
	eventually(t, 40*time.Second, func() error {
		var r struct {
			Data []struct {
				Processes map[string]struct {
					ServiceName string `json:"serviceName"`
				} `json:"processes"`
			} `json:"data"`
		}
		if err := getJSON(server+"/api/traces?service=checkout&limit=20&lookback=1h", &r); err != nil {
			return err
		}
		for _, tr := range r.Data {
			svcs := map[string]bool{}
			for _, p := range tr.Processes {
				svcs[p.ServiceName] = true
			}
			if len(svcs) >= 4 {
				return nil
			}
		}
		return fmt.Errorf("no trace with 4 services among %d", len(r.Data))
	})

	// The pool fault makes checkout's queries time out.
	if _, err := SetRemote(ctx, http.DefaultClient, gateway, FaultPool, true); err != nil {
		t.Fatal(err)
	}
	eventually(t, 40*time.Second, func() error {
		b, err := os.ReadFile(filepath.Join(dir, "shop-logs", "checkout.log"))
		if err != nil {
			return err
		}
		if !bytes.Contains(b, []byte("Connection is not available")) || !bytes.Contains(b, []byte("\n\tat shop.checkout.")) {
			return errors.New("no pool timeout with a stack trace in checkout.log yet")
		}
		return nil
	})
}

// TestRunStopsAfterDuration: with Duration set and no DataDir, Run stops
// by itself, cleanly, and removes its temporary directory.
func TestRunStopsAfterDuration(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole demo")
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	o := DefaultOptions()
	o.HTTPAddr, o.OTLPGRPCAddr, o.OTLPHTTPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	o.Duration, o.FaultEvery = 3*time.Second, 0
	var out syncBuffer
	o.Out = &out
	start := time.Now()
	if err := Run(context.Background(), o); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if d := time.Since(start); d > 45*time.Second {
		t.Errorf("Run took %v for a 3s demo", d)
	}
	if !regexp.MustCompile(`Open  http://127\.0\.0\.1:\d+/`).MatchString(out.String()) {
		t.Errorf("no URL to open in:\n%s", out.String())
	}
	left, _ := filepath.Glob(filepath.Join(tmp, "sightline-demo-*"))
	if len(left) > 0 {
		t.Errorf("temporary data dir left behind: %v", left)
	}
}

func getJSON(u string, v any) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s: %s", u, resp.Status, b)
	}
	return json.Unmarshal(b, v)
}

func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestAgentJoinsLogbackRecords feeds what the shop writes through the
// agent's multi-line joiner, configured as the demo configures it: a
// Logback error with its exception and stack is one record whose first
// line carries the trace id; JSON and logfmt lines stay one record each.
func TestAgentJoinsLogbackRecords(t *testing.T) {
	ts := time.Date(2026, 11, 24, 16, 43, 26, 123e6, time.UTC)
	tid, _ := trace.TraceIDFromHex("0af7651916cd43dd8448eb211c80319c")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{1}})
	poolErr := &faultError{msg: "ShopPool - Connection is not available, request timed out after 150ms",
		javaClass: "java.sql.SQLTransientConnectionException", cause: "shop.db.PoolExhaustedException: all 8 connections in use"}
	for name, style := range map[string]LogStyle{"logback": StyleLogback, "json": StyleJSON, "logfmt": StyleLogfmt} {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			formatRecord(&b, style, ts, "checkout", "error", "cannot store order", sc, poolErr, nil)
			formatRecord(&b, style, ts, "checkout", "info", "order placed", sc, nil, nil)
			formatRecord(&b, style, ts, "checkout", "error", "cannot store order", sc, poolErr, nil)
			cfg := agentConfig("http://127.0.0.1:1", "checkout", style, t.TempDir(), t.TempDir())
			if err := cfg.Parse.Validate(); err != nil {
				t.Fatal(err)
			}
			j, err := parse.NewJoiner(cfg.Parse.Multiline)
			if err != nil {
				t.Fatal(err)
			}
			var recs []parse.Joined
			var off int64
			for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
				off += int64(len(line)) + 1
				recs = j.Add(recs, []byte(line), off, ts)
			}
			recs = j.Flush(recs)
			if len(recs) != 3 {
				for _, r := range recs {
					t.Logf("record: %q", r.Text)
				}
				t.Fatalf("got %d records, want 3", len(recs))
			}
			for _, i := range []int{0, 2} {
				text := string(recs[i].Text)
				if !strings.Contains(text, tid.String()) || !strings.Contains(text, "Connection is not available") {
					t.Errorf("record %d lacks the trace id or the error: %q", i, text)
				}
				if style == StyleLogback && !strings.Contains(text, "\nCaused by: shop.db.PoolExhaustedException") {
					t.Errorf("record %d lacks its stack trace: %q", i, text)
				}
			}
		})
	}
}
