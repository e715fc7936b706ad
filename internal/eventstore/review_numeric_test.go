package eventstore

import (
	"context"
	"math"
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
