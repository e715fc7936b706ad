package eventstore

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// BenchmarkReplayRecords indexes WAL payloads of 100k generator log rows
// (batches of 1000) into a head, as Open's replay does after reading and
// checksumming the segments: the row indexer and head insert alone,
// reported as MB/cpu-s of payload.
func BenchmarkReplayRecords(b *testing.B) {
	rows := benchLogRows(100_000)
	var payloads [][]byte
	var total int64
	for i := 0; i < len(rows); i += 1000 {
		p := encodeBatch(nil, rows[i:i+1000])
		payloads = append(payloads, p)
		total += int64(len(p))
	}
	rows = nil
	b.SetBytes(total)
	b.ReportAllocs()
	m := startCPU(b)
	for range b.N {
		s := &Store{}
		s.head = newHead(time.Now())
		rp := &replayer{s: s, sc: streamCache{res: s}}
		for i, p := range payloads {
			if err := rp.record(uint64(i+1), p); err != nil {
				b.Fatal(err)
			}
		}
		if n := s.head.rows.Load(); n != 100_000 {
			b.Fatalf("replayed %d rows", n)
		}
	}
	m.report(total)
}

// BenchmarkWALReplayRestart is BenchmarkWALReplay (T11) without two costs
// that belong to the benchmark rather than to a restart: the 100k parsed
// source rows (about a million small objects) stay out of the heap every
// garbage collection marks, and the previous iteration's store is collected
// while the clock is stopped instead of during the next replay. A restarted
// server starts with neither. One full collection after Open is timed, so
// collections the replay put off are charged to it. The figure is MB/cpu-s
// of WAL segment bytes.
func BenchmarkWALReplayRestart(b *testing.B) {
	dir := b.TempDir()
	o := benchOpts()
	img, rows, walBytes := replayImage(b, dir)
	n := len(rows)
	rows = nil
	b.SetBytes(walBytes)
	runtime.GC()
	m := startCPU(b)
	for i := range b.N {
		m.pause()
		run := filepath.Join(dir, "run", string(rune('a'+i%26)))
		os.RemoveAll(run)
		copyTree(b, run, img)
		runtime.GC()
		m.resume()
		rs, err := Open(run, o)
		if err != nil {
			b.Fatal(err)
		}
		// Charged to the replay: one collection marking the whole head,
		// which Open may have put off until after it returns.
		runtime.GC()
		m.pause()
		if got := rs.Stats().HeadRows; got != int64(n) {
			b.Fatalf("replayed %d rows, want %d", got, n)
		}
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

// replayEnvDir makes the test binary a helper process that opens the store
// in that directory, as a restarted server would, and prints the CPU time
// the Open and one full collection after it took (TestMain dispatches).
const replayEnvDir = "EVENTSTORE_REPLAY_HELPER_DIR"

func replayHelper(dir string) {
	o := benchOpts()
	runtime.GC()
	start := cpuNow()
	s, err := Open(dir, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "replay helper open:", err)
		os.Exit(3)
	}
	runtime.GC()
	spent := cpuNow() - start
	fmt.Printf("replay %d rows %d cpu-ns\n", s.Stats().HeadRows, spent.Nanoseconds())
	os.Exit(0) // a crash image: no flush on the way out
}

// BenchmarkWALReplayProcess measures T11 as a restart does: each iteration
// starts a fresh process that opens a copy of a store whose WAL holds 100k
// unflushed generator log rows (EVENTSTORE_BENCH_REPLAY_ROWS), timing Open
// plus one full collection in that process by its own CPU clock. The
// figure is MB/cpu-s of WAL segment bytes.
func BenchmarkWALReplayProcess(b *testing.B) {
	dir := b.TempDir()
	img, rows, walBytes := replayImage(b, dir)
	n := len(rows)
	b.SetBytes(walBytes)
	var spent time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		run := filepath.Join(dir, "run", string(rune('a'+i%26)))
		os.RemoveAll(run)
		copyTree(b, run, img)
		b.StartTimer()
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), replayEnvDir+"="+run)
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("replay helper: %v: %s", err, out)
		}
		var got, ns int64
		if _, err := fmt.Sscanf(string(out), "replay %d rows %d cpu-ns", &got, &ns); err != nil || got != int64(n) {
			b.Fatalf("replay helper replayed %d rows (want %d): %q", got, n, out)
		}
		spent += time.Duration(ns)
	}
	b.ReportMetric(float64(walBytes)*float64(b.N)/1e6/spent.Seconds(), "MB/cpu-s")
}
