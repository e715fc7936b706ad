package traces

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sightline/sightline/internal/model"
	"github.com/sightline/sightline/internal/tracestore"
)

func TestBuildView(t *testing.T) {
	sp := func(id, parent byte, start, dur int64) tracestore.Span {
		s := tracestore.Span{SpanID: model.SpanID{7: id}, Start: start, Duration: dur, Service: "s", Name: string('a' + rune(id))}
		if parent != 0 {
			s.ParentSpanID = model.SpanID{7: parent}
		}
		return s
	}
	// root 0..100; children: 2 (10..40), 3 (20..90, the last to finish),
	// 4 (5..15, overlaps nothing after 3 starts → on the path before 3);
	// 5 is a child of 3 at 30..80.
	tr := tracestore.Trace{Spans: []tracestore.Span{
		sp(1, 0, 0, 100), sp(4, 1, 5, 10), sp(2, 1, 10, 30), sp(3, 1, 20, 70), sp(5, 3, 30, 50),
	}}
	logs := []model.Event{{Signal: model.SignalLog, Body: "hello", SpanID: model.SpanID{7: 5}}}
	v := BuildView(&tr, logs)
	if len(v.Spans) != 5 {
		t.Fatalf("spans = %d", len(v.Spans))
	}
	want := []struct {
		id       byte
		depth    int
		critical bool
		self     int64
	}{
		{1, 0, true, 100 - 85}, // children cover 5..90
		{4, 1, true, 10},
		{2, 1, false, 30},
		{3, 1, true, 70 - 50},
		{5, 2, true, 50},
	}
	for i, w := range want {
		got := v.Spans[i]
		if got.SpanID != (model.SpanID{7: w.id}).String() || got.Depth != w.depth || got.Critical != w.critical || got.SelfTime != w.self {
			t.Errorf("span %d = %s depth %d critical %v self %d; want %d %d %v %d",
				i, got.SpanID, got.Depth, got.Critical, got.SelfTime, w.id, w.depth, w.critical, w.self)
		}
	}
	if len(v.Logs) != 1 || v.Logs[0].Body != "hello" || v.Logs[0].SpanID != (model.SpanID{7: 5}).String() {
		t.Errorf("logs = %+v", v.Logs)
	}
	if v.Summary.SpanCount != 5 || v.Summary.Duration != 100 {
		t.Errorf("summary = %+v", v.Summary)
	}
}

// tenantStore holds one trace per tenant and answers from the tenant the
// handler put in the context.
type tenantStore struct{ traces map[string]tracestore.Trace }

func (s *tenantStore) TraceByID(ctx context.Context, id model.TraceID, _, _ int64) (tracestore.Trace, bool, error) {
	t, ok := s.traces[tracestore.TenantFrom(ctx)]
	return t, ok && t.ID == id, nil
}

func (s *tenantStore) Logs(context.Context, model.TraceID, int64, int64, int) ([]model.Event, error) {
	return nil, nil
}

func (s *tenantStore) SearchSummaries(ctx context.Context, _ tracestore.Search) ([]tracestore.Summary, error) {
	t, ok := s.traces[tracestore.TenantFrom(ctx)]
	if !ok {
		return nil, nil
	}
	return []tracestore.Summary{tracestore.Summarize(&t)}, nil
}

func TestTenantScoping(t *testing.T) {
	mk := func(id byte, svc string) tracestore.Trace {
		tid := model.TraceID{15: id}
		return tracestore.Trace{ID: tid, Spans: []tracestore.Span{{TraceID: tid, SpanID: model.SpanID{7: 1}, Service: svc, Name: "op", Duration: 5}}}
	}
	st := &tenantStore{traces: map[string]tracestore.Trace{"": mk(1, "default-svc"), "team-b": mk(2, "b-svc")}}
	mux := http.NewServeMux()
	(&Handler{Store: st}).Register(mux)
	get := func(path, tenant string) (int, string) {
		req := httptest.NewRequest("GET", path, nil)
		if tenant != "" {
			req.Header.Set("X-Scope-OrgID", tenant)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	for _, tc := range []struct {
		path, tenant, want, notWant string
		code                        int
	}{
		{"/api/v1/traces/00000000000000000000000000000001", "", "default-svc", "b-svc", 200},
		{"/api/v1/traces/00000000000000000000000000000001", "team-b", "", "default-svc", 404},
		{"/api/v1/traces/00000000000000000000000000000002", "team-b", "b-svc", "default-svc", 200},
		{"/api/v1/traces/00000000000000000000000000000002", "", "", "b-svc", 404},
		{"/api/v1/traces/search?service=x", "team-b", "b-svc", "default-svc", 200},
		{"/api/v1/traces/search?service=x", "", "default-svc", "b-svc", 200},
		{"/api/v1/traces/search?service=x", "team-c", "", "svc", 200},
	} {
		code, body := get(tc.path, tc.tenant)
		if code != tc.code || !strings.Contains(body, tc.want) || strings.Contains(body, tc.notWant) {
			t.Errorf("%s as %q: %d %s; want %d with %q and without %q", tc.path, tc.tenant, code, body, tc.code, tc.want, tc.notWant)
		}
	}
}
