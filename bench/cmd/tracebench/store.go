package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sightline/sightline/internal/eventstore"
	"github.com/sightline/sightline/internal/eventstore/wal"
	"github.com/sightline/sightline/internal/model"
	"github.com/sightline/sightline/internal/tracestore"
)

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// dirSize sums the sizes of the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// eventsDir matches app.EventsDir: the event store lives in <data-dir>/events.
func eventsDir(dataDir string) string { return filepath.Join(dataDir, "events") }

func parseSizes(s string) ([]int64, error) {
	var out []int64
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		mul := int64(1)
		switch {
		case strings.HasSuffix(f, "M"):
			mul, f = 1_000_000, strings.TrimSuffix(f, "M")
		case strings.HasSuffix(f, "k"):
			mul, f = 1_000, strings.TrimSuffix(f, "k")
		}
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("parse size %q: %w", f, err)
		}
		out = append(out, v*mul)
	}
	slices.Sort(out)
	return out, nil
}

func runFill(args []string) error {
	fs := flag.NewFlagSet("fill", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "sightline data dir (the event store goes in <data-dir>/events)")
	spans := fs.String("spans", "1M", "spans to write (suffix k or M)")
	checkpoints := fs.String("checkpoints", "", "comma-separated span counts at which to flush and measure (e.g. 1M,10M,30M)")
	seed := fs.Uint64("seed", 1, "generator seed")
	services := fs.Int("services", 60, "services")
	workers := fs.Int("workers", 2, "converting and appending goroutines")
	window := fs.Duration("window", 20*time.Hour, "time the traces' starts spread over, ending now")
	headMB := fs.Int64("head-mb", 1024, "event store memory budget for unflushed rows (MiB)")
	lookups := fs.Int("lookups", 200, "trace-by-id lookups per checkpoint")
	deadline := fs.String("stop-at", "", "stop writing at this UTC time (HH:MM) and keep what was written")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the fill here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("fill: create profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("fill: start profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if *dataDir == "" {
		return errors.New("fill: -data-dir is required")
	}
	target, err := parseSizes(*spans)
	if err != nil || len(target) != 1 {
		return fmt.Errorf("fill: bad -spans %q", *spans)
	}
	cps, err := parseSizes(*checkpoints)
	if err != nil {
		return err
	}
	var stopAt time.Time
	if *deadline != "" {
		t, err := time.Parse("15:04", *deadline)
		if err != nil {
			return fmt.Errorf("fill: parse -stop-at: %w", err)
		}
		now := time.Now().UTC()
		stopAt = time.Date(now.Year(), now.Month(), now.Day(), t.Hour(), t.Minute(), 0, 0, time.UTC)
	}
	if _, err := os.Stat(metaPath(*dataDir)); err == nil {
		return fmt.Errorf("fill: %s exists; fill an empty data dir", metaPath(*dataDir))
	}
	// 17.5 spans per trace on average (5–30, uniform).
	const batchTraces = 64
	const roundTraces = batchTraces * 64
	estTraces := max(1, int(float64(target[0])/17.5)) + 2*roundTraces
	m := Meta{Seed: *seed, Services: *services, Base: time.Now().Add(-*window).Truncate(time.Second), StepNS: int64(*window) / int64(estTraces)}
	g, err := m.gen()
	if err != nil {
		return err
	}
	opts := eventstore.DefaultOptions()
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// Cheapest durable-enough settings for a bulk load: no fsync per batch
	// (Close flushes everything into parts) and a large head so parts are
	// big and merges few.
	opts.WAL.Sync = wal.SyncNone
	opts.MaxHeadBytes = *headMB << 20
	opts.FlushBytes = opts.MaxHeadBytes / 2
	opts.FlushInterval = time.Hour
	if err := os.MkdirAll(*dataDir, 0o755); err != nil {
		return fmt.Errorf("fill: create data dir: %w", err)
	}
	st, err := eventstore.Open(eventsDir(*dataDir), opts)
	if err != nil {
		return fmt.Errorf("fill: open event store: %w", err)
	}
	store := &tracestore.Store{Events: st}
	ctx := context.Background()
	fmt.Printf("fill: target %d spans, ~%d traces, step %v, base %s, checkpoints %v\n", target[0], estTraces, time.Duration(m.StepNS), m.Base.Format(time.RFC3339), cps)
	startWall, startCPU := time.Now(), cpuTime()
	lastReport := startWall
	var rows int64
	for m.Spans < target[0] {
		if !stopAt.IsZero() && time.Now().After(stopAt) {
			fmt.Printf("fill: stopping at %s as asked (-stop-at)\n", time.Now().UTC().Format("15:04:05"))
			break
		}
		// One round: traces [m.Traces, m.Traces+roundTraces) split among
		// workers in batches; stored traces stay a prefix 0..Traces-1.
		from := m.Traces
		next := make(chan int)
		var mu sync.Mutex
		var roundSpans, roundRows int64
		var firstErr error
		var wg sync.WaitGroup
		for w := 0; w < *workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var rb tracestore.RowBuffer
				for b := range next {
					td, n := g.Batch(b, b+batchTraces)
					rs := rb.Rows("", td)
					err := appendRetry(ctx, store, rs)
					mu.Lock()
					roundSpans += int64(n)
					roundRows += int64(len(rs))
					if err != nil && firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}()
		}
		for b := from; b < from+roundTraces; b += batchTraces {
			next <- b
		}
		close(next)
		wg.Wait()
		if firstErr != nil {
			_ = st.Close()
			return fmt.Errorf("fill: %w", firstErr)
		}
		m.Traces += roundTraces
		m.Spans += roundSpans
		rows += roundRows
		if time.Since(lastReport) > time.Minute {
			lastReport = time.Now()
			s := st.Stats()
			cpu := cpuTime() - startCPU
			fmt.Printf("fill: %s %d spans (%d rows) in %v wall, %.0f CPU-s = %.0f spans/CPU-s; %d parts, disk %.2f GB\n",
				time.Now().UTC().Format("15:04:05"), m.Spans, rows, time.Since(startWall).Round(time.Second), cpu.Seconds(),
				float64(m.Spans)/cpu.Seconds(), s.Parts, float64(dirSize(*dataDir))/1e9)
			if err := writeMeta(metaPath(*dataDir), m); err != nil {
				return err
			}
		}
		for len(cps) > 0 && m.Spans >= cps[0] {
			cps = cps[1:]
			if err := st.Flush(); err != nil {
				return fmt.Errorf("fill: flush: %w", err)
			}
			if err := writeMeta(metaPath(*dataDir), m); err != nil {
				return err
			}
			fmt.Printf("checkpoint: %d spans stored, %d traces, disk %.2f GB (%.1f B/span), fill so far %.0f CPU-s\n", m.Spans, m.Traces,
				float64(dirSize(*dataDir))/1e9, float64(dirSize(*dataDir))/float64(m.Spans), (cpuTime() - startCPU).Seconds())
			if err := measure(ctx, st, g, m, *lookups, 20, rand.New(rand.NewPCG(uint64(m.Traces), 7))); err != nil {
				return err
			}
		}
	}
	cpu := cpuTime() - startCPU
	fmt.Printf("fill: wrote %d spans (%d rows) in %v wall, %.0f CPU-s (%.0f spans/CPU-s); closing (flush)\n", m.Spans, rows, time.Since(startWall).Round(time.Second), cpu.Seconds(), float64(m.Spans)/cpu.Seconds())
	if err := st.Close(); err != nil {
		return fmt.Errorf("fill: close: %w", err)
	}
	if err := writeMeta(metaPath(*dataDir), m); err != nil {
		return err
	}
	cpu = cpuTime() - startCPU
	fmt.Printf("fill: done, %.0f CPU-s in all, disk %.2f GB (%.1f B/span)\n", cpu.Seconds(), float64(dirSize(*dataDir))/1e9, float64(dirSize(*dataDir))/float64(m.Spans))
	return nil
}

// appendRetry appends rows, waiting while the store reports overload (its
// head is full until the background flush catches up).
func appendRetry(ctx context.Context, s *tracestore.Store, rows []model.Event) error {
	for {
		err := s.Append(ctx, rows)
		if err == nil || !errors.Is(err, eventstore.ErrOverloaded) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// latencies summarizes durations.
type latencies []time.Duration

func (l latencies) pct(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	i := int(p*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func (l latencies) String() string {
	return fmt.Sprintf("p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms (n=%d)", ms(l.pct(0.5)), ms(l.pct(0.9)), ms(l.pct(0.99)), ms(l.pct(1)), len(l))
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// checkTrace verifies a trace returned by the store against the generator.
func checkTrace(t tracestore.Trace, found bool, want TraceInfo) error {
	if !found {
		return fmt.Errorf("trace %x not found", want.ID)
	}
	if len(t.Spans) != len(want.SpanIDs) {
		return fmt.Errorf("trace %x: %d spans, want %d", want.ID, len(t.Spans), len(want.SpanIDs))
	}
	got := map[[8]byte]bool{}
	for _, s := range t.Spans {
		got[s.SpanID] = true
	}
	for _, id := range want.SpanIDs {
		if !got[id] {
			return fmt.Errorf("trace %x: span %x missing", want.ID, id)
		}
	}
	return nil
}

// threadCPU is the calling OS thread's user+system CPU time (the caller
// must hold runtime.LockOSThread): a lookup's own CPU, without the store's
// background flushes and merges running on other threads.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// passResult summarizes one pass of lookups.
type passResult struct {
	wall          latencies
	cpu           latencies // the lookup's own thread CPU
	parts, blocks int64     // summed over the pass
}

func (p passResult) String() string {
	n := int64(max(1, len(p.wall)))
	return fmt.Sprintf("wall %s; own CPU p50 %.2f ms, p99 %.2f ms; %.1f parts searched, %.1f blocks read per lookup",
		p.wall, ms(p.cpu.pct(0.5)), ms(p.cpu.pct(0.99)), float64(p.parts)/float64(n), float64(p.blocks)/float64(n))
}

// lookupPass looks up each trace in ks once, the way tracestore.Store's
// TraceByID does (event store TraceByID, then AssembleTrace), and verifies
// it against the generator.
func lookupPass(ctx context.Context, es *eventstore.Store, g *Generator, ks []int) (passResult, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var res passResult
	for _, k := range ks {
		want := g.Info(k)
		t0, c0 := time.Now(), threadCPU()
		rows, st, err := es.TraceByID(ctx, "", model.TraceID(want.ID), 0, 0)
		var t tracestore.Trace
		found := false
		if err == nil {
			for _, tr := range tracestore.AssembleTrace(rows) {
				if tr.ID == model.TraceID(want.ID) {
					t, found = tr, true
				}
			}
		}
		res.cpu = append(res.cpu, threadCPU()-c0)
		res.wall = append(res.wall, time.Since(t0))
		if err != nil {
			return res, fmt.Errorf("trace by id: %w", err)
		}
		res.parts += int64(st.PartsSearched)
		res.blocks += int64(st.BlocksRead)
		if err := checkTrace(t, found, want); err != nil {
			return res, err
		}
	}
	return res, nil
}

// measure runs warm trace-by-id lookups of random stored traces (two passes
// over the same ids: first touch, then fully cached) and searches.
func measure(ctx context.Context, es *eventstore.Store, g *Generator, m Meta, n, searches int, r *rand.Rand) error {
	ks := make([]int, n)
	for i := range ks {
		ks[i] = r.IntN(m.Traces)
	}
	p1, err := lookupPass(ctx, es, g, ks)
	if err != nil {
		return err
	}
	p2, err := lookupPass(ctx, es, g, ks)
	if err != nil {
		return err
	}
	fmt.Printf("  trace by id, first touch of each id: %s\n", p1)
	fmt.Printf("  trace by id, warm (same ids again):   %s\n", p2)
	return searchPass(ctx, &tracestore.Store{Events: es}, g, m, searches, r)
}

// searchPass runs service + min-duration searches (limit 20) over the whole
// stored time range and checks each result satisfies the query.
func searchPass(ctx context.Context, store *tracestore.Store, g *Generator, m Meta, n int, r *rand.Rand) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var l, lc latencies
	var got int
	end := m.Base.Add(time.Duration(m.Traces)*time.Duration(m.StepNS) + time.Minute).UnixNano()
	for i := 0; i < n; i++ {
		svc := g.ServiceName(r.IntN(g.Services()))
		minDur := 500 * time.Millisecond
		q := tracestore.Search{Service: svc, MinDuration: minDur, Start: m.Base.UnixNano(), End: end, Limit: 20}
		t0, c0 := time.Now(), threadCPU()
		ts, err := store.FindTraces(ctx, q)
		lc = append(lc, threadCPU()-c0)
		l = append(l, time.Since(t0))
		if err != nil {
			return fmt.Errorf("search: %w", err)
		}
		got += len(ts)
		for _, t := range ts {
			ok := false
			for _, s := range t.Spans {
				if s.Service == svc && time.Duration(s.Duration) >= minDur {
					ok = true
				}
			}
			if !ok {
				return fmt.Errorf("search %s minDuration %v returned trace %s with no matching span", svc, minDur, t.ID)
			}
		}
	}
	fmt.Printf("  search service=<random> minDuration=500ms limit=20: wall %s; own CPU p50 %.2f ms, p99 %.2f ms; %.1f traces per result (all verified)\n",
		l, ms(lc.pct(0.5)), ms(lc.pct(0.99)), float64(got)/float64(max(1, n)))
	return nil
}

// dropCache asks the kernel to drop the page cache of every file under dir
// (POSIX_FADV_DONTNEED), so the next read comes from disk.
func dropCache(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := fadviseDontNeed(int(f.Fd())); err != nil {
			return fmt.Errorf("fadvise %s: %w", p, err)
		}
		n++
		return nil
	})
	return n, err
}

func runLookup(args []string) error {
	fs := flag.NewFlagSet("lookup", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "sightline data dir written by fill")
	n := fs.Int("n", 300, "lookups per pass")
	searches := fs.Int("searches", 30, "searches")
	cold := fs.Bool("cold", true, "drop the data dir's page cache first and time the first lookups")
	seed := fs.Uint64("seed", 99, "seed choosing the ids looked up")
	if err := fs.Parse(args); err != nil {
		return err
	}
	m, err := readMeta(metaPath(*dataDir))
	if err != nil {
		return err
	}
	g, err := m.gen()
	if err != nil {
		return err
	}
	fmt.Printf("lookup: %d spans, %d traces stored; disk %.2f GB (%.1f B/span)\n", m.Spans, m.Traces, float64(dirSize(*dataDir))/1e9, float64(dirSize(*dataDir))/float64(m.Spans))
	if *cold {
		files, err := dropCache(*dataDir)
		if err != nil {
			return err
		}
		fmt.Printf("  dropped the page cache of %d files\n", files)
	}
	// The server's options (app.openEvents with the default config).
	opts := eventstore.DefaultOptions()
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	t0, c0 := time.Now(), cpuTime()
	st, err := eventstore.Open(eventsDir(*dataDir), opts)
	if err != nil {
		return fmt.Errorf("lookup: open event store: %w", err)
	}
	defer st.Close()
	s := st.Stats()
	fmt.Printf("  open: %.0f ms wall, %.0f ms CPU; %d parts, %d rows\n", ms(time.Since(t0)), ms(cpuTime()-c0), s.Parts, s.Rows)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(*seed, uint64(m.Traces)))
	if *cold {
		first, err := lookupPass(ctx, st, g, []int{r.IntN(m.Traces)})
		if err != nil {
			return err
		}
		more := make([]int, 20)
		for i := range more {
			more[i] = r.IntN(m.Traces)
		}
		next, err := lookupPass(ctx, st, g, more)
		if err != nil {
			return err
		}
		fmt.Printf("  cold: first lookup after open: %s\n  cold: next 20 new ids: %s\n", first, next)
	}
	return measure(ctx, st, g, m, *n, *searches, r)
}

// sendBatches is shared by send: it yields batches of traces as pdata.
func sendBatches(g *Generator, traces, batchTraces int, fn func(td ptrace.Traces, spans int) error) error {
	for b := 0; b < traces; b += batchTraces {
		td, n := g.Batch(b, min(traces, b+batchTraces))
		if err := fn(td, n); err != nil {
			return err
		}
	}
	return nil
}
