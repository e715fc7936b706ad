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
