package eventstore

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/model"
)

// TestReviewFloatNaNHeaderPruning: a float column holding a NaN among
// ordinary values must still answer numeric filters from its other rows
// once flushed. Go's min/max return NaN when any argument is NaN, so a
// header built with them made every comparison false and the block was
// skipped: rows 1.5 and 7.25 vanished from "latency > 1" after a flush.
func TestReviewFloatNaNHeaderPruning(t *testing.T) {
	vals := []float64{1.5, math.NaN(), 7.25, 0.5, math.Inf(1), -3}
	tests := []struct {
		name string
		f    Filter
		want int
	}{
		{"gt", Filter{Field: "latency", Op: OpGT, Num: 1}, 3},
		{"ge", Filter{Field: "latency", Op: OpGE, Num: 7.25}, 2},
		{"lt", Filter{Field: "latency", Op: OpLT, Num: 1}, 2},
		{"le", Filter{Field: "latency", Op: OpLE, Num: -3}, 1},
		{"eq", Filter{Field: "latency", Op: OpEqual, Value: "7.25"}, 1},
		{"not gt", Filter{Field: "latency", Op: OpGT, Num: 1, Not: true}, 3},
	}
	for _, nanFirst := range []bool{false, true} {
		s := openTest(t, t.TempDir(), testOpts())
		rows := make([]model.Event, len(vals))
		for i := range rows {
			v := vals[i]
			if nanFirst {
				v = vals[(i+1)%len(vals)]
			}
			rows[i] = model.Event{Tenant: "t1", Signal: model.SignalLog,
				Stream: labels.FromStrings("service", "a"),
				Time:   baseTime.Add(time.Duration(i) * time.Millisecond).UnixNano(),
				Body:   "row",
				Attrs:  []model.Attr{{Key: "latency", Value: model.FloatValue(v)}}}
		}
		if err := s.Append(context.Background(), rows); err != nil {
			t.Fatal(err)
		}
		for _, stage := range []string{"head", "part"} {
			if stage == "part" {
				if err := s.Flush(); err != nil {
					t.Fatal(err)
				}
			}
			for _, tc := range tests {
				got := len(queryAll(t, s, Query{Tenant: "t1", Filters: []Filter{tc.f}}))
				if got != tc.want {
					t.Errorf("nanFirst=%v %s %s: %d rows, want %d", nanFirst, stage, tc.name, got, tc.want)
				}
			}
		}
		s.Close()
	}
}

// TestReviewFloatNaNOldHeader: parts written before the fix carry NaN
// min/max headers; the planner must not prune on them.
func TestReviewFloatNaNOldHeader(t *testing.T) {
	nan := int64(math.Float64bits(math.NaN()))
	c := &columnHeader{name: "latency", typ: ctFloat, enc: encPlain, minV: nan, maxV: nan}
	for _, op := range []FilterOp{OpGT, OpGE, OpLT, OpLE} {
		cf, err := compileFilters([]Filter{{Field: "latency", Op: op, Num: 1}})
		if err != nil {
			t.Fatal(err)
		}
		may, _, err := cf[0].colMayMatch(c, func() ([]byte, error) { return nil, nil })
		if err != nil {
			t.Fatal(err)
		}
		if !may {
			t.Errorf("op %d: a plain column with NaN min/max was pruned", op)
		}
	}
}

// TestReviewNumericFiltersHeadPartMerge: numeric filters and equality on
// float columns stored as decimals (and ints packed by their gcd) select the
// same rows from the head, from flushed parts and from a merged part, and
// those rows are the ones a direct comparison selects.
func TestReviewNumericFiltersHeadPartMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	s := openTest(t, t.TempDir(), testOpts())
	defer s.Close()
	gen := []func() float64{
		func() float64 { return float64(rng.IntN(100000)) / 1000 },   // 7.027-style latencies
		func() float64 { return float64(rng.IntN(2000)-1000) / 100 }, // negative cents
		func() float64 { return float64(rng.IntN(1<<20)) * 1e6 },     // big round numbers
		func() float64 { return []float64{0, 0.1, 0.2, 0.3, 1e-12}[rng.IntN(5)] },
		func() float64 { return float64(rng.Int64N(1<<53)) / 1e12 }, // near the mantissa limit
	}
	var all []model.Event
	for part := range 3 {
		rows := make([]model.Event, 3000)
		for i := range rows {
			k := part*3000 + i
			g := gen[(part*2+k%2)%len(gen)] // one generator per block
			rows[i] = model.Event{Tenant: "t1", Signal: model.SignalLog,
				Stream: labels.FromStrings("service", fmt.Sprint(k%2)),
				Time:   baseTime.Add(time.Duration(k) * time.Millisecond).UnixNano(),
				Body:   "r",
				Attrs: []model.Attr{
					{Key: "f", Value: model.FloatValue(g())},
					{Key: "n", Value: model.IntValue(int64(rng.IntN(50)) * 1_000_000)},
				}}
		}
		if err := s.Append(context.Background(), rows); err != nil {
			t.Fatal(err)
		}
		all = append(all, rows...)
		if part < 2 {
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	type probe struct {
		f    Filter
		want func(v float64) bool
	}
	var probes []probe
	for range 25 {
		e := all[rng.IntN(len(all))]
		for _, key := range []string{"f", "n"} {
			fv, _ := e.Field(key)
			x, _ := fv.Number()
			x += []float64{0, 1e-9, -1e-9}[rng.IntN(3)]
			probes = append(probes,
				probe{Filter{Field: key, Op: OpGT, Num: x}, func(v float64) bool { return v > x }},
				probe{Filter{Field: key, Op: OpGE, Num: x}, func(v float64) bool { return v >= x }},
				probe{Filter{Field: key, Op: OpLT, Num: x}, func(v float64) bool { return v < x }},
				probe{Filter{Field: key, Op: OpLE, Num: x}, func(v float64) bool { return v <= x }},
				probe{Filter{Field: key, Op: OpEqual, Value: strconv.FormatFloat(x, 'g', -1, 64)}, func(v float64) bool { return v == x }})
		}
	}
	check := func(stage string) {
		for _, p := range probes {
			want := 0
			for i := range all {
				v, _ := all[i].Field(p.f.Field)
				n, _ := v.Number()
				if p.want(n) {
					want++
				}
			}
			if got := len(queryAll(t, s, Query{Tenant: "t1", Filters: []Filter{p.f}})); got != want {
				t.Fatalf("%s: %+v: %d rows, want %d", stage, p.f, got, want)
			}
		}
	}
	check("parts and head")
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	check("parts")
	sn, err := s.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	decimal := 0
	for _, r := range sn.parts {
		for bi := range r.p.idx.blocks {
			for _, c := range mustHeader(t, r.p.idx, bi).cols {
				if c.name == "f" && c.enc == encDecimal {
					decimal++
				}
			}
		}
	}
	sn.release()
	if decimal == 0 {
		t.Fatal("no block stored column f as decimal: the test checks nothing new")
	}
	if _, err := s.merge(3, true); err != nil {
		t.Fatal(err)
	}
	check("merged")
}
