package eventstore

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/sightline/sightline/bench/gen"
	"github.com/sightline/sightline/internal/model"
)

const hitsBenchRows = 1_000_000

// hitsStore is built once per test binary: a merged part of 1M generator
// log rows. Its directory is removed as soon as it is built; the open
// store keeps reading its files through open descriptors, so nothing is
// left behind however the process ends.
var hitsStore *Store

func benchHitsStore(b *testing.B) *Store {
	if hitsStore != nil {
		return hitsStore
	}
	dir, err := os.MkdirTemp("", "eshits")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := Open(dir, benchOpts())
	if err != nil {
		b.Fatal(err)
	}
	g := gen.New(9, baseTime, 100*time.Microsecond)
	p := gen.NewParser()
	batch := make([]model.Event, 0, 10_000)
	for n := 0; n < hitsBenchRows; n++ {
		p.Reset()
		var e model.Event
		if err := p.Parse(g.Next(), &e); err != nil {
			b.Fatal(err)
		}
		batch = append(batch, cloneEvent(e))
		if len(batch) == cap(batch) {
			if err := s.Append(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := s.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := s.MergeAll(); err != nil {
		b.Fatal(err)
	}
	hitsStore = s
	return s
}

// BenchmarkHitsGroupBy counts 1M log rows per second and per severity (the
// query behind Loki's sum by (level) (count_over_time(...)) and the log
// volume panel), reporting CPU-seconds per 1M rows.
func BenchmarkHitsGroupBy(b *testing.B) {
	s := benchHitsStore(b)
	span := int64(hitsBenchRows) * int64(100*time.Microsecond)
	q := Query{Tenant: "bench", Start: baseTime.UnixNano(), End: baseTime.UnixNano() + span + 1}
	cases := []struct {
		name    string
		step    int64
		groupBy string
		filters []Filter
	}{
		{"severity/step=1s", int64(time.Second), model.FieldSeverity, nil},
		{"severity/step=1h", int64(time.Hour), model.FieldSeverity, nil},
		{"service/step=1s", int64(time.Second), "service", nil},
		{"none/step=1s", int64(time.Second), "", nil},
		{"severity/filter/step=1s", int64(time.Second), model.FieldSeverity,
			[]Filter{{Field: model.FieldBody, Op: OpPhrase, Value: "error"}}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			hq := HitsQuery{Query: q, Step: c.step, GroupBy: c.groupBy}
			hq.Query.Filters = c.filters
			var rows int64
			m := startCPU(b)
			for range b.N {
				res, err := s.Hits(context.Background(), hq)
				if err != nil {
					b.Fatal(err)
				}
				rows = res.Stats.RowsMatched
			}
			m.pause()
			if c.filters == nil && rows != hitsBenchRows {
				b.Fatalf("%d rows matched, want %d", rows, hitsBenchRows)
			}
			b.ReportMetric(m.spent.Seconds()/float64(b.N)*1e6/float64(hitsBenchRows), "cpu-s/1Mrows")
		})
	}
}
