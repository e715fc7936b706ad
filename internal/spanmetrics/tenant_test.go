package spanmetrics

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/prometheus/tsdb"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sightline/sightline/internal/tracestore"
)

// TestTenantSeries derives the same calls for the default tenant and for
// team-b into a real TSDB: team-b's series carry tenant="team-b", and
// Dependencies returns each tenant only its own edges.
func TestTenantSeries(t *testing.T) {
	db, err := tsdb.Open(t.TempDir(), nil, nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	g, err := New(db, Options{WaitWindow: time.Second, Now: func() time.Time { return now }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	call := func(ctx context.Context, client, server string, n int) {
		for tr := byte(1); tr <= byte(n); tr++ {
			_ = g.ConsumeTraces(ctx, build(
				spanSpec{svc: client, trace: tr, id: 1, name: "call", kind: ptrace.SpanKindClient, dur: time.Millisecond},
				spanSpec{svc: server, trace: tr, id: 2, parent: 1, name: "serve", kind: ptrace.SpanKindServer, dur: time.Millisecond},
			))
		}
	}
	bctx := tracestore.WithTenant(context.Background(), "team-b")
	call(context.Background(), "web", "api", 2)
	call(bctx, "b-web", "b-api", 3)
	if err := g.Flush(); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Second)
	call(context.Background(), "web", "api", 2) // same trace ids: new edges
	call(bctx, "b-web", "b-api", 3)
	if err := g.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ctx            context.Context
		client, server string
		calls          float64
	}{
		{context.Background(), "web", "api", 4},
		{bctx, "b-web", "b-api", 6},
		{tracestore.WithTenant(context.Background(), "team-c"), "", "", 0},
	} {
		edges, err := Dependencies(tc.ctx, db, now.Add(-time.Hour), now.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if tc.calls == 0 {
			if len(edges) != 0 {
				t.Errorf("tenant team-c sees edges %+v", edges)
			}
			continue
		}
		if len(edges) != 1 || edges[0].Client != tc.client || edges[0].Server != tc.server || edges[0].Calls != tc.calls {
			t.Errorf("tenant %q edges %+v, want one %s→%s with %v calls", tracestore.TenantFrom(tc.ctx), edges, tc.client, tc.server, tc.calls)
		}
	}
	// The span metrics of team-b are labelled with it.
	q, err := db.Querier(0, now.Add(time.Minute).UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	vals, _, err := q.LabelValues(context.Background(), "tenant", nil)
	if err != nil || len(vals) != 1 || vals[0] != "team-b" {
		t.Fatalf("tenant label values %v (err %v), want [team-b]", vals, err)
	}
}

// An edge idle for the stale period is ended with a staleness marker and,
// when traffic returns, starts again from zero: the service map counts
// each call once, before and after, and no NaN leaks into it.
func TestDependenciesAcrossStaleEdge(t *testing.T) {
	db, err := tsdb.Open(t.TempDir(), nil, nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Now().Add(-time.Hour)
	now := start
	g, err := New(db, Options{WaitWindow: time.Second, StaleAfter: 5 * time.Minute, Now: func() time.Time { return now }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	call := func(tr byte) {
		_ = g.ConsumeTraces(context.Background(), build(
			spanSpec{svc: "web", trace: tr, id: 1, name: "call", kind: ptrace.SpanKindClient, dur: time.Millisecond},
			spanSpec{svc: "web", trace: tr, id: 2, parent: 1, name: "serve", kind: ptrace.SpanKindServer, dur: time.Millisecond}))
	}
	call(1)
	call(2)
	for range 8 { // quiet for eight minutes: the edge goes stale
		if err := g.Flush(); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Minute)
	}
	call(3)
	if err := g.Flush(); err != nil {
		t.Fatal(err)
	}
	edges, err := Dependencies(context.Background(), db, start.Add(-time.Minute), now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(edges) != 1 || edges[0].Calls != 3 {
		t.Fatalf("edges %+v, want web→web with 3 calls", edges)
	}
}
