package otlp

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/sightline/sightline/internal/failure"
	"github.com/sightline/sightline/internal/ingest"
)

// rawRecorder takes trace requests as bytes; it decodes them with pdata
// to check what arrived is the request that was sent.
type rawRecorder struct {
	recorder
	mu      sync.Mutex
	raw     int // requests that arrived as bytes
	tenants []string
}

func (r *rawRecorder) ConsumeTracesProto(ctx context.Context, body []byte) (int, error) {
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		return 0, err
	}
	r.mu.Lock()
	r.raw++
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		r.tenants = append(r.tenants, md.Get("x-scope-orgid")...)
	}
	r.mu.Unlock()
	n := req.Traces().SpanCount()
	return n, r.ConsumeTraces(ctx, req.Traces())
}

// serveGRPC serves rcv's OTLP services on an ingest gRPC server with
// budget lim on 127.0.0.1 and returns a client connection to it.
func serveGRPC(t *testing.T, rcv *Receiver, lim *ingest.Limiter) *grpc.ClientConn {
	t.Helper()
	srv := ingest.NewGRPCServer(1<<20, lim, nil)
	rcv.RegisterGRPC(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestRawTracesGRPC(t *testing.T) {
	rec := &rawRecorder{}
	lim := ingest.NewLimiter(1<<20, nil)
	conn := serveGRPC(t, NewReceiver(Receiver{Traces: rec, MaxRequestBytes: 1 << 20}, nil), lim)
	var err error
	client := ptraceotlp.NewGRPCClient(conn)

	for _, n := range []int{0, 1, 300} {
		ctx := metadata.AppendToOutgoingContext(context.Background(), "X-Scope-OrgID", "team-a")
		if _, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(sampleTraces(n))); err != nil {
			t.Fatalf("export %d spans: %v", n, err)
		}
	}
	if rec.raw != 3 || rec.span != 301 {
		t.Fatalf("raw requests %d spans %d, want 3 and 301", rec.raw, rec.span)
	}
	if len(rec.tenants) != 3 || rec.tenants[0] != "team-a" {
		t.Fatalf("tenants seen %v, want team-a thrice (metadata reaches the sink)", rec.tenants)
	}
	if lim.InUse() != 0 {
		t.Fatalf("limiter holds %d bytes after the requests", lim.InUse())
	}

	// 2000 spans could never fit the 1 MiB budget once decoded: refused
	// before the sink decodes them, and the budget is returned.
	_, err = client.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(sampleTraces(2000)))
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "2000 spans") {
		t.Fatalf("2000 spans: got %v, want ResourceExhausted naming them", err)
	}
	if rec.raw != 3 || lim.InUse() != 0 {
		t.Fatalf("refused request reached the sink (%d requests) or kept %d bytes", rec.raw, lim.InUse())
	}

	// A sink error maps to its gRPC code.
	rec.recorder.err = failure.ErrOverloaded
	_, err = client.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(sampleTraces(2)))
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("overloaded sink: got %v, want ResourceExhausted", err)
	}
}

func TestRawTracesHTTP(t *testing.T) {
	rec := &rawRecorder{}
	rcv := NewReceiver(Receiver{Traces: rec, MaxRequestBytes: 1 << 20}, nil)
	mux := newMuxFor(rcv)
	td := sampleTraces(5)
	pb, _ := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if w := do(mux, "/v1/traces", "application/x-protobuf", "", pb); w.Code != 200 {
		t.Fatalf("protobuf: %d %s", w.Code, w.Body)
	}
	js, _ := ptraceotlp.NewExportRequestFromTraces(td).MarshalJSON()
	if w := do(mux, "/v1/traces", "application/json", "", js); w.Code != 200 {
		t.Fatalf("json: %d %s", w.Code, w.Body)
	}
	// Protobuf arrives as bytes, JSON as pdata.
	if rec.raw != 1 || rec.span != 10 {
		t.Fatalf("raw %d spans %d, want 1 and 10", rec.raw, rec.span)
	}
}

// Every signal arrives over gRPC as bytes, is counted and charged before
// it is decoded, then reaches its pdata sink (traces too, for a sink
// without RawTracesSink).
func TestGRPCEverySignal(t *testing.T) {
	rec := &recorder{}
	lim := ingest.NewLimiter(1<<20, nil)
	conn := serveGRPC(t, NewReceiver(Receiver{Metrics: rec, Logs: rec, Traces: rec, MaxRequestBytes: 1 << 20}, nil), lim)
	var err error
	ctx := context.Background()
	if _, err := plogotlp.NewGRPCClient(conn).Export(ctx, plogotlp.NewExportRequestFromLogs(sampleLogs(3))); err != nil {
		t.Fatal(err)
	}
	if _, err := pmetricotlp.NewGRPCClient(conn).Export(ctx, pmetricotlp.NewExportRequestFromMetrics(sampleMetrics(1))); err != nil {
		t.Fatal(err)
	}
	if _, err := ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(sampleTraces(4))); err != nil {
		t.Fatal(err)
	}
	if rec.records != 3 || rec.points != 1 || rec.span != 4 {
		t.Fatalf("sinks got records=%d points=%d spans=%d; want 3, 1, 4", rec.records, rec.points, rec.span)
	}
	// 5000 empty records are ~10 KB on the wire and ~5 MB decoded.
	empty := plog.NewLogs()
	lrs := empty.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for range 5000 {
		lrs.AppendEmpty()
	}
	_, err = plogotlp.NewGRPCClient(conn).Export(ctx, plogotlp.NewExportRequestFromLogs(empty))
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "5000 log records") {
		t.Fatalf("5000 empty records: got %v, want ResourceExhausted naming them", err)
	}
	if rec.records != 3 || lim.InUse() != 0 {
		t.Fatalf("refused request reached the sink (%d records) or kept %d bytes", rec.records, lim.InUse())
	}
}
