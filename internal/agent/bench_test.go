package agent

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/agent/parse"
	"github.com/sightline/sightline/internal/agent/ship"
	"github.com/sightline/sightline/internal/agent/tail"
)

// writeBenchLog writes n lines mixing JSON, logfmt and plain text (about
// 200 bytes each) and returns the file size.
func writeBenchLog(b *testing.B, path string, n int) int64 {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	levels := []string{"info", "warn", "error", "debug"}
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range n {
		ts := t0.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano)
		lvl := levels[r.IntN(len(levels))]
		switch i % 3 {
		case 0:
			fmt.Fprintf(f, `{"ts":"%s","level":"%s","msg":"request served","method":"GET","path":"/api/v1/items/%d","status":200,"duration_ms":%d,"trace_id":"%016x"}`+"\n", ts, lvl, r.IntN(100000), r.IntN(500), r.Uint64())
		case 1:
			fmt.Fprintf(f, "ts=%s level=%s msg=\"cache lookup\" key=user:%d hit=%v elapsed=%dus caller=cache/lru.go:%d\n", ts, lvl, r.IntN(100000), r.IntN(2) == 0, r.IntN(900), r.IntN(400))
		default:
			fmt.Fprintf(f, "%s %s [worker-%d] processed batch of %d events from queue orders in %d ms\n", ts, lvl, r.IntN(16), r.IntN(1000), r.IntN(100))
		}
	}
	fi, _ := f.Stat()
	f.Close()
	return fi.Size()
}

// cpuSeconds returns the process's user+system CPU time. The benchmarks
// report throughput per CPU-second as well as per wall-second, since the
// build machine is shared.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func reportThroughput(b *testing.B, lines int, size int64, cpu0 float64) {
	cpu := cpuSeconds() - cpu0
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(lines)*float64(b.N)/cpu, "lines/cpu-s")
	b.ReportMetric(float64(size)*float64(b.N)/cpu/1e6, "MB/cpu-s")
}

// BenchmarkTailParseBatch measures tail → parse → OTLP batch encoding
// (no disk buffer, no network) on one goroutine pair.
func BenchmarkTailParseBatch(b *testing.B) {
	dir := b.TempDir()
	const lines = 200_000
	size := writeBenchLog(b, filepath.Join(dir, "app.log"), lines)
	b.SetBytes(size)
	b.ResetTimer()
	cpu0 := cpuSeconds()
	for range b.N {
		o := tail.DefaultOptions()
		o.Include = []string{filepath.Join(dir, "*.log")}
		tl, err := tail.New(o, nil, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		proc, _ := parse.NewProcessor(parse.DefaultOptions(), nil)
		enc := ship.NewEncoder()
		chunks := make(chan tail.Chunk, 2)
		done := make(chan int)
		go func() {
			n, seq := 0, uint64(0)
			emit := func(r *parse.Record) {
				enc.Add(r, time.Time{})
				if enc.Len() >= 5000 {
					n += enc.Len()
					seq++
					if _, err := enc.Finish(seq, "bench"); err != nil {
						b.Error(err)
					}
				}
			}
			for c := range chunks {
				proc.Process(c, emit)
			}
			proc.FlushAll(emit)
			n += enc.Len()
			enc.Finish(seq+1, "bench")
			done <- n
		}()
		if err := tl.Poll(context.Background(), chunks); err != nil {
			b.Fatal(err)
		}
		close(chunks)
		if n := <-done; n != lines {
			b.Fatalf("encoded %d records, want %d", n, lines)
		}
	}
	reportThroughput(b, lines, size, cpu0)
}

// BenchmarkAgentOnce measures the whole agent (--once): tail, parse, batch,
// fsynced disk buffer, gzip, HTTP POST to a local receiver that reads the
// body and acknowledges, checkpoint.
func BenchmarkAgentOnce(b *testing.B) {
	dir := b.TempDir()
	os.MkdirAll(filepath.Join(dir, "logs"), 0o755)
	const lines = 200_000
	size := writeBenchLog(b, filepath.Join(dir, "logs", "app.log"), lines)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	b.SetBytes(size)
	b.ResetTimer()
	cpu0 := cpuSeconds()
	for i := range b.N {
		cfg := DefaultConfig()
		cfg.Server = srv.URL
		cfg.DataDir = filepath.Join(dir, fmt.Sprintf("data%d", i))
		cfg.Paths = []string{filepath.Join(dir, "logs", "*.log")}
		cfg.Once = true
		a, err := New(cfg, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := a.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	reportThroughput(b, lines, size, cpu0)
}
