package jaeger

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/model"
	"github.com/sightline/sightline/internal/spanmetrics"
	"github.com/sightline/sightline/internal/tracestore"
)

type fakeReader struct {
	trace tracestore.Trace
	last  tracestore.Search
}

func (f *fakeReader) TraceByID(_ context.Context, id model.TraceID, _, _ int64) (tracestore.Trace, bool, error) {
	return f.trace, id == f.trace.ID, nil
}

func (f *fakeReader) FindTraces(_ context.Context, q tracestore.Search) ([]tracestore.Trace, error) {
	f.last = q
	return []tracestore.Trace{f.trace}, nil
}

func (f *fakeReader) Services(context.Context, int64, int64) ([]string, error) {
	return []string{"a", "b"}, nil
}

func (f *fakeReader) Operations(_ context.Context, svc string, _, _ int64) ([]tracestore.Operation, error) {
	return []tracestore.Operation{{Name: "op", Kind: model.SpanKindServer}, {Name: "op", Kind: model.SpanKindClient}, {Name: "q"}}, nil
}

func testTrace() tracestore.Trace {
	id := model.TraceID{15: 1}
	return tracestore.Trace{ID: id, Spans: []tracestore.Span{
		{TraceID: id, SpanID: model.SpanID{7: 1}, Name: "root", Kind: model.SpanKindServer, Start: 1_000_000, Duration: 5_000_000,
			Service: "a", Resource: []model.Attr{{Key: "service.name", Value: model.StringValue("a")}, {Key: "host.name", Value: model.StringValue("h")}},
			Attrs: []model.Attr{{Key: "n", Value: model.IntValue(3)}}, StatusCode: model.StatusError, StatusMessage: "bad",
			Events: []tracestore.SpanEvent{{Time: 2_000_000, Name: "exception", Attrs: []model.Attr{{Key: "exception.type", Value: model.StringValue("E")}}}},
			Links:  []tracestore.Link{{TraceID: "0000000000000000000000000000000a", SpanID: "000000000000000b"}}},
		{TraceID: id, SpanID: model.SpanID{7: 2}, ParentSpanID: model.SpanID{7: 1}, Name: "child", Kind: model.SpanKindClient,
			Start: 2_000_000, Duration: 1_000_000, Service: "b"},
	}}
}

func TestAPI(t *testing.T) {
	fr := &fakeReader{trace: testTrace()}
	now := time.Unix(1_000_000, 0)
	h := &Handler{Reader: fr, Now: func() time.Time { return now }, Dependencies: func(_ context.Context, start, end time.Time) ([]spanmetrics.Edge, error) {
		if end.Sub(start) != time.Hour {
			t.Errorf("lookback = %v", end.Sub(start))
		}
		return []spanmetrics.Edge{{Client: "a", Server: "b", Calls: 7}}, nil
	}}
	mux := http.NewServeMux()
	h.Register(mux, "")
	get := func(path string) (int, map[string]json.RawMessage) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		var out map[string]json.RawMessage
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s: %v %q", path, err, rec.Body)
		}
		return rec.Code, out
	}
	tests := []struct {
		path string
		code int
		data string
	}{
		{"/api/services", 200, `["a","b"]`},
		{"/api/services/a/operations", 200, `["op","q"]`},
		{"/api/operations?service=a&spanKind=server", 200, `[{"name":"op","spanKind":"server"}]`},
		{"/api/operations", 400, `null`},
		{"/api/dependencies?endTs=1000000000&lookback=3600000", 200, `[{"parent":"a","child":"b","callCount":7}]`},
		{"/api/traces/0000000000000000000000000000ffff", 404, `null`},
		{"/api/traces/xyz", 400, `null`},
		{"/api/traces?service=a&minDuration=bad", 400, `null`},
	}
	for _, tc := range tests {
		code, out := get(tc.path)
		if code != tc.code || string(out["data"]) != tc.data {
			t.Errorf("%s: %d %s, want %d %s", tc.path, code, out["data"], tc.code, tc.data)
		}
	}

	code, out := get("/api/traces/01")
	if code != 200 {
		t.Fatalf("trace: %d", code)
	}
	var ts []Trace
	if err := json.Unmarshal(out["data"], &ts); err != nil || len(ts) != 1 {
		t.Fatal(err, len(ts))
	}
	tr := ts[0]
	if tr.TraceID != "0000000000000001" || len(tr.Spans) != 2 || len(tr.Processes) != 2 {
		t.Fatalf("trace = %+v", tr)
	}
	root, child := tr.Spans[0], tr.Spans[1]
	if root.StartTime != 1000 || root.Duration != 5000 || root.OperationName != "root" {
		t.Errorf("root = %+v", root)
	}
	tags := map[string]any{}
	for _, kv := range root.Tags {
		tags[kv.Key] = kv.Value
	}
	if tags["error"] != true || tags["otel.status_code"] != "ERROR" || tags["span.kind"] != "server" ||
		tags["otel.status_description"] != "bad" || tags["n"] != float64(3) {
		t.Errorf("root tags = %v", tags)
	}
	if len(root.Logs) != 1 || root.Logs[0].Timestamp != 2000 || root.Logs[0].Fields[0].Value != "exception" {
		t.Errorf("logs = %+v", root.Logs)
	}
	if len(root.References) != 1 || root.References[0].RefType != "FOLLOWS_FROM" || root.References[0].TraceID != "000000000000000a" {
		t.Errorf("root refs = %+v", root.References)
	}
	if len(child.References) != 1 || child.References[0].RefType != "CHILD_OF" || child.References[0].SpanID != "0000000000000001" {
		t.Errorf("child refs = %+v", child.References)
	}
	p := tr.Processes[root.ProcessID]
	if p.ServiceName != "a" || len(p.Tags) != 1 || p.Tags[0].Key != "host.name" {
		t.Errorf("process = %+v", p)
	}

	q := url.Values{"service": {"a"}, "operation": {"op"}, "tags": {`{"error":"true","http.status_code":"500"}`},
		"minDuration": {"1.5ms"}, "maxDuration": {"2s"}, "lookback": {"1h"}, "limit": {"7"}}
	if code, _ := get("/api/traces?" + q.Encode()); code != 200 {
		t.Fatalf("search: %d", code)
	}
	s := fr.last
	if s.Service != "a" || s.Operation != "op" || s.Tags["error"] != "true" || s.Tags["http.status_code"] != "500" ||
		s.MinDuration != 1500*time.Microsecond || s.MaxDuration != 2*time.Second || s.Limit != 7 ||
		s.Start != now.Add(-time.Hour).UnixNano() {
		t.Errorf("search = %+v", s)
	}
}

// tenantReader serves a different trace and service list per tenant, from
// the tenant the handler put in the context.
type tenantReader struct{ traces map[string]tracestore.Trace }

func (f *tenantReader) TraceByID(ctx context.Context, id model.TraceID, _, _ int64) (tracestore.Trace, bool, error) {
	t, ok := f.traces[tracestore.TenantFrom(ctx)]
	return t, ok && t.ID == id, nil
}

func (f *tenantReader) FindTraces(ctx context.Context, _ tracestore.Search) ([]tracestore.Trace, error) {
	if t, ok := f.traces[tracestore.TenantFrom(ctx)]; ok {
		return []tracestore.Trace{t}, nil
	}
	return nil, nil
}

func (f *tenantReader) Services(ctx context.Context, _, _ int64) ([]string, error) {
	if t, ok := f.traces[tracestore.TenantFrom(ctx)]; ok {
		return []string{t.Spans[0].Service}, nil
	}
	return nil, nil
}

func (f *tenantReader) Operations(context.Context, string, int64, int64) ([]tracestore.Operation, error) {
	return nil, nil
}

func TestTenantScoping(t *testing.T) {
	a, b := testTrace(), testTrace()
	b.ID = model.TraceID{15: 2}
	b.Spans = b.Spans[1:]
	b.Spans[0].TraceID = b.ID
	fr := &tenantReader{traces: map[string]tracestore.Trace{"": a, "team-b": b}}
	var depTenants []string
	h := &Handler{Reader: fr, Dependencies: func(ctx context.Context, _, _ time.Time) ([]spanmetrics.Edge, error) {
		depTenants = append(depTenants, tracestore.TenantFrom(ctx))
		return nil, nil
	}}
	mux := http.NewServeMux()
	h.Register(mux, "")
	get := func(path, tenant string) (int, string) {
		req := httptest.NewRequest("GET", path, nil)
		if tenant != "" {
			req.Header.Set("X-Scope-OrgID", tenant)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		var out map[string]json.RawMessage
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		return rec.Code, string(out["data"])
	}
	for _, tc := range []struct {
		path, tenant string
		code         int
		data         string
	}{
		{"/api/services", "", 200, `["a"]`},
		{"/api/services", "team-b", 200, `["b"]`},
		{"/api/services", "team-c", 200, `[]`},
		{"/api/traces/01", "team-b", 404, `null`},
		{"/api/traces/02", "", 404, `null`},
		{"/api/traces/02", "team-c", 404, `null`},
	} {
		if code, data := get(tc.path, tc.tenant); code != tc.code || data != tc.data {
			t.Errorf("%s as %q: %d %s, want %d %s", tc.path, tc.tenant, code, data, tc.code, tc.data)
		}
	}
	if code, data := get("/api/traces/02", "team-b"); code != 200 || !strings.Contains(data, `"traceID":"0000000000000002"`) {
		t.Errorf("team-b's own trace: %d %s", code, data)
	}
	get("/api/dependencies?endTs=1000000000", "team-b")
	get("/api/dependencies?endTs=1000000000", "")
	if len(depTenants) != 2 || depTenants[0] != "team-b" || depTenants[1] != "" {
		t.Errorf("dependencies read as tenants %q, want [team-b \"\"]", depTenants)
	}
}
