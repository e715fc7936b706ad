package bench

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sightline/sightline/bench/gen"
	"github.com/sightline/sightline/bench/scenario"
	"github.com/sightline/sightline/internal/eventstore"
	"github.com/sightline/sightline/internal/model"
)

// Run with: go test ./bench -run '^$' -bench . -benchtime 1x
// (each benchmark ingests its own data set; -benchtime Nx repeats queries).

const benchLogs = 200_000

func ingested(b *testing.B, spans bool) (*eventstore.Store, scenario.IngestResult) {
	b.Helper()
	s, err := eventstore.Open(b.TempDir(), scenario.Options())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	var r scenario.IngestResult
	if spans {
		r, err = scenario.IngestSpans(context.Background(), s, 2, 120_000, 2, 1000)
	} else {
		r, err = scenario.IngestLogs(context.Background(), s, 1, benchLogs, 2, 1000)
	}
	if err != nil {
		b.Fatal(err)
	}
	return s, r
}

// BenchmarkIngestLogs: parse + WAL (fsync, group commit) + head + flush.
func BenchmarkIngestLogs(b *testing.B) {
	for range b.N {
		s, err := eventstore.Open(b.TempDir(), scenario.Options())
		if err != nil {
			b.Fatal(err)
		}
		r, err := scenario.IngestLogs(context.Background(), s, 1, benchLogs, 2, 1000)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(r.Rows)/r.CPU.Seconds(), "lines/cpu-s")
		b.ReportMetric(float64(r.Rows)/r.Wall.Seconds(), "lines/s")
		b.ReportMetric(float64(r.Stats.DiskBytes)/float64(r.Rows), "disk-B/line")
		b.ReportMetric(100*float64(r.Stats.IndexBytes)/float64(r.Stats.DiskBytes), "index-%")
		s.Close()
	}
}

func BenchmarkIngestSpans(b *testing.B) {
	for range b.N {
		s, err := eventstore.Open(b.TempDir(), scenario.Options())
		if err != nil {
			b.Fatal(err)
		}
		r, err := scenario.IngestSpans(context.Background(), s, 2, 120_000, 2, 1000)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(r.Rows)/r.CPU.Seconds(), "spans/cpu-s")
		b.ReportMetric(float64(r.Stats.DiskBytes)/float64(r.Rows), "disk-B/span")
		s.Close()
	}
}

func BenchmarkNeedle(b *testing.B) {
	s, _ := ingested(b, false)
	for _, tc := range []struct {
		word string
		hits int
	}{{"quixotry", 4}, {"xanthic", 40}} {
		q := eventstore.Query{Tenant: "bench", Filters: []eventstore.Filter{{Op: eventstore.OpPhrase, Value: tc.word}}}
		b.Run(tc.word, func(b *testing.B) {
			for range b.N {
				if n, _, err := scenario.Count(context.Background(), s, q); err != nil || n != tc.hits {
					b.Fatalf("needle: %d rows, %v", n, err)
				}
			}
		})
	}
}

func BenchmarkTraceByID(b *testing.B) {
	s, _ := ingested(b, true)
	b.ResetTimer()
	for i := range b.N {
		id := gen.TraceIDOf(2, uint64(i*7919)%20_000)
		evs, _, err := s.TraceByID(context.Background(), "bench", model.TraceID(id), 0, 0)
		if err != nil || len(evs) != 6 {
			b.Fatalf("trace: %d spans, %v", len(evs), err)
		}
	}
}

func BenchmarkRegexScan(b *testing.B) {
	s, r := ingested(b, false)
	q := eventstore.Query{Tenant: "bench", Filters: []eventstore.Filter{{Op: eventstore.OpRegex, Value: `timeout after \d+ms for sku-9{6}`}}}
	b.SetBytes(r.RawBytes)
	b.ResetTimer()
	for range b.N {
		if _, _, err := scenario.Count(context.Background(), s, q); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWALReplay(b *testing.B) {
	dir := b.TempDir()
	o := scenario.Options()
	o.FlushInterval, o.FlushBytes, o.MaxHeadBytes = time.Hour, 2<<30, 4<<30
	s, err := eventstore.Open(filepath.Join(dir, "src"), o)
	if err != nil {
		b.Fatal(err)
	}
	g := gen.New(9, scenario.Start, scenario.Step)
	p := gen.NewParser()
	buf := make([]model.Event, 1000)
	for range 100 {
		p.Reset()
		for i := range buf {
			if err := p.Parse(g.Next(), &buf[i]); err != nil {
				b.Fatal(err)
			}
		}
		if err := s.Append(context.Background(), buf); err != nil {
			b.Fatal(err)
		}
	}
	img := filepath.Join(dir, "img")
	if err := scenario.CopyDir(img, filepath.Join(dir, "src")); err != nil {
		b.Fatal(err)
	}
	s.Close()
	b.SetBytes(scenario.DirSize(eventstore.WALDir(img)))
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		run := filepath.Join(dir, "run", string(rune('a'+i%26)))
		if err := scenario.CopyDir(run, img); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		rs, err := eventstore.Open(run, o)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if rs.Stats().HeadRows != 100_000 {
			b.Fatalf("replayed %d rows", rs.Stats().HeadRows)
		}
		rs.Close()
		b.StartTimer()
	}
}
