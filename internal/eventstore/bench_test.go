package eventstore

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/bench/gen"
	"github.com/sightline/sightline/internal/model"
)

// cpuNow returns the process's user+system CPU time: the machine is shared,
// so the benchmarks report throughput per CPU-second next to wall time.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuMeter reports bytes per CPU-second of the timed loop as "MB/cpu-s".
type cpuMeter struct {
	b     *testing.B
	start time.Duration
	spent time.Duration
	on    bool
}

func startCPU(b *testing.B) *cpuMeter {
	b.ResetTimer()
	return &cpuMeter{b: b, start: cpuNow(), on: true}
}

func (m *cpuMeter) pause() {
	if m.on {
		m.spent += cpuNow() - m.start
		m.on = false
	}
	m.b.StopTimer()
}

func (m *cpuMeter) resume() {
	m.b.StartTimer()
	m.start, m.on = cpuNow(), true
}

func (m *cpuMeter) report(bytesPerOp int64) {
	m.pause()
	if m.spent > 0 {
		m.b.ReportMetric(float64(bytesPerOp)*float64(m.b.N)/1e6/m.spent.Seconds(), "MB/cpu-s")
	}
}

// benchLogRows returns n parsed generator log records (JSON, logfmt and
// Java stack traces from 60 services), deep-copied so they outlive the
// parser.
func benchLogRows(n int) []model.Event {
	g := gen.New(9, baseTime, 100*time.Microsecond)
	p := gen.NewParser()
	out := make([]model.Event, n)
	for i := range out {
		p.Reset()
		var e model.Event
		if err := p.Parse(g.Next(), &e); err != nil {
			panic(err)
		}
		out[i] = cloneEvent(e)
	}
	return out
}

func cloneEvent(e model.Event) model.Event {
	c := e
	c.Body = string([]byte(e.Body))
	c.Severity = string([]byte(e.Severity))
	c.Attrs = make([]model.Attr, len(e.Attrs))
	for i, a := range e.Attrs {
		c.Attrs[i] = model.Attr{Key: string([]byte(a.Key)), Value: a.Value}
		c.Attrs[i].Value.Str = string([]byte(a.Value.Str))
	}
	return c
}

func benchOpts() Options {
	o := testOpts()
	o.Now = time.Now
	o.Retention = -1
	o.FlushInterval, o.FlushBytes, o.MaxHeadBytes = time.Hour, 2<<30, 4<<30
	return o
}

// replayImage writes 100k generator log rows (EVENTSTORE_BENCH_REPLAY_ROWS,
// rounded down to thousands) into a store under dir and copies it, with
// its WAL complete and nothing flushed, to a crash image: the image's
// path, the rows it holds and the bytes of its WAL segments.
func replayImage(b *testing.B, dir string) (img string, rows []model.Event, walBytes int64) {
	src := filepath.Join(dir, "src")
	s, err := Open(src, benchOpts())
	if err != nil {
		b.Fatal(err)
	}
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("EVENTSTORE_BENCH_REPLAY_ROWS")); err == nil && v >= 1000 {
		n = v / 1000 * 1000
	}
	rows = benchLogRows(n)
	for i := 0; i < len(rows); i += 1000 {
		if err := s.Append(context.Background(), rows[i:i+1000]); err != nil {
			b.Fatal(err)
		}
	}
	// The WAL is complete once Append returned; copy it as a crash image.
	img = filepath.Join(dir, "img")
	copyTree(b, img, src)
	s.Close()
	return img, rows, treeSize(b, WALDir(img))
}

// BenchmarkWALReplay opens a store whose WAL holds 100k unflushed log rows
// (T11). The figure to compare is MB/cpu-s of WAL segment bytes.
func BenchmarkWALReplay(b *testing.B) {
	dir := b.TempDir()
	o := benchOpts()
	img, rows, walBytes := replayImage(b, dir)
	b.SetBytes(walBytes)
	m := startCPU(b)
	for i := range b.N {
		m.pause()
		run := filepath.Join(dir, "run", string(rune('a'+i%26)))
		os.RemoveAll(run)
		copyTree(b, run, img)
		m.resume()
		rs, err := Open(run, o)
		if err != nil {
			b.Fatal(err)
		}
		m.pause()
		if n := rs.Stats().HeadRows; n != int64(len(rows)) {
			b.Fatalf("replayed %d rows, want %d", n, len(rows))
		}
		// Drop the head instead of flushing it to parts on Close.
		rs.appendMu.Lock()
		rs.mu.Lock()
		rs.head = newHead(time.Now())
		rs.mu.Unlock()
		rs.appendMu.Unlock()
		rs.Close()
		m.resume()
	}
	m.report(walBytes)
}

// copyTree copies a directory tree (e.g. a crash image of an open store).
func copyTree(b testing.TB, dst, src string) {
	b.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		t := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(t, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(t, data, 0o644)
	})
	if err != nil {
		b.Fatal(err)
	}
}

func treeSize(b *testing.B, dir string) int64 {
	var n int64
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// BenchmarkDecodeInsert indexes WAL payloads of 1000 log rows each into a
// fresh head, with a stream cache per payload as Append has: the per-row
// work of Append after encoding.
func BenchmarkDecodeInsert(b *testing.B) {
	rows := benchLogRows(50_000)
	var payloads [][]byte
	var total int64
	for i := 0; i < len(rows); i += 1000 {
		p := encodeBatch(nil, rows[i:i+1000])
		payloads = append(payloads, p)
		total += int64(len(p))
	}
	b.SetBytes(total)
	b.ReportAllocs()
	m := startCPU(b)
	for range b.N {
		res := mapResolver{}
		h := newHead(time.Now())
		for _, p := range payloads {
			sc := streamCache{res: res}
			rows, sts, err := indexBatch(p, &sc, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			h.insert(rows, sts, len(p))
		}
	}
	m.report(total)
}

// BenchmarkRegexScan runs an unindexed regex that matches no row over the
// bodies of 200k generated log rows in parts (T12). Dictionary-encoded
// bodies are decided once per dictionary entry, so the figure that matters
// is "plainMB/cpu-s": bytes of plain-encoded body text (the bodies actually
// scanned row by row) per CPU-second.
//
// T12 is the "scan" cases: their required literal ("exception: ") is in
// every plain-encoded block, so no index can skip one and every body is
// decompressed and searched (checked below). "indexed" cases show what the
// trigram filters save when the literal is rare: their bytes per
// CPU-second count the blocks skipped too, so they are not a scan rate.
func BenchmarkRegexScan(b *testing.B) {
	for _, bc := range []struct {
		name, re string
		want     int
		scan     bool
	}{
		{"scan", `exception: .*9{6}`, 0, true},
		{"scan-fold", `(?i)EXCEPTION: .*9{6}`, 0, true},
		{"scan-noliteral", `[0-9]{7}`, -1, true},
		{"indexed", `timeout after \d+ms for sku-9{6}`, 0, false},
		{"indexed-fold", `(?i)TIMEOUT after \d+ms for SKU-9{6}`, 0, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := benchScanStore(b)
			q := Query{Tenant: "bench", Filters: []Filter{{Op: OpRegex, Value: bc.re}}}
			res, err := s.Query(context.Background(), q, func(*model.Event) bool { return true })
			if err != nil {
				b.Fatal(err)
			}
			if st := res.Stats; bc.scan && (st.BlocksBloom != 0 || st.BlocksRead == 0) {
				b.Fatalf("%s: blocks skipped by index %d, read %d: not a scan", bc.re, st.BlocksBloom, st.BlocksRead)
			}
			benchScan(b, s, q, bc.want)
		})
	}
}

// BenchmarkSubstringScan is the LogQL |= line filter over the same bodies
// with a needle present in 1 of 50k rows.
func BenchmarkSubstringScan(b *testing.B) {
	s := benchScanStore(b)
	benchScan(b, s, Query{Tenant: "bench", Filters: []Filter{{Op: OpSubstring, Value: "note=quixotr"}}}, -1)
}

// BenchmarkNewestRows is the log view's first page: the newest 100 rows of
// 200k in merged parts, all of them or only errors (CPU-ms per query).
func BenchmarkNewestRows(b *testing.B) {
	s := benchScanStore(b)
	b.Run("all", func(b *testing.B) { benchCountQuery(b, s, Query{Tenant: "bench", Limit: 100}, 100) })
	b.Run("errors", func(b *testing.B) {
		benchCountQuery(b, s, Query{Tenant: "bench", Limit: 100,
			Filters: []Filter{{Field: model.FieldSeverity, Op: OpEqual, Value: "error"}}}, 100)
	})
}

var scanStore struct {
	s   *Store
	dir string
}

func benchScanStore(b *testing.B) *Store {
	if scanStore.s != nil {
		return scanStore.s
	}
	dir, err := os.MkdirTemp("", "esbench")
	if err != nil {
		b.Fatal(err)
	}
	s, err := Open(dir, benchOpts())
	if err != nil {
		b.Fatal(err)
	}
	rows := benchLogRows(200_000)
	for i := 0; i < len(rows); i += 1000 {
		if err := s.Append(context.Background(), rows[i:i+1000]); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := s.MergeAll(); err != nil {
		b.Fatal(err)
	}
	scanStore.s, scanStore.dir = s, dir
	return s
}

// closeBenchStores is called by TestMain after the tests and benchmarks.
func closeBenchStores() {
	if scanStore.s != nil {
		scanStore.s.Close()
		os.RemoveAll(scanStore.dir)
	}
	if manyStreamsStore.s != nil {
		manyStreamsStore.s.Close()
		os.RemoveAll(manyStreamsStore.dir)
	}
}

// benchScan runs q (want hits, -1 for any) and reports body bytes per
// CPU-second: all bodies, and plain-encoded ones.
func benchScan(b *testing.B, s *Store, q Query, want int) {
	var all, plain int64
	sn, err := s.snapshot()
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range sn.parts {
		for bi := range r.p.idx.blocks {
			for _, c := range mustHeader(b, r.p.idx, bi).cols {
				if c.name == model.FieldBody {
					all += int64(c.rawLen)
					if c.enc == encPlain {
						plain += int64(c.rawLen)
					}
				}
			}
		}
	}
	sn.release()
	b.SetBytes(plain)
	m := startCPU(b)
	for range b.N {
		n := 0
		if _, err := s.Query(context.Background(), q, func(*model.Event) bool { n++; return true }); err != nil {
			b.Fatal(err)
		}
		if want >= 0 && n != want {
			b.Fatalf("%d hits, want %d", n, want)
		}
	}
	m.pause()
	if m.spent > 0 {
		b.ReportMetric(float64(plain)*float64(b.N)/1e6/m.spent.Seconds(), "plainMB/cpu-s")
		b.ReportMetric(float64(all)*float64(b.N)/1e6/m.spent.Seconds(), "bodyMB/cpu-s")
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkStreamMemory measures heap per active stream (T8): 100k streams
// (EVENTSTORE_BENCH_STREAMS, in thousands)
// of three labels with one small row each, while the rows are in the head
// ("B/stream-head", the row included) and after they are flushed to a part
// ("B/stream-flushed": stream registry plus the part's index), and once a
// query by a stream label made the part build its label postings
// ("B/stream-queried").
func BenchmarkStreamMemory(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("EVENTSTORE_BENCH_STREAMS")); err == nil && v >= 1000 {
		n = v / 1000 * 1000
	}
	// Allocate what every process has once (zstd encoders and the like)
	// before measuring, so the figures are per stream.
	if s, err := Open(b.TempDir(), benchOpts()); err == nil {
		s.Append(context.Background(), []model.Event{{Tenant: "bench", Signal: model.SignalLog, Time: time.Now().UnixNano(),
			Body: "x", Stream: labels.FromStrings("service", "warm")}})
		s.Close()
	}
	// The zstd encoders allocate their history window (about 8 MiB, kept
	// for the process's life) on the first input that needs it: here the
	// part index, which would otherwise count it as 80 bytes per stream.
	for _, enc := range []*zstd.Encoder{zstdEnc, zstdFastEnc} {
		enc.EncodeAll(make([]byte, 4<<20), nil)
	}
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		s, err := Open(dir, benchOpts())
		if err != nil {
			b.Fatal(err)
		}
		before := heapInUse()
		now := time.Now().UnixNano()
		batches := make([][]model.Event, 0, n/1000)
		for i := 0; i < n; i += 1000 {
			rows := make([]model.Event, 1000)
			for j := range rows {
				rows[j] = model.Event{Tenant: "bench", Signal: model.SignalLog, Time: now, Body: "x",
					Stream: labels.FromStrings("namespace", "ns"+strconv.Itoa((i+j)%100), "service", "svc-"+strconv.Itoa(i+j), "env", "prod")}
			}
			batches = append(batches, rows)
		}
		b.StartTimer()
		for _, rows := range batches {
			if err := s.Append(context.Background(), rows); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		batches = nil
		head := heapInUse()
		dumpHeap(b, "head")
		if err := s.Flush(); err != nil {
			b.Fatal(err)
		}
		flushed := heapInUse()
		dumpHeap(b, "flushed")
		q := Query{Tenant: "bench", Matchers: []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "service", "svc-42")}}
		if _, err := s.Query(context.Background(), q, func(*model.Event) bool { return true }); err != nil {
			b.Fatal(err)
		}
		queried := heapInUse()
		b.ReportMetric(float64(head-before)/float64(n), "B/stream-head")
		b.ReportMetric(float64(flushed-before)/float64(n), "B/stream-flushed")
		b.ReportMetric(float64(queried-before)/float64(n), "B/stream-queried")
		s.Close()
	}
}

func dumpHeap(b *testing.B, name string) {
	if d := os.Getenv("EVENTSTORE_HEAP_DIR"); d != "" {
		f, err := os.Create(filepath.Join(d, name+".prof"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		pprof.WriteHeapProfile(f)
	}
}

// BenchmarkIngestSpans appends 200k generated spans (10 attributes each)
// from two goroutines in batches of 1000 and flushes them to parts: the
// engine side of span ingest (T2). "spans/cpu-s" is the figure.
func BenchmarkIngestSpans(b *testing.B) {
	const n, batch = 200_000, 1000
	g := gen.New(2, baseTime, 100*time.Microsecond)
	p := gen.NewParser()
	spans := make([]model.Event, n)
	var attrs []model.Attr
	for k := range spans {
		attrs = g.Span(k, &spans[k], attrs, p)
	}
	b.ReportAllocs()
	var cpu time.Duration
	for range b.N {
		b.StopTimer()
		o := benchOpts()
		o.FlushBytes, o.MaxHeadBytes = 0, 0 // defaults: 64 MiB flushes
		s, err := Open(b.TempDir(), o)
		if err != nil {
			b.Fatal(err)
		}
		c0 := cpuNow()
		b.StartTimer()
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Go(func() {
				for i := w * batch; i < n; i += 2 * batch {
					if err := s.Append(context.Background(), spans[i:i+batch]); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if err := s.Flush(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu += cpuNow() - c0
		s.Close()
	}
	b.ReportMetric(float64(n)*float64(b.N)/cpu.Seconds(), "spans/cpu-s")
}

// BenchmarkFlushSpans writes a head of 100k generated spans into a part:
// the flush share of span ingest. "spans/cpu-s" counts the flush only.
func BenchmarkFlushSpans(b *testing.B) {
	const n = 100_000
	g := gen.New(2, baseTime, 100*time.Microsecond)
	p := gen.NewParser()
	spans := make([]model.Event, n)
	var attrs []model.Attr
	for k := range spans {
		attrs = g.Span(k, &spans[k], attrs, p)
	}
	var cpu time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		s, err := Open(b.TempDir(), benchOpts())
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < n; i += 1000 {
			if err := s.Append(context.Background(), spans[i:i+1000]); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		c0 := cpuNow()
		b.StartTimer()
		if err := s.Flush(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu += cpuNow() - c0
		b.ReportMetric(float64(s.Stats().DiskBytes)/n, "B/span-flushed")
		s.Close()
	}
	b.ReportMetric(float64(n)*float64(b.N)/cpu.Seconds(), "spans/cpu-s")
}
