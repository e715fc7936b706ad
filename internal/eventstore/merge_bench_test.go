package eventstore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/model"
)

// BenchmarkMergeLogs merges six head-flushed parts of generated log rows
// (JSON, logfmt and stack traces, arriving in time order as an ingest
// writes them) into one: the merge share of log ingest. With 60 streams
// each part holds one small block per stream; with 6, mostly full blocks.
// "rows/cpu-s" counts the merge only; "B/row" is the merged part's size.
func BenchmarkMergeLogs(b *testing.B) {
	const parts, per = 6, 40_000
	rows := benchLogRows(parts * per)
	for _, streams := range []int{6, 60} {
		b.Run(fmt.Sprintf("streams=%d", streams), func(b *testing.B) {
			for i := range rows {
				rows[i].Stream = labels.FromStrings("service", fmt.Sprintf("svc%02d", i%streams))
			}
			benchMerge(b, rows, parts, per)
		})
	}
}

func benchMerge(b *testing.B, rows []model.Event, parts, per int) {
	o := benchOpts()
	o.MergeMinParts = 1000 // the benchmark merges, not the background loop
	src := filepath.Join(b.TempDir(), "src")
	s, err := Open(src, o)
	if err != nil {
		b.Fatal(err)
	}
	for p := range parts {
		for i := p * per; i < (p+1)*per; i += 1000 {
			if err := s.Append(context.Background(), rows[i:i+1000]); err != nil {
				b.Fatal(err)
			}
		}
		if err := s.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	s.Close()
	var cpu time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		run := filepath.Join(b.TempDir(), "run", string(rune('a'+i%26)))
		os.RemoveAll(run)
		copyTree(b, run, src)
		s, err := Open(run, o)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		c0 := cpuNow()
		b.StartTimer()
		merged, err := s.merge(2, true)
		b.StopTimer()
		cpu += cpuNow() - c0
		if err != nil || !merged {
			b.Fatalf("merge: %v, merged %v", err, merged)
		}
		st := s.Stats()
		if st.Parts != 1 || st.Rows != int64(parts*per) {
			b.Fatalf("after merge: %d parts, %d rows", st.Parts, st.Rows)
		}
		b.ReportMetric(float64(st.DiskBytes)/float64(parts*per), "B/row")
		s.Close()
	}
	b.ReportMetric(float64(parts*per)*float64(b.N)/cpu.Seconds(), "rows/cpu-s")
}
