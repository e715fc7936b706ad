package zipkin

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sightline/sightline/internal/ingest"
)

const sample = `[{"traceId":"5af7183fb1d4cf5f","id":"6b221d5bc9e6496c","name":"get /api","kind":"SERVER",
 "timestamp":1700000000000000,"duration":150000,"localEndpoint":{"serviceName":"backend","ipv4":"192.168.99.1","port":3306},
 "remoteEndpoint":{"ipv4":"172.19.0.2","port":58648},"tags":{"http.method":"GET","error":"boom"},
 "annotations":[{"timestamp":1700000000050000,"value":"cache miss"}]},
 {"traceId":"5af7183fb1d4cf5f","parentId":"6b221d5bc9e6496c","id":"352bff9a74ca9ad2","name":"query","kind":"CLIENT",
 "timestamp":1700000000010000,"duration":20000,"localEndpoint":{"serviceName":"backend"},"remoteEndpoint":{"serviceName":"mysql"}}]`

func TestDecode(t *testing.T) {
	td, err := Decode([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if td.SpanCount() != 2 || td.ResourceSpans().Len() != 1 {
		t.Fatalf("spans = %d resources = %d", td.SpanCount(), td.ResourceSpans().Len())
	}
	rs := td.ResourceSpans().At(0)
	if v, _ := rs.Resource().Attributes().Get("service.name"); v.Str() != "backend" {
		t.Errorf("service = %v", v.Str())
	}
	spans := rs.ScopeSpans().At(0).Spans()
	s := spans.At(0)
	if s.TraceID().String() != "00000000000000005af7183fb1d4cf5f" || s.SpanID().String() != "6b221d5bc9e6496c" {
		t.Errorf("ids = %s %s", s.TraceID(), s.SpanID())
	}
	if s.Kind() != ptrace.SpanKindServer || s.Status().Code() != ptrace.StatusCodeError || s.Status().Message() != "boom" {
		t.Errorf("kind/status = %v %v %q", s.Kind(), s.Status().Code(), s.Status().Message())
	}
	if s.StartTimestamp() != 1700000000000000000 || s.EndTimestamp()-s.StartTimestamp() != 150000000 {
		t.Errorf("times = %d %d", s.StartTimestamp(), s.EndTimestamp())
	}
	if s.Events().Len() != 1 || s.Events().At(0).Name() != "cache miss" {
		t.Errorf("events = %d", s.Events().Len())
	}
	if v, _ := s.Attributes().Get("http.method"); v.Str() != "GET" {
		t.Errorf("tag = %v", v.Str())
	}
	c := spans.At(1)
	if c.ParentSpanID().String() != "6b221d5bc9e6496c" || c.Kind() != ptrace.SpanKindClient {
		t.Errorf("child = %s %v", c.ParentSpanID(), c.Kind())
	}
	if v, _ := c.Attributes().Get("peer.service"); v.Str() != "mysql" {
		t.Errorf("peer.service = %q", v.Str())
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, bad := range []string{
		`{`, `{"traceId":"1"}`, `[{"traceId":"zz","id":"6b221d5bc9e6496c"}]`,
		`[{"traceId":"5af7183fb1d4cf5f","id":"6b22"}]`,
		`[{"traceId":"5af7183fb1d4cf5f","id":"6b221d5bc9e6496c","kind":"SIDEWAYS"}]`,
		`[{"traceId":"5af7183fb1d4cf5f","id":"6b221d5bc9e6496c","timestamp":-1}]`,
	} {
		if _, err := Decode([]byte(bad)); err == nil {
			t.Errorf("Decode(%s) succeeded", bad)
		}
	}
}

type sinkFunc func(context.Context, ptrace.Traces) error

func (f sinkFunc) ConsumeTraces(ctx context.Context, td ptrace.Traces) error { return f(ctx, td) }

func TestHandler(t *testing.T) {
	var got int
	h := &Handler{Sink: sinkFunc(func(_ context.Context, td ptrace.Traces) error { got += td.SpanCount(); return nil }), MaxRequestBytes: 1 << 20}
	mux := http.NewServeMux()
	h.Register(mux)
	tests := []struct {
		ct, body string
		code     int
	}{
		{"application/json", sample, 202},
		{"application/x-protobuf", "x", 415},
		{"application/json", "[{]", 400},
	}
	for _, tc := range tests {
		req := httptest.NewRequest("POST", "/api/v2/spans", bytes.NewBufferString(tc.body))
		req.Header.Set("Content-Type", tc.ct)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != tc.code {
			t.Errorf("%s %q: %d, want %d (%s)", tc.ct, tc.body[:min(10, len(tc.body))], rec.Code, tc.code, rec.Body)
		}
	}
	if got != 2 {
		t.Errorf("sink got %d spans", got)
	}
}

// A span list is charged for its spans before it is decoded: a body of
// many empty spans that could never fit the in-flight budget gets 413,
// the count checked against the decoder; with room it is stored.
func TestHandlerChargesSpans(t *testing.T) {
	const span = `{"traceId":"5af7183fb1d4cf5f","id":"6b221d5bc9e6496c"}`
	body := "[" + strings.Repeat(span+",", 10_000) + span + "]"
	td, err := Decode([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if td.SpanCount() != 10_001 || ingest.CountJSON([]byte(body), '{', 1) != td.SpanCount() {
		t.Fatalf("decoded %d spans, counted %d", td.SpanCount(), ingest.CountJSON([]byte(body), '{', 1))
	}
	var got int
	for _, tc := range []struct {
		budget int64
		code   int
	}{{2 << 20, 413}, {64 << 20, 202}} {
		lim := ingest.NewLimiter(tc.budget, nil)
		h := &Handler{Sink: sinkFunc(func(_ context.Context, td ptrace.Traces) error { got += td.SpanCount(); return nil }),
			MaxRequestBytes: 1 << 20, Limiter: lim}
		req := httptest.NewRequest("POST", "/api/v2/spans", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.code || (tc.code == 413 && !strings.Contains(rec.Body.String(), "10001 spans")) {
			t.Errorf("budget %d: %d %s, want %d", tc.budget, rec.Code, rec.Body, tc.code)
		}
		if lim.InUse() != 0 {
			t.Errorf("budget %d: %d bytes still reserved", tc.budget, lim.InUse())
		}
	}
	if got != 10_001 {
		t.Errorf("sink got %d spans", got)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"traceId":"1","id":"0000000000000001","kind":"PRODUCER","tags":{"error":""}}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		td, err := Decode(data)
		if err != nil {
			return
		}
		// What decodes must survive an OTLP round trip.
		b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		if err != nil {
			t.Fatal(err)
		}
		back, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(b)
		if err != nil || back.SpanCount() != td.SpanCount() {
			t.Fatalf("round trip: %v, %d vs %d", err, back.SpanCount(), td.SpanCount())
		}
	})
}
