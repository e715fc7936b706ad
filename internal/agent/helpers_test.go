package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/sightline/sightline/internal/agent/ship"
	"github.com/sightline/sightline/internal/ingest/otlp"
	"github.com/sightline/sightline/internal/logstore"
	"github.com/sightline/sightline/internal/model"
)

// storedRecord is one record the receiver kept.
type storedRecord struct {
	body    string
	path    string
	batch   string
	attrs   map[string]any
	res     map[string]any
	seqBody int // parsed "seq=N", -1 when absent
}

// receiver is an OTLP/HTTP logs endpoint that decodes every request and,
// like the server, drops a batch id it has already stored.
type receiver struct {
	mu       sync.Mutex
	down     bool
	ids      map[string]bool
	stored   []storedRecord
	arrivals map[string][]string // body -> batch ids of every arrival
	dupes    int                 // requests dropped as exact retries
	requests int
}

func newReceiver() *receiver {
	return &receiver{ids: map[string]bool{}, arrivals: map[string][]string{}}
}

func (rc *receiver) setDown(d bool) {
	rc.mu.Lock()
	rc.down = d
	rc.mu.Unlock()
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	down := rc.down
	rc.requests++
	rc.mu.Unlock()
	if down {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	if r.URL.Path != ship.DefaultPath {
		http.NotFound(w, r)
		return
	}
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalProto(raw); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id := r.Header.Get(ship.BatchIDHeader)
	if id == "" {
		http.Error(w, "missing batch id", http.StatusBadRequest)
		return
	}
	var recs []storedRecord
	rls := req.Logs().ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			lrs := rl.ScopeLogs().At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				attrs := lr.Attributes().AsRaw()
				path, _ := attrs["log.file.path"].(string)
				recs = append(recs, storedRecord{body: lr.Body().Str(), path: path, batch: id, attrs: attrs, res: rl.Resource().Attributes().AsRaw(), seqBody: seqOf(lr.Body().Str())})
			}
		}
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, r := range recs {
		rc.arrivals[r.body] = append(rc.arrivals[r.body], id)
	}
	if rc.ids[id] {
		rc.dupes++
		return
	}
	rc.ids[id] = true
	rc.stored = append(rc.stored, recs...)
}

func seqOf(body string) int {
	_, rest, ok := strings.Cut(body, "seq=")
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(strings.Fields(rest)[0])
	if err != nil {
		return -1
	}
	return n
}

// count returns the number of distinct line numbers stored.
func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	seen := map[int]bool{}
	for _, r := range rc.stored {
		seen[r.seqBody] = true
	}
	return len(seen)
}

func (rc *receiver) snapshot() []storedRecord {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.stored)
}

// checkExactlyOnceInOrder verifies seq 0..n-1 each stored once and
// increasing in arrival order per log.file.path (a file whose rotation the
// agent did not witness, because it was paused or down, is a file of its
// own). With wantPath set, every record must carry that path (the agent saw
// every rotation).
func checkExactlyOnceInOrder(t *testing.T, recs []storedRecord, n int, wantPath string) {
	t.Helper()
	seen := make([]int, n)
	last := map[string]int{}
	for _, r := range recs {
		if r.seqBody < 0 || r.seqBody >= n {
			t.Fatalf("unexpected record %q", r.body)
		}
		seen[r.seqBody]++
		if l, ok := last[r.path]; ok && r.seqBody <= l {
			t.Log(runs(recs))
			t.Fatalf("out of order in %s: seq %d after %d (batch %s)", r.path, r.seqBody, l, r.batch)
		}
		last[r.path] = r.seqBody
		if wantPath != "" && r.path != wantPath {
			t.Log(runs(recs))
			t.Fatalf("seq %d has log.file.path %q, want %q", r.seqBody, r.path, wantPath)
		}
	}
	var missing, dup []int
	for i, c := range seen {
		if c == 0 {
			missing = append(missing, i)
		} else if c > 1 {
			dup = append(dup, i)
		}
	}
	if len(missing) > 0 || len(dup) > 0 {
		t.Log(runs(recs))
		t.Fatalf("%d missing (first %v), %d duplicated (first %v)", len(missing), head(missing), len(dup), head(dup))
	}
}

func head(s []int) []int { return s[:min(len(s), 10)] }

// logWriter appends numbered lines and rotates its file both ways.
type logWriter struct {
	t    *testing.T
	path string
	f    *os.File
	seq  int
	pad  string
}

func newLogWriter(t *testing.T, path string) *logWriter {
	w := &logWriter{t: t, path: path, pad: strings.Repeat("p", 80)}
	w.reopen()
	return w
}

func (w *logWriter) reopen() {
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		w.t.Error(err)
		return
	}
	w.f = f
}

func (w *logWriter) line() {
	fmt.Fprintf(w.f, "2024-01-02T03:04:05Z INFO seq=%d %s\n", w.seq, w.pad)
	w.seq++
}

// shift renames .k to .k+1 for every kept generation (like logrotate with
// enough rotations kept that nothing is deleted during a test).
func (w *logWriter) shift() {
	for k := 30; k >= 1; k-- {
		from := fmt.Sprintf("%s.%d", w.path, k)
		if _, err := os.Stat(from); err == nil {
			if err := os.Rename(from, fmt.Sprintf("%s.%d", w.path, k+1)); err != nil {
				w.t.Error(err)
			}
		}
	}
}

func (w *logWriter) rotateRename() {
	w.shift()
	if err := os.Rename(w.path, w.path+".1"); err != nil {
		w.t.Error(err)
	}
	w.line() // the application writes once more before reopening
	w.f.Close()
	w.reopen()
}

func (w *logWriter) rotateCopyTruncate() {
	w.shift()
	b, err := os.ReadFile(w.path)
	if err != nil {
		w.t.Error(err)
		return
	}
	if err := os.WriteFile(w.path+".1", b, 0o644); err != nil {
		w.t.Error(err)
	}
	if err := os.Truncate(w.path, 0); err != nil {
		w.t.Error(err)
	}
}

func (w *logWriter) close() { w.f.Close() }

// writeSteadily writes n lines, rotating every `every` lines alternating
// the two styles, pausing so that the rate is steady.
func (w *logWriter) writeSteadily(ctx context.Context, n, every int, pause time.Duration) {
	for i := 0; i < n && ctx.Err() == nil; {
		w.line()
		i++
		if i%every == 0 && i < n {
			if (i/every)%2 == 1 {
				w.rotateRename()
				i++
			} else {
				w.rotateCopyTruncate()
			}
		}
		if i%10 == 0 {
			time.Sleep(pause)
		}
	}
}

func testConfig(dir, server string) Config {
	cfg := DefaultConfig()
	cfg.Server = server
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Paths = []string{filepath.Join(dir, "logs", "*.log*")}
	cfg.Tail.PollInterval = 20 * time.Millisecond
	cfg.Tail.CloseInactive = 500 * time.Millisecond
	cfg.Parse.Multiline.FlushTimeout = 100 * time.Millisecond
	cfg.Batch.MaxWait = 50 * time.Millisecond
	cfg.Batch.MaxRecords = 100
	cfg.CheckpointInterval = 100 * time.Millisecond
	cfg.Ship.MinBackoff = 10 * time.Millisecond
	cfg.Ship.MaxBackoff = 100 * time.Millisecond
	cfg.Buffer.MaxBytes = 64 << 10
	cfg.Buffer.SegmentBytes = 16 << 10
	return cfg
}

// startAgent runs an agent in the background; stop cancels and returns Run's error.
func startAgent(t *testing.T, cfg Config, crash bool) (a *Agent, reg *prometheus.Registry, stop func() error) {
	t.Helper()
	reg = prometheus.NewRegistry()
	logger := slog.New(slog.NewTextHandler(&testLogSink{t: t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := New(cfg, logger, reg)
	if err != nil {
		t.Fatal(err)
	}
	a.crashOnStop = crash
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	return a, reg, func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			t.Fatal("agent did not stop")
			return nil
		}
	}
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newServer(t *testing.T) (*receiver, *httptest.Server) {
	rc := newReceiver()
	srv := httptest.NewServer(rc)
	return rc, srv
}

func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

// waitAll waits until n records are stored; on timeout it reports what is
// missing or duplicated.
func waitAll(t *testing.T, rc *receiver, n int, path string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for rc.count() < n {
		if time.Now().After(deadline) {
			checkExactlyOnceInOrder(t, rc.snapshot(), n, path)
			t.Fatalf("timed out with %d of %d records", rc.count(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runs summarises records as batch:first-last runs of consecutive seqs.
func runs(recs []storedRecord) string {
	var sb strings.Builder
	for i := 0; i < len(recs); {
		j := i
		for j+1 < len(recs) && recs[j+1].batch == recs[i].batch && recs[j+1].seqBody == recs[j].seqBody+1 && recs[j+1].path == recs[i].path {
			j++
		}
		fmt.Fprintf(&sb, "%s:%d-%d(%s) ", recs[i].batch[strings.LastIndexByte(recs[i].batch, '-')+1:], recs[i].seqBody, recs[j].seqBody, filepath.Base(recs[i].path))
		i = j + 1
	}
	return sb.String()
}

// testLogSink keeps the agent's debug log and prints it when the test fails.
type testLogSink struct {
	t          *testing.T
	mu         sync.Mutex
	b          []byte
	registered bool
}

func (s *testLogSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.registered {
		s.registered = true
		s.t.Cleanup(func() {
			if s.t.Failed() && os.Getenv("AGENT_TEST_LOG") != "" {
				s.mu.Lock()
				defer s.mu.Unlock()
				os.WriteFile(fmt.Sprintf("%s.%d", os.Getenv("AGENT_TEST_LOG"), time.Now().UnixNano()), s.b, 0o644)
			}
		})
	}
	s.b = append(s.b, p...)
	return len(p), nil
}

// streamServer is the server's own OTLP/HTTP decoding and row conversion:
// it keeps every row's stream labels, as the log store would see them.
type streamServer struct {
	schema *logstore.Schema
	mu     sync.Mutex
	rows   []model.Event
}

func (s *streamServer) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	rows := s.schema.ConvertOTLP("", ld, time.Now().UnixNano())
	s.mu.Lock()
	s.rows = append(s.rows, rows...)
	s.mu.Unlock()
	return nil
}

func (s *streamServer) snapshot() []model.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rows)
}

func newStreamServer(t *testing.T) (*streamServer, *httptest.Server) {
	t.Helper()
	schema, err := logstore.NewSchema(logstore.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	ss := &streamServer{schema: schema}
	mux := http.NewServeMux()
	otlp.NewReceiver(otlp.Receiver{Logs: ss}, nil).Register(mux, "/otlp")
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return ss, srv
}
