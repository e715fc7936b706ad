package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sightline/sightline/internal/agent/buffer"
	"github.com/sightline/sightline/internal/agent/ship"
	"github.com/sightline/sightline/internal/failure"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeServer records delivered batches; while down it fails deliveries
// until ctx ends, as ship.Client retries do.
type fakeServer struct {
	mu      sync.Mutex
	down    bool
	reject  map[uint64]bool
	ids     []string
	bodies  []string
	tokens  []string
	changed chan struct{}
}

func newFakeServer() *fakeServer {
	return &fakeServer{reject: map[uint64]bool{}, changed: make(chan struct{}, 1)}
}

func (f *fakeServer) setDown(d bool) {
	f.mu.Lock()
	f.down = d
	f.mu.Unlock()
}

func (f *fakeServer) Deliver(ctx context.Context, b *ship.Batch) error {
	for {
		f.mu.Lock()
		down := f.down
		f.mu.Unlock()
		if !down {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reject[b.Seq] {
		return fmt.Errorf("deliver: %w", ship.ErrRejected)
	}
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalProto(b.Logs); err != nil {
		return err
	}
	f.ids = append(f.ids, b.ID)
	rls := req.Logs().ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		for j := 0; j < rls.At(i).ScopeLogs().Len(); j++ {
			lrs := rls.At(i).ScopeLogs().At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				f.bodies = append(f.bodies, lrs.At(k).Body().Str())
			}
		}
	}
	return nil
}

func (f *fakeServer) snapshot() (ids, bodies []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.ids...), append([]string(nil), f.bodies...)
}

func logsPayload(t testing.TB, bodies ...string) ([]byte, int) {
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for _, b := range bodies {
		lrs.AppendEmpty().Body().SetStr(b)
	}
	p, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return p, len(bodies)
}

func testBuffer() buffer.Options {
	o := buffer.DefaultOptions()
	o.MaxBytes, o.SegmentBytes = 1<<20, 4<<10
	return o
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func runOutbox(o *Outbox, d Deliverer) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { o.Run(ctx, d); close(done) }()
	return func() { cancel(); <-done }
}

// TestOutboxRestartResendsWithSameIDs: batches put while the server is
// down survive a crash (no clean shutdown) and are delivered after the
// restart with their original ids; acknowledged ones are not re-sent; the
// resume token is the last batch's.
func TestOutboxRestartResendsWithSameIDs(t *testing.T) {
	dir := t.TempDir()
	srv := newFakeServer()
	o, err := OpenOutbox(dir, "journald", "agent1", testBuffer(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runOutbox(o, srv)
	for i := 1; i <= 3; i++ {
		p, n := logsPayload(t, fmt.Sprintf("line %d", i))
		if err := o.Put(context.Background(), p, n, fmt.Sprintf("cursor-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "3 delivered", func() bool { ids, _ := srv.snapshot(); return len(ids) == 3 })
	srv.setDown(true)
	for i := 4; i <= 6; i++ {
		p, n := logsPayload(t, fmt.Sprintf("line %d", i))
		if err := o.Put(context.Background(), p, n, fmt.Sprintf("cursor-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	o.Close() // the files stay as a crash leaves them

	o, err = OpenOutbox(dir, "journald", "agent1", testBuffer(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if got := o.Resume(); got != "cursor-6" {
		t.Fatalf("resume token %q, want cursor-6", got)
	}
	if o.Len() != 3 {
		t.Fatalf("%d batches pending after restart, want 3", o.Len())
	}
	srv.setDown(false)
	stop = runOutbox(o, srv)
	defer stop()
	waitFor(t, "6 delivered", func() bool { ids, _ := srv.snapshot(); return len(ids) == 6 })
	ids, bodies := srv.snapshot()
	for i, id := range ids {
		if want := fmt.Sprintf("agent1-journald-%d", i+1); id != want {
			t.Fatalf("batch %d id %q, want %q (all %v)", i, id, want, ids)
		}
		if want := fmt.Sprintf("line %d", i+1); bodies[i] != want {
			t.Fatalf("body %d %q, want %q", i, bodies[i], want)
		}
	}
	// A new put continues the sequence.
	p, n := logsPayload(t, "line 7")
	if err := o.Put(context.Background(), p, n, ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "7th", func() bool { ids, _ := srv.snapshot(); return len(ids) == 7 })
	if ids, _ := srv.snapshot(); ids[6] != "agent1-journald-7" {
		t.Fatalf("7th id %q", ids[6])
	}
	if o.Resume() != "cursor-6" {
		t.Fatalf("an empty token must keep the previous one, got %q", o.Resume())
	}
}

func TestOutboxRejectedBatchMovesOn(t *testing.T) {
	srv := newFakeServer()
	srv.reject[1] = true
	o, err := OpenOutbox(t.TempDir(), "relay", "a", testBuffer(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	stop := runOutbox(o, srv)
	defer stop()
	for _, b := range []string{"bad", "good"} {
		p, n := logsPayload(t, b)
		o.Put(context.Background(), p, n, "")
	}
	waitFor(t, "good delivered", func() bool { _, b := srv.snapshot(); return len(b) == 1 && b[0] == "good" })
	waitFor(t, "empty", func() bool { return o.Len() == 0 })
}

// TestRelayHTTPAndGRPC sends OTLP logs over both transports while the
// server is down: each request is answered only once durable; everything
// arrives once, in order, with the agent's labels on resources that lack
// them.
func TestRelayHTTPAndGRPC(t *testing.T) {
	srv := newFakeServer()
	srv.setDown(true)
	o, err := OpenOutbox(t.TempDir(), "relay", "a", testBuffer(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	opts := DefaultOptions()
	opts.HTTPAddr, opts.GRPCAddr = "127.0.0.1:0", "127.0.0.1:0"
	r, err := New(opts, Outboxes{Logs: o}, map[string]string{"k8s.node.name": "n1"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	serve, err := r.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx) }()
	stopOut := runOutbox(o, srv)

	for i := range 5 {
		p, _ := logsPayload(t, fmt.Sprintf("http %d", i))
		resp, err := http.Post("http://"+r.Addr().String()+"/v1/logs", "application/x-protobuf", bytes.NewReader(p))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("http status %d", resp.StatusCode)
		}
	}
	conn, err := grpc.NewClient(r.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	gc := plogotlp.NewGRPCClient(conn)
	for i := range 5 {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("k8s.node.name", "mine")
		rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr(fmt.Sprintf("grpc %d", i))
		if _, err := gc.Export(context.Background(), plogotlp.NewExportRequestFromLogs(ld)); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close()
	if o.Len() != 10 {
		t.Fatalf("%d batches buffered while the server is down, want 10", o.Len())
	}
	srv.setDown(false)
	waitFor(t, "10 delivered", func() bool { _, b := srv.snapshot(); return len(b) == 10 })
	stopOut()
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	_, bodies := srv.snapshot()
	for i, b := range bodies {
		want := fmt.Sprintf("http %d", i)
		if i >= 5 {
			want = fmt.Sprintf("grpc %d", i-5)
		}
		if b != want {
			t.Fatalf("body %d = %q, want %q", i, b, want)
		}
	}
}

func TestRelayLabelsFillOnlyMissing(t *testing.T) {
	o, err := OpenOutbox(t.TempDir(), "relay", "a", testBuffer(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	r, _ := New(DefaultOptions(), Outboxes{Logs: o}, map[string]string{"cluster": "c1", "service.name": "default"}, nil, nil)
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "app")
	rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("x")
	if err := r.ConsumeLogs(context.Background(), ld); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	e, err := o.buf.Peek(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, logs, err := decodeEntry(e.Data)
	if err != nil {
		t.Fatal(err)
	}
	req := plogotlp.NewExportRequest()
	req.UnmarshalProto(logs)
	attrs := req.Logs().ResourceLogs().At(0).Resource().Attributes().AsRaw()
	if attrs["service.name"] != "app" || attrs["cluster"] != "c1" {
		t.Fatalf("resource %v", attrs)
	}
}

func TestRelayFullBufferAnswers503(t *testing.T) {
	bo := testBuffer()
	bo.MaxBytes = 64
	o, err := OpenOutbox(t.TempDir(), "relay", "a", bo, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	opts := DefaultOptions()
	opts.FullTimeout = 50 * time.Millisecond
	r, _ := New(opts, Outboxes{Logs: o}, nil, nil, nil)
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr(string(make([]byte, 100)))
	if err := r.ConsumeLogs(context.Background(), ld); err != nil {
		t.Fatalf("first batch into an empty buffer: %v", err)
	}
	err = r.ConsumeLogs(context.Background(), ld)
	if err == nil || !errors.Is(err, failure.ErrUnavailable) {
		t.Fatalf("full buffer: %v", err)
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(appendEntry(nil, 7, 2, "s=abc;i=1", []byte{1, 2, 3}))
	f.Add(appendEntry(nil, 0, 0, "", nil))
	f.Add([]byte{1, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		seq, n, tok, logs, err := decodeEntry(b)
		if err != nil {
			return
		}
		again := appendEntry(nil, seq, n, tok, logs)
		s2, n2, t2, l2, err := decodeEntry(again)
		if err != nil || s2 != seq || n2 != n || t2 != tok || !bytes.Equal(l2, logs) {
			t.Fatalf("round trip: %v %d %d %q", err, s2, n2, t2)
		}
	})
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRelayPut measures a relayed request of 100 records from
// decoded OTLP to fsynced in the outbox; cpu-ns/record is process CPU.
func BenchmarkRelayPut(b *testing.B) {
	o, err := OpenOutbox(b.TempDir(), "relay", "a", buffer.Options{MaxBytes: 1 << 40, SegmentBytes: 64 << 20}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	r, _ := New(DefaultOptions(), Outboxes{Logs: o}, map[string]string{"cluster": "c1"}, nil, nil)
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "app")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for i := range 100 {
		lr := lrs.AppendEmpty()
		lr.Body().SetStr(fmt.Sprintf("GET /api/items/%d 200 12ms user=42 trace=abcdef0123456789", i))
		lr.Attributes().PutStr("http.method", "GET")
	}
	b.ReportAllocs()
	start := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		if err := r.ConsumeLogs(context.Background(), ld); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N*100), "cpu-ns/record")
}

// TestRelayTracesAndMetrics: traces and metrics go to their own outboxes
// with the agent's labels; a signal without an outbox is refused (404).
func TestRelayTracesAndMetrics(t *testing.T) {
	open := func(name string) *Outbox {
		o, err := OpenOutbox(t.TempDir(), name, "a", testBuffer(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { o.Close() })
		return o
	}
	traces, metrics := open("relay-traces"), open("relay-metrics")
	opts := DefaultOptions()
	opts.HTTPAddr = "127.0.0.1:0"
	r, err := New(opts, Outboxes{Traces: traces, Metrics: metrics}, map[string]string{"cluster": "c1"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	serve, err := r.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx) }()
	defer func() { cancel(); <-served }()
	post := func(path, body string) int {
		resp, err := http.Post("http://"+r.Addr().String()+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := post("/v1/traces", `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"GET /"}]}]}]}`); c != http.StatusOK {
		t.Fatalf("traces: %d", c)
	}
	if c := post("/v1/metrics", `{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","gauge":{"dataPoints":[{"asDouble":1},{"asDouble":2}]}}]}]}]}`); c != http.StatusOK {
		t.Fatalf("metrics: %d", c)
	}
	if c := post("/v1/logs", `{"resourceLogs":[]}`); c != http.StatusNotFound {
		t.Fatalf("logs without an outbox: %d", c)
	}
	peek := func(o *Outbox) (int, []byte) {
		pctx, pcancel := context.WithTimeout(context.Background(), time.Second)
		defer pcancel()
		e, err := o.buf.Peek(pctx)
		if err != nil {
			t.Fatal(err)
		}
		_, n, _, payload, err := decodeEntry(e.Data)
		if err != nil {
			t.Fatal(err)
		}
		return n, payload
	}
	n, payload := peek(traces)
	tr := ptraceotlp.NewExportRequest()
	if err := tr.UnmarshalProto(payload); err != nil || n != 1 {
		t.Fatalf("traces entry: %v, %d spans", err, n)
	}
	if v, _ := tr.Traces().ResourceSpans().At(0).Resource().Attributes().Get("cluster"); v.Str() != "c1" {
		t.Fatal("traces resource lacks the agent's labels")
	}
	n, payload = peek(metrics)
	mr := pmetricotlp.NewExportRequest()
	if err := mr.UnmarshalProto(payload); err != nil || n != 2 {
		t.Fatalf("metrics entry: %v, %d points", err, n)
	}
}
