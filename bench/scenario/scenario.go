// Package scenario runs the event store benchmark scenarios shared by the
// Go benchmarks in bench/ and the bench/cmd/eventbench program: ingest of
// generated logs and spans, and the queries whose latency the targets in
// docs/benchmarks.md name. Functions are safe to call from one goroutine at
// a time per Store.
package scenario

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/sightline/sightline/bench/gen"
	"github.com/sightline/sightline/internal/eventstore"
	"github.com/sightline/sightline/internal/model"
)

// Start is the first record's time; Step the spacing of records.
var (
	Start = time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Hour)
	Step  = time.Microsecond * 100
)

// Options returns store options for benchmarks (default WAL policy: fsync
// with group commit) with logging off.
func Options() eventstore.Options {
	o := eventstore.DefaultOptions()
	o.Logger = slog.New(slog.DiscardHandler)
	o.FlushInterval = 5 * time.Second
	return o
}

// CPUTime returns the process's user+system CPU time.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// IngestResult summarizes an ingest run.
type IngestResult struct {
	Rows      int
	RawBytes  int64 // bytes of the generated records (or estimated OTLP bytes for spans)
	BodyBytes int64 // bytes of the rows' bodies
	Wall, CPU time.Duration
	Stats     eventstore.Stats // after flush and MergeAll
}

// IngestLogs generates n log records in workers goroutines (worker w uses
// seed+w), parses and appends them in batches, flushes and merges.
func IngestLogs(ctx context.Context, s *eventstore.Store, seed uint64, n, workers, batch int) (IngestResult, error) {
	return ingest(ctx, s, n, workers, batch, func(w int) func([]model.Event) ([]model.Event, int64, int64, error) {
		g := gen.New(seed+uint64(w), Start, Step*time.Duration(workers))
		p := gen.NewParser()
		return func(dst []model.Event) ([]model.Event, int64, int64, error) {
			p.Reset()
			var raw, body int64
			for i := range dst {
				rec := g.Next()
				raw += int64(len(rec.Line))
				if err := p.Parse(rec, &dst[i]); err != nil {
					return nil, 0, 0, err
				}
				body += int64(len(dst[i].Body))
			}
			return dst, raw, body, nil
		}
	})
}

// IngestSpans appends n generated spans (six per trace).
func IngestSpans(ctx context.Context, s *eventstore.Store, seed uint64, n, workers, batch int) (IngestResult, error) {
	return ingest(ctx, s, n, workers, batch, func(w int) func([]model.Event) ([]model.Event, int64, int64, error) {
		g := gen.New(seed, Start, Step)
		p := gen.NewParser()
		k := w * (n / workers)
		var attrs []model.Attr
		return func(dst []model.Event) ([]model.Event, int64, int64, error) {
			attrs = attrs[:0]
			var raw int64
			for i := range dst {
				attrs = g.Span(k, &dst[i], attrs, p)
				raw += int64(gen.SpanSize(&dst[i]))
				k++
			}
			return dst, raw, 0, nil
		}
	})
}

func ingest(ctx context.Context, s *eventstore.Store, n, workers, batch int,
	mk func(w int) func([]model.Event) ([]model.Event, int64, int64, error)) (IngestResult, error) {
	var res IngestResult
	cpu0, t0 := CPUTime(), time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	per := n / workers
	for w := range workers {
		next := mk(w)
		wg.Go(func() {
			buf := make([]model.Event, batch)
			for done := 0; done < per; {
				k := min(batch, per-done)
				rows, raw, body, err := next(buf[:k])
				if err == nil {
					for {
						err = s.Append(ctx, rows)
						if err != eventstore.ErrOverloaded {
							break
						}
						time.Sleep(5 * time.Millisecond)
					}
				}
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				done += k
				mu.Lock()
				res.Rows += k
				res.RawBytes += raw
				res.BodyBytes += body
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return res, firstErr
	}
	if err := s.Flush(); err != nil {
		return res, err
	}
	res.Wall, res.CPU = time.Since(t0), CPUTime()-cpu0
	if err := s.MergeAll(); err != nil {
		return res, err
	}
	res.Stats = s.Stats()
	return res, nil
}

// Median runs fn k times and returns the median duration.
func Median(k int, fn func() error) (time.Duration, error) {
	ds := make([]time.Duration, 0, k)
	for range k {
		t := time.Now()
		if err := fn(); err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(t))
	}
	slices.Sort(ds)
	return ds[len(ds)/2], nil
}

// MedianCPU runs fn k times and returns the median wall time and the median
// process CPU time per run (on a loaded machine CPU time is the steadier
// figure).
func MedianCPU(k int, fn func() error) (wall, cpu time.Duration, err error) {
	ws := make([]time.Duration, 0, k)
	cs := make([]time.Duration, 0, k)
	for range k {
		c, t := CPUTime(), time.Now()
		if err := fn(); err != nil {
			return 0, 0, err
		}
		ws, cs = append(ws, time.Since(t)), append(cs, CPUTime()-c)
	}
	slices.Sort(ws)
	slices.Sort(cs)
	return ws[len(ws)/2], cs[len(cs)/2], nil
}

// Count runs q and returns the rows delivered and stats.
func Count(ctx context.Context, s *eventstore.Store, q eventstore.Query) (int, eventstore.QueryStats, error) {
	n := 0
	res, err := s.Query(ctx, q, func(*model.Event) bool { n++; return true })
	return n, res.Stats, err
}

// CopyDir copies a directory tree (a crash-consistent image of a store whose
// WAL is fsynced on every append).
func CopyDir(dst, src string) error {
	return filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}

// DirSize sums file sizes under dir.
func DirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n += info.Size()
		}
		return nil
	})
	return n
}

// HeapInUse returns live heap bytes after a GC.
func HeapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// Table prints name/value rows aligned.
func Table(w io.Writer, rows [][3]string) {
	for _, r := range rows {
		fmt.Fprintf(w, "%-5s %-58s %s\n", r[0], r[1], r[2])
	}
}
