package otlp

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/sightline/sightline/internal/failure"
	"github.com/sightline/sightline/internal/ingest"
)

// recorder is a sink that keeps counts of what reached it.
type recorder struct {
	mu                    sync.Mutex
	points, records, span int
	err                   error
}

func (r *recorder) ConsumeMetrics(_ context.Context, md pmetric.Metrics) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.points += md.DataPointCount()
	return r.err
}

func (r *recorder) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records += ld.LogRecordCount()
	return r.err
}

func (r *recorder) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.span += td.SpanCount()
	return r.err
}

func newMux(rec *recorder, lim *ingest.Limiter) *http.ServeMux {
	r := NewReceiver(Receiver{Metrics: rec, Logs: rec, Traces: rec, MaxRequestBytes: 1 << 20, Limiter: lim}, nil)
	mux := http.NewServeMux()
	r.Register(mux, "")
	return mux
}

func newMuxFor(r *Receiver) *http.ServeMux {
	mux := http.NewServeMux()
	r.Register(mux, "")
	return mux
}

func do(mux http.Handler, path, ct, enc string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", path, bytes.NewReader(body))
	r.Header.Set("Content-Type", ct)
	if enc != "" {
		r.Header.Set("Content-Encoding", enc)
	}
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	return w
}

func sampleLogs(n int) plog.Logs {
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for i := range n {
		lrs.AppendEmpty().Body().SetStr(fmt.Sprint("line ", i))
	}
	return ld
}

func sampleTraces(n int) ptrace.Traces {
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for i := range n {
		ss.AppendEmpty().SetName(fmt.Sprint("op", i))
	}
	return td
}

func sampleMetrics(n int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	g := ms.AppendEmpty()
	g.SetName("g")
	for i := range n {
		g.SetEmptyGauge()
		g.Gauge().DataPoints().AppendEmpty().SetDoubleValue(float64(i))
	}
	return md
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

func TestEverySignalEveryEncoding(t *testing.T) {
	rec := &recorder{}
	mux := newMux(rec, nil)
	lp, _ := plogotlp.NewExportRequestFromLogs(sampleLogs(3)).MarshalProto()
	lj, _ := plogotlp.NewExportRequestFromLogs(sampleLogs(3)).MarshalJSON()
	tp, _ := ptraceotlp.NewExportRequestFromTraces(sampleTraces(2)).MarshalProto()
	tj, _ := ptraceotlp.NewExportRequestFromTraces(sampleTraces(2)).MarshalJSON()
	mp, _ := pmetricotlp.NewExportRequestFromMetrics(sampleMetrics(1)).MarshalProto()
	mj, _ := pmetricotlp.NewExportRequestFromMetrics(sampleMetrics(1)).MarshalJSON()
	for _, tc := range []struct {
		path, ct, enc string
		body          []byte
		wantCT        string
	}{
		{"/v1/logs", "application/x-protobuf", "", lp, "application/x-protobuf"},
		{"/v1/logs", "application/json", "gzip", gz(lj), "application/json"},
		{"/v1/traces", "application/x-protobuf", "gzip", gz(tp), "application/x-protobuf"},
		{"/v1/traces", "application/json; charset=utf-8", "", tj, "application/json"},
		{"/v1/metrics", "application/x-protobuf", "", mp, "application/x-protobuf"},
		{"/v1/metrics", "application/json", "", mj, "application/json"},
	} {
		w := do(mux, tc.path, tc.ct, tc.enc, tc.body)
		if w.Code != 200 || w.Header().Get("Content-Type") != tc.wantCT {
			t.Errorf("%s %s %s: %d %q %s", tc.path, tc.ct, tc.enc, w.Code, w.Header().Get("Content-Type"), w.Body)
		}
	}
	if rec.records != 6 || rec.span != 4 || rec.points != 2 {
		t.Errorf("sinks got records=%d spans=%d points=%d; want 6, 4, 2", rec.records, rec.span, rec.points)
	}
}

func TestErrorsMapToStatuses(t *testing.T) {
	body, _ := plogotlp.NewExportRequestFromLogs(sampleLogs(1)).MarshalProto()
	for _, tc := range []struct {
		sinkErr error
		want    int
	}{
		{fmt.Errorf("head full: %w", failure.ErrOverloaded), http.StatusTooManyRequests},
		{fmt.Errorf("row too old: %w", failure.ErrInvalid), http.StatusBadRequest},
		{errors.New("disk on fire"), http.StatusInternalServerError},
	} {
		rec := &recorder{err: tc.sinkErr}
		if w := do(newMux(rec, nil), "/v1/logs", "application/x-protobuf", "", body); w.Code != tc.want {
			t.Errorf("%v: want %d, got %d", tc.sinkErr, tc.want, w.Code)
		}
	}
	// A signal with no sink is refused with 404.
	r := NewReceiver(Receiver{Metrics: &recorder{}}, nil)
	mux := http.NewServeMux()
	r.Register(mux, "")
	if w := do(mux, "/v1/logs", "application/x-protobuf", "", body); w.Code != http.StatusNotFound {
		t.Errorf("logs without a sink: want 404, got %d", w.Code)
	}
}

func TestBudgetIsReturned(t *testing.T) {
	lim := ingest.NewLimiter(1<<20, nil)
	mux := newMux(&recorder{}, lim)
	body, _ := plogotlp.NewExportRequestFromLogs(sampleLogs(10)).MarshalProto()
	for range 5 {
		do(mux, "/v1/logs", "application/x-protobuf", "", body)
		do(mux, "/v1/logs", "application/x-protobuf", "", []byte("garbage"))
	}
	if lim.InUse() != 0 {
		t.Fatalf("%d bytes still reserved", lim.InUse())
	}
}

// Empty items cost bytes on the wire but memory once decoded: a small
// gzip body of many empty log records is charged for its records and
// refused as too large when they could never fit the budget, before any
// of them is decoded; a body of real records of the same count fits a
// budget sized for it.
func TestItemsAreCharged(t *testing.T) {
	empty := plog.NewLogs()
	lrs := empty.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for range 50_000 {
		lrs.AppendEmpty()
	}
	body, _ := plogotlp.NewExportRequestFromLogs(empty).MarshalProto()
	rec := &recorder{}
	lim := ingest.NewLimiter(4<<20, nil) // 50k records need ~50 MB
	w := do(newMux(rec, lim), "/v1/logs", "application/x-protobuf", "gzip", gz(body))
	if w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(w.Body.String(), "50000 log records") {
		t.Fatalf("want 413 naming the records, got %d %s", w.Code, w.Body)
	}
	if rec.records != 0 || lim.InUse() != 0 {
		t.Fatalf("refused request reached the sink (%d records) or kept %d bytes", rec.records, lim.InUse())
	}
	// Another request holds the budget: the items make this one wait (429).
	big := ingest.NewLimiter(64<<20, nil)
	if err := big.Acquire(32 << 20); err != nil {
		t.Fatal(err)
	}
	if w := do(newMux(rec, big), "/v1/logs", "application/x-protobuf", "gzip", gz(body)); w.Code != http.StatusTooManyRequests {
		t.Fatalf("want 429 while the budget is held, got %d %s", w.Code, w.Body)
	}
	big.Release(32 << 20)
	if w := do(newMux(rec, big), "/v1/logs", "application/x-protobuf", "gzip", gz(body)); w.Code != 200 || rec.records != 50_000 {
		t.Fatalf("with the budget free: %d %s, %d records", w.Code, w.Body, rec.records)
	}
}

// OTLP/JSON bodies are charged for their items too: log records, spans
// and data points counted by where their objects sit, each of which the
// JSON below checks against what the decoder makes of it.
func TestJSONItemsAreCharged(t *testing.T) {
	logs := plog.NewLogs()
	lrs := logs.ResourceLogs().AppendEmpty()
	lrs.Resource().Attributes().PutStr("service.name", "svc")
	recs := lrs.ScopeLogs().AppendEmpty().LogRecords()
	for range 20_000 {
		recs.AppendEmpty().Body().SetStr("x")
	}
	traces := sampleTraces(3)
	metrics := sampleMetrics(4)
	lj, _ := plogotlp.NewExportRequestFromLogs(logs).MarshalJSON()
	tj, _ := ptraceotlp.NewExportRequestFromTraces(traces).MarshalJSON()
	mj, _ := pmetricotlp.NewExportRequestFromMetrics(metrics).MarshalJSON()
	_, what := logJSON(lj)
	if what != "20001 log records" { // the records and one resource attribute
		t.Errorf("logs: %s", what)
	}
	want := traces.SpanCount()
	for i := range traces.ResourceSpans().Len() {
		want += traces.ResourceSpans().At(i).Resource().Attributes().Len()
	}
	if _, what := spanJSON(tj); what != fmt.Sprintf("%d spans", want) {
		t.Errorf("traces: %s, %d spans", what, traces.SpanCount())
	}
	if _, what := metricJSON(mj); what != fmt.Sprintf("%d data points", metrics.DataPointCount()) {
		t.Errorf("metrics: %s, %d data points", what, metrics.DataPointCount())
	}

	rec := &recorder{}
	lim := ingest.NewLimiter(4<<20, nil) // 20k records need ~20 MB
	w := do(newMux(rec, lim), "/v1/logs", "application/json", "gzip", gz(lj))
	if w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(w.Body.String(), "20001 log records") {
		t.Fatalf("want 413 naming the records, got %d %s", w.Code, w.Body)
	}
	if rec.records != 0 || lim.InUse() != 0 {
		t.Fatalf("refused request reached the sink (%d records) or kept %d bytes", rec.records, lim.InUse())
	}
	big := ingest.NewLimiter(64<<20, nil)
	if w := do(newMux(rec, big), "/v1/logs", "application/json", "gzip", gz(lj)); w.Code != 200 || rec.records != 20_000 {
		t.Fatalf("with room in the budget: %d %s, %d records", w.Code, w.Body, rec.records)
	}
}

// FuzzOTLPHTTP: arbitrary bodies in every signal and encoding give 200 or
// a 4xx, never a panic or a 5xx, and what is accepted reaches the sink.
func FuzzOTLPHTTP(f *testing.F) {
	lp, _ := plogotlp.NewExportRequestFromLogs(sampleLogs(2)).MarshalProto()
	tj, _ := ptraceotlp.NewExportRequestFromTraces(sampleTraces(2)).MarshalJSON()
	mp, _ := pmetricotlp.NewExportRequestFromMetrics(sampleMetrics(2)).MarshalProto()
	f.Add(lp, uint8(0))
	f.Add(tj, uint8(4))
	f.Add(mp, uint8(2))
	f.Add([]byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"x"}}]}]}]}`), uint8(1))
	f.Add(gz(lp), uint8(6))
	paths := []string{"/v1/logs", "/v1/traces", "/v1/metrics"}
	f.Fuzz(func(t *testing.T, body []byte, sel uint8) {
		rec := &recorder{}
		mux := newMux(rec, nil)
		ct := "application/x-protobuf"
		if sel&1 == 1 {
			ct = "application/json"
		}
		enc := ""
		if sel&4 != 0 {
			enc = "gzip"
		}
		path := paths[int(sel>>1)%3]
		w := do(mux, path, ct, enc, body)
		if w.Code != 200 && (w.Code < 400 || w.Code >= 500) {
			t.Fatalf("%s %s %s: status %d %s", path, ct, enc, w.Code, w.Body)
		}
	})
}
