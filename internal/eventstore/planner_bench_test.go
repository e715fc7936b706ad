package eventstore

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/bench/gen"
	"github.com/sightline/sightline/internal/model"
)

// BenchmarkNeedle searches the 1M-row merged part of BenchmarkHitsGroupBy
// for rare generator tokens (T6 inside the engine): the planner prunes
// almost every block by its column headers and blooms, so the figure is
// mostly planning cost.
func BenchmarkNeedle(b *testing.B) {
	s := benchHitsStore(b)
	g := gen.New(9, baseTime, 100*time.Microsecond)
	for _, nd := range []gen.Needle{gen.Needles[1], gen.Needles[2]} {
		for _, op := range []struct {
			name string
			op   FilterOp
		}{{"phrase", OpPhrase}, {"substring", OpSubstring}} {
			b.Run(op.name+"/"+nd.Word, func(b *testing.B) {
				want := gen.NeedleCount(nd, hitsBenchRows, g)
				q := Query{Tenant: "bench", Filters: []Filter{{Op: op.op, Value: "note=" + nd.Word}}}
				benchCountQuery(b, s, q, want)
			})
		}
	}
}

// BenchmarkManyStreamsQuery queries a flushed part of 100k streams with one
// block each (the BenchmarkStreamMemory data): the planner visits every
// block, so the cost of reading block and column headers shows.
func BenchmarkManyStreamsQuery(b *testing.B) {
	s := benchManyStreamsStore(b)
	for _, bc := range []struct {
		name string
		q    Query
		want int
	}{
		// Every block's const body column excludes it by its header.
		{"header-pruned", Query{Tenant: "bench", Filters: []Filter{{Op: OpEqual, Value: "y"}}}, 0},
		// A numeric filter on a field no block has: headers only.
		{"absent-field", Query{Tenant: "bench", Filters: []Filter{{Field: "latency", Op: OpGT, Num: 1}}}, 0},
		{"matcher", Query{Tenant: "bench", Matchers: []*labels.Matcher{
			labels.MustNewMatcher(labels.MatchEqual, "service", "svc-4242")}}, 1},
		{"newest-100", Query{Tenant: "bench", Limit: 100}, 100},
	} {
		b.Run(bc.name, func(b *testing.B) { benchCountQuery(b, s, bc.q, bc.want) })
	}
}

// benchCountQuery runs q b.N times, checking it returns want rows, and
// reports CPU-ms per query.
func benchCountQuery(b *testing.B, s *Store, q Query, want int) {
	m := startCPU(b)
	for range b.N {
		n := 0
		if _, err := s.Query(context.Background(), q, func(*model.Event) bool { n++; return true }); err != nil {
			b.Fatal(err)
		}
		if n != want {
			b.Fatalf("%d rows, want %d", n, want)
		}
	}
	m.pause()
	b.ReportMetric(m.spent.Seconds()*1e3/float64(b.N), "cpu-ms/op")
}

var manyStreamsStore struct {
	s   *Store
	dir string
}

// benchManyStreamsStore builds, once per test binary, a store holding one
// flushed part of 100k streams (three labels) with one row each.
func benchManyStreamsStore(b *testing.B) *Store {
	if manyStreamsStore.s != nil {
		return manyStreamsStore.s
	}
	dir, err := os.MkdirTemp("", "esstreams")
	if err != nil {
		b.Fatal(err)
	}
	s, err := Open(dir, benchOpts())
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UnixNano()
	const n = 100_000
	rows := make([]model.Event, 1000)
	for i := 0; i < n; i += len(rows) {
		for j := range rows {
			rows[j] = model.Event{Tenant: "bench", Signal: model.SignalLog, Time: now + int64(i+j), Body: "x",
				Stream: labels.FromStrings("namespace", "ns"+strconv.Itoa((i+j)%100), "service", "svc-"+strconv.Itoa(i+j), "env", "prod")}
		}
		if err := s.Append(context.Background(), rows); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Flush(); err != nil {
		b.Fatal(err)
	}
	manyStreamsStore.s, manyStreamsStore.dir = s, dir
	return s
}
