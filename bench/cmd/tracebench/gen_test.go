package main

import (
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sightline/sightline/internal/model"
	"github.com/sightline/sightline/internal/tracestore"
)

func testGen(t *testing.T) *Generator {
	t.Helper()
	g, err := NewGenerator(GenOptions{Seed: 7, Services: 60, Base: time.Unix(1_700_000_000, 0), Step: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// collect returns, per trace id, the spans a batch holds.
func collect(td ptrace.Traces) map[[16]byte][]ptrace.Span {
	out := map[[16]byte][]ptrace.Span{}
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		ss := rss.At(i).ScopeSpans().At(0).Spans()
		for j := 0; j < ss.Len(); j++ {
			sp := ss.At(j)
			out[sp.TraceID()] = append(out[sp.TraceID()], sp)
		}
	}
	return out
}

func TestBatchMatchesInfo(t *testing.T) {
	g := testGen(t)
	td, n := g.Batch(100, 200)
	if n != td.SpanCount() {
		t.Fatalf("Batch says %d spans, holds %d", n, td.SpanCount())
	}
	byTrace := collect(td)
	if len(byTrace) != 100 {
		t.Fatalf("%d traces, want 100", len(byTrace))
	}
	for k := 100; k < 200; k++ {
		info := g.Info(k)
		spans := byTrace[info.ID]
		if len(spans) < 5 || len(spans) > 30 || len(spans) != len(info.SpanIDs) {
			t.Fatalf("trace %d: %d spans, info says %d (want 5–30)", k, len(spans), len(info.SpanIDs))
		}
		ids := map[[8]byte]bool{}
		roots := 0
		for _, sp := range spans {
			ids[sp.SpanID()] = true
			if sp.ParentSpanID().IsEmpty() {
				roots++
			}
			if sp.EndTimestamp() <= sp.StartTimestamp() {
				t.Fatalf("trace %d: span %s ends before it starts", k, sp.SpanID())
			}
			if sp.StartTimestamp().AsTime().Before(info.Start) {
				t.Fatalf("trace %d: span starts before the trace", k)
			}
		}
		if roots != 1 {
			t.Fatalf("trace %d: %d root spans, want 1", k, roots)
		}
		for _, sp := range spans {
			if p := sp.ParentSpanID(); !p.IsEmpty() && !ids[p] {
				t.Fatalf("trace %d: span %s has parent %s outside the trace", k, sp.SpanID(), p)
			}
		}
		for _, id := range info.SpanIDs {
			if !ids[id] {
				t.Fatalf("trace %d: info span %x not in the batch", k, id)
			}
		}
	}
}

func TestGeneratorDeterministic(t *testing.T) {
	a, b := testGen(t), testGen(t)
	for _, k := range []int{0, 1, 999, 123456} {
		ia, ib := a.Info(k), b.Info(k)
		if ia.ID != ib.ID || len(ia.SpanIDs) != len(ib.SpanIDs) || ia.MaxDuration != ib.MaxDuration {
			t.Fatalf("trace %d differs between generators with the same seed", k)
		}
	}
	if a.Info(1).ID == a.Info(2).ID {
		t.Fatal("traces 1 and 2 share an id")
	}
	c, err := NewGenerator(GenOptions{Seed: 8, Services: 60})
	if err != nil {
		t.Fatal(err)
	}
	if c.Info(1).ID == a.Info(1).ID {
		t.Fatal("different seeds gave the same trace id")
	}
}

// TestSpanSize keeps the data realistic: the OTLP protobuf per span
// (resource attributes shared by a batch's spans of one pod) is near the
// ~500 B the storage targets assume.
func TestSpanSize(t *testing.T) {
	g := testGen(t)
	td, n := g.Batch(0, 200)
	var m ptrace.ProtoMarshaler
	proto := float64(m.TracesSize(td)) / float64(n)
	t.Logf("OTLP protobuf %.0f B/span", proto)
	if proto < 400 || proto > 650 {
		t.Errorf("OTLP size %.0f B/span, want 400–650", proto)
	}
}

func TestCheckTrace(t *testing.T) {
	g := testGen(t)
	info := g.Info(5)
	td, _ := g.Batch(5, 6)
	tr := tracestore.AssembleTrace(tracestore.AppendRows(nil, "", td))
	if len(tr) != 1 {
		t.Fatalf("%d traces assembled", len(tr))
	}
	if err := checkTrace(tr[0], true, info); err != nil {
		t.Fatalf("complete trace rejected: %v", err)
	}
	short := tr[0]
	short.Spans = short.Spans[1:]
	if err := checkTrace(short, true, info); err == nil {
		t.Fatal("trace missing a span accepted")
	}
	swapped := tracestore.Trace{ID: tr[0].ID, Spans: append([]tracestore.Span(nil), tr[0].Spans...)}
	swapped.Spans[0].SpanID = model.SpanID{1, 2, 3}
	if err := checkTrace(swapped, true, info); err == nil {
		t.Fatal("trace with a foreign span id accepted")
	}
	if err := checkTrace(tr[0], false, info); err == nil {
		t.Fatal("not-found trace accepted")
	}
}

func TestParseSizesAndPercentiles(t *testing.T) {
	got, err := parseSizes("10M, 1M,300k,5")
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{5, 300_000, 1_000_000, 10_000_000}
	if len(got) != len(want) {
		t.Fatalf("got %v want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v want %v", got, want)
		}
	}
	if _, err := parseSizes("x1"); err == nil {
		t.Fatal("bad size accepted")
	}
	var l latencies
	for i := 100; i >= 1; i-- {
		l = append(l, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if g := l.pct(c.p); g != c.want {
			t.Errorf("pct(%v) = %v, want %v", c.p, g, c.want)
		}
	}
}
