package eventstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/model"
)

// hitsByRow is the row-at-a-time Hits that the block-wise counter replaced,
// kept as the reference the counter must agree with.
func hitsByRow(ctx context.Context, s *Store, hq HitsQuery) (res HitsResult, err error) {
	q := hq.Query
	n := (q.End - q.Start + hq.Step - 1) / hq.Step
	res.Start, res.Step = q.Start, hq.Step
	groups := map[string][]int64{}
	get := func(v string) []int64 {
		g := groups[v]
		if g == nil {
			g = make([]int64, n)
			groups[v] = g
		}
		return g
	}
	whole := func(c *candidate) bool {
		b0, b1 := (c.minT-q.Start)/hq.Step, (c.maxT-q.Start)/hq.Step
		if b0 != b1 {
			return false
		}
		v := ""
		if hq.GroupBy != "" {
			if !c.st.labels.Has(hq.GroupBy) {
				return false
			}
			v = c.st.labels.Get(hq.GroupBy)
		}
		get(v)[b0] += int64(c.bh.rows)
		return true
	}
	// Grouping by a stream label is constant per stream: look it up once.
	var lastSt *stream
	var lastCounts []int64
	bucket := func(x *rowRef) (int64, error) {
		// A block inside the range and inside one bucket needs no timestamps.
		if bh := x.blockHeader(); bh != nil && bh.minT >= q.Start && bh.maxT < q.End &&
			(bh.minT-q.Start)/hq.Step == (bh.maxT-q.Start)/hq.Step {
			return (bh.minT - q.Start) / hq.Step, nil
		}
		t, err := x.time()
		return (t - q.Start) / hq.Step, err
	}
	err = s.scan(ctx, &q, &res.Stats, whole, func(x *rowRef) error {
		b, err := bucket(x)
		if err != nil {
			return err
		}
		if hq.GroupBy == "" || x.st.labels.Has(hq.GroupBy) {
			if x.st != lastSt {
				lastSt, lastCounts = x.st, get(x.st.labels.Get(hq.GroupBy))
			}
			lastCounts[b]++
			return nil
		}
		v, _, err := x.field(hq.GroupBy)
		if err != nil {
			return err
		}
		get(v)[b]++
		return nil
	})
	if err != nil {
		return res, err
	}
	for v, c := range groups {
		res.Groups = append(res.Groups, HitsGroup{Value: v, Counts: c})
	}
	slices.SortFunc(res.Groups, func(a, b HitsGroup) int { return cmpStr(a.Value, b.Value) })
	return res, nil
}

// hitsRandomRows makes rows over five streams (two carry a "level" label)
// with attributes of every encoding: dictionary strings (one in every row), a plain string of
// many values, an int, a constant, a sparse string and a name that is a
// string in some rows and an int in others.
func hitsRandomRows(rng *rand.Rand, n int, t0 int64) []model.Event {
	streams := []labels.Labels{
		labels.FromStrings("service", "cart"),
		labels.FromStrings("service", "pay", "level", "warn"),
		labels.FromStrings("service", "pay", "level", "info"),
		labels.FromStrings("service", "ship", "zone", "a"),
		labels.FromStrings("service", "ship", "zone", "b"),
	}
	sev := []string{"info", "warn", "error", "debug", ""}
	rows := make([]model.Event, n)
	for i := range rows {
		e := model.Event{
			Tenant: "t1", Signal: model.SignalLog,
			Stream:   streams[rng.IntN(len(streams))],
			Time:     t0 + rng.Int64N(int64(10*time.Minute)),
			Body:     fmt.Sprintf("req %d %s", i, []string{"ok", "failed", "timeout"}[rng.IntN(3)]),
			Severity: sev[rng.IntN(len(sev))],
			Attrs: []model.Attr{
				{Key: "user", Value: model.StringValue(fmt.Sprintf("u%d", rng.IntN(2000)))},
				{Key: "code", Value: model.IntValue(int64(200 + 100*rng.IntN(4)))},
				{Key: "konst", Value: model.StringValue("same")},
				{Key: "region", Value: model.StringValue([]string{"eu", "us", "ap"}[rng.IntN(3)])},
			},
		}
		if rng.IntN(3) == 0 {
			e.Attrs = append(e.Attrs, model.Attr{Key: "sparse", Value: model.StringValue(fmt.Sprintf("s%d", rng.IntN(4)))})
		}
		if rng.IntN(2) == 0 {
			e.Attrs = append(e.Attrs, model.Attr{Key: "mixed", Value: model.StringValue(fmt.Sprintf("m%d", rng.IntN(3)))})
		} else {
			e.Attrs = append(e.Attrs, model.Attr{Key: "mixed", Value: model.IntValue(int64(rng.IntN(3)))})
		}
		rows[i] = e
	}
	return rows
}

// TestHitsMatchesRowByRow compares the block-wise Hits with the row-at-a-time
// reference on random rows in merged parts, a fresh part and the head, over
// random ranges, steps, groupings and filters.
func TestHitsMatchesRowByRow(t *testing.T) {
	s := openTest(t, t.TempDir(), testOpts())
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := baseTime.UnixNano()
	ctx := context.Background()
	for round := range 3 {
		if err := s.Append(ctx, hitsRandomRows(rng, 6000, t0)); err != nil {
			t.Fatal(err)
		}
		if round < 2 {
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		if round == 0 {
			if err := s.MergeAll(); err != nil {
				t.Fatal(err)
			}
		}
	}
	groupBys := []string{"", "service", "level", "zone", model.FieldSeverity, "user", "code", "konst", "region", "sparse", "mixed", "absent"}
	filters := [][]Filter{
		nil,
		{{Field: model.FieldBody, Op: OpPhrase, Value: "failed"}},
		{{Field: model.FieldSeverity, Op: OpEqual, Value: "error", Not: true}},
		{{Field: "sparse", Op: OpExists}},
		{{Field: "code", Op: OpGE, Value: "300", Num: 300}},
	}
	steps := []time.Duration{time.Millisecond * 1500, 7 * time.Second, time.Minute, time.Hour}
	total := 0
	for _, gb := range groupBys {
		for _, fs := range filters {
			for si, step := range steps {
				start := t0 - int64(time.Minute) + rng.Int64N(int64(3*time.Minute))
				end := start + int64(time.Second) + rng.Int64N(int64(12*time.Minute))
				if si == 0 || rng.IntN(3) == 0 { // whole blocks in range
					start, end = t0-int64(time.Hour), t0+int64(time.Hour)
				}
				hq := HitsQuery{Query: Query{Tenant: "t1", Start: start, End: end, Filters: fs}, Step: int64(step), GroupBy: gb}
				name := fmt.Sprintf("by=%q filters=%v step=%v range=[%d,%d)", gb, fs, step, start-t0, end-t0)
				got, err := s.Hits(ctx, hq)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				want, err := hitsByRow(ctx, s, hq)
				if err != nil {
					t.Fatalf("%s: reference: %v", name, err)
				}
				if !reflect.DeepEqual(got.Groups, want.Groups) {
					t.Fatalf("%s:\n got %v\nwant %v", name, got.Groups, want.Groups)
				}
				if got.Stats.RowsMatched != want.Stats.RowsMatched {
					t.Fatalf("%s: matched %d rows, reference %d", name, got.Stats.RowsMatched, want.Stats.RowsMatched)
				}
				for _, g := range got.Groups {
					for _, c := range g.Counts {
						total += int(c)
					}
				}
			}
		}
	}
	if total == 0 {
		t.Fatal("no rows counted by any query")
	}
}
