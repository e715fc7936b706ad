package tracestore

import (
	"context"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/model"
)

// TestTenantIsolation stores the same trace id for two tenants and checks
// that every read sees only the spans of the tenant in its context.
func TestTenantIsolation(t *testing.T) {
	ctx := context.Background()
	base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	s := openStore(t)
	if err := s.Append(ctx, AppendRows(nil, "", sample(base))); err != nil {
		t.Fatal(err)
	}
	// Tenant b: only trace 1's cart span, renamed.
	rows := AppendRows(nil, "b", sample(base))
	var bRows []model.Event
	for _, r := range rows {
		if r.SpanID == model.SpanID(sid(3)) {
			r.Name = "b-only"
			bRows = append(bRows, r)
		}
	}
	if err := s.Append(ctx, bRows); err != nil {
		t.Fatal(err)
	}
	id := model.TraceID(tid(1))
	for _, tc := range []struct {
		tenant   string
		spans    int
		services []string
		names    []string
	}{
		{"", 3, []string{"cart", "frontend"}, []string{"GET /cart", "call cart", "Cart.Get"}},
		{"b", 1, []string{"cart"}, []string{"b-only"}},
		{"c", 0, nil, nil},
	} {
		tctx := WithTenant(ctx, tc.tenant)
		tr, ok, err := s.TraceByID(tctx, id, 0, 0)
		if err != nil || ok != (tc.spans > 0) || len(tr.Spans) != tc.spans {
			t.Fatalf("tenant %q: trace found=%v spans=%d err=%v, want %d spans", tc.tenant, ok, len(tr.Spans), err, tc.spans)
		}
		for i, sp := range tr.Spans {
			if sp.Name != tc.names[i] {
				t.Errorf("tenant %q: span %d is %q, want %q", tc.tenant, i, sp.Name, tc.names[i])
			}
		}
		svcs, err := s.Services(tctx, 0, 0)
		if err != nil || len(svcs) != len(tc.services) {
			t.Fatalf("tenant %q: services %v (err %v), want %v", tc.tenant, svcs, err, tc.services)
		}
		found, err := s.FindTraces(tctx, Search{Service: "cart"})
		if err != nil || len(found) != min(tc.spans, 1) {
			t.Fatalf("tenant %q: search found %d traces (err %v)", tc.tenant, len(found), err)
		}
	}
	// Without a tenant in the context the Store's own tenant applies.
	sb := &Store{Events: s.Events, Tenant: "b"}
	if tr, ok, _ := sb.TraceByID(ctx, id, 0, 0); !ok || len(tr.Spans) != 1 {
		t.Fatalf("Store{Tenant: b}: %d spans, want 1", len(tr.Spans))
	}
}

// TestAssembleSharedSpans: a client and a server span reporting the same
// id (Zipkin's shared spans) both show; a retried delivery shows once.
func TestAssembleSharedSpans(t *testing.T) {
	tr := model.TraceID{15: 9}
	x := model.SpanID{7: 1}
	row := func(id, parent model.SpanID, kind model.SpanKind, name string, start int64) model.Event {
		return model.Event{Signal: model.SignalSpan, TraceID: tr, SpanID: id, ParentSpanID: parent, Kind: kind, Name: name, Time: start}
	}
	root := model.SpanID{7: 9}
	child := model.SpanID{7: 2}
	rows := []model.Event{
		row(root, model.SpanID{}, model.SpanKindServer, "root", 0),
		row(x, root, model.SpanKindClient, "call", 10),
		row(x, root, model.SpanKindServer, "serve", 20),
		row(child, x, model.SpanKindClient, "db", 30),  // made inside the server half
		row(x, root, model.SpanKindClient, "call", 10), // retried delivery
		{Signal: model.SignalSpanEvent, TraceID: tr, SpanID: x, Name: "ev", Time: 15},
	}
	ts := AssembleTrace(rows)
	if len(ts) != 1 || len(ts[0].Spans) != 4 {
		t.Fatalf("got %d traces, %d spans; want 1 trace of 4 spans", len(ts), len(ts[0].Spans))
	}
	byName := map[string]Span{}
	for _, s := range ts[0].Spans {
		byName[s.Name] = s
	}
	srv := SharedServerID(x)
	for _, tc := range []struct {
		name         string
		id, parent   model.SpanID
		wantedEvents int
	}{
		{"root", root, model.SpanID{}, 0},
		{"call", x, root, 1},
		{"serve", srv, x, 0},
		{"db", child, srv, 0},
	} {
		s := byName[tc.name]
		if s.SpanID != tc.id || s.ParentSpanID != tc.parent || len(s.Events) != tc.wantedEvents {
			t.Errorf("%s: id %s parent %s events %d; want %s %s %d", tc.name, s.SpanID, s.ParentSpanID, len(s.Events), tc.id, tc.parent, tc.wantedEvents)
		}
	}
}
