package eventstore

import (
	"context"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/model"
)

// BenchmarkHeadQuery queries 200k generator log rows that are still in the
// head (nothing flushed), as every query over the last minutes does: a
// needle (|= "quixotry"), the newest 100 rows of everything, and hit counts
// per minute grouped by level. "rows/cpu-s" is head rows looked at per
// CPU-second.
func BenchmarkHeadQuery(b *testing.B) {
	s, err := Open(b.TempDir(), benchOpts())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rows := benchLogRows(200_000)
	for i := 0; i < len(rows); i += 1000 {
		if err := s.Append(context.Background(), rows[i:i+1000]); err != nil {
			b.Fatal(err)
		}
	}
	start, end := rows[0].Time, rows[len(rows)-1].Time+1
	rows = nil
	for _, bc := range []struct {
		name string
		run  func() (int64, error)
	}{
		{"needle", func() (int64, error) {
			n := 0
			res, err := s.Query(context.Background(), Query{Tenant: "bench", Filters: []Filter{{Op: OpSubstring, Value: "quixotry"}}},
				func(*model.Event) bool { n++; return true })
			if n == 0 {
				b.Fatal("needle not found")
			}
			return res.Stats.HeadRows, err
		}},
		{"newest100", func() (int64, error) {
			res, err := s.Query(context.Background(), Query{Tenant: "bench", Direction: Backward, Limit: 100},
				func(*model.Event) bool { return true })
			return res.Stats.HeadRows, err
		}},
		{"hitsByLevel", func() (int64, error) {
			res, err := s.Hits(context.Background(), HitsQuery{Query: Query{Tenant: "bench", Start: start, End: end},
				Step: int64(time.Minute), GroupBy: model.FieldSeverity})
			return res.Stats.HeadRows, err
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var looked int64
			m := startCPU(b)
			for range b.N {
				n, err := bc.run()
				if err != nil {
					b.Fatal(err)
				}
				looked += n
			}
			m.pause()
			if m.spent > 0 {
				b.ReportMetric(float64(looked)/m.spent.Seconds(), "rows/cpu-s")
			}
		})
	}
}
