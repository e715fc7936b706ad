package eventstore

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/model"
)

// The crash test re-runs this test binary as a helper process that appends
// rows in a loop and prints the id range of every acknowledged batch; the
// test kills it with SIGKILL at random moments, restarts it, and finally
// checks that every acknowledged row is stored exactly once.
//
// EVENTSTORE_CRASH_SECONDS sets the test's duration (default 15).

const (
	crashEnvDir  = "EVENTSTORE_CRASH_HELPER_DIR"
	crashEnvBase = "EVENTSTORE_CRASH_HELPER_BASE"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashEnvDir); dir != "" {
		base, _ := strconv.ParseInt(os.Getenv(crashEnvBase), 10, 64)
		crashHelper(dir, base)
		os.Exit(0)
	}
	if dir := os.Getenv(replayEnvDir); dir != "" {
		replayHelper(dir)
		os.Exit(0)
	}
	code := m.Run()
	closeBenchStores()
	os.Exit(code)
}

func crashOpts() Options {
	o := DefaultOptions()
	o.FlushBytes = 256 << 10 // flush and merge often so kills land mid-write
	o.MaxHeadBytes = 64 << 20
	o.FlushInterval = 200 * time.Millisecond
	o.MergeMinParts = 3
	o.Logger = slog.New(slog.DiscardHandler)
	return o
}

func crashHelper(dir string, base int64) {
	s, err := Open(dir, crashOpts())
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper open:", err)
		os.Exit(3)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	// Now and then the writers pause while a flush runs, so its checkpoint
	// covers the whole active WAL segment and kills also land while the
	// WAL retires it.
	var gate sync.RWMutex
	go func() {
		for {
			time.Sleep(time.Duration(50+rand.IntN(200)) * time.Millisecond)
			gate.Lock()
			s.Flush()
			gate.Unlock()
		}
	}()
	for w := range 4 {
		wg.Go(func() {
			id := base + int64(w)*1_000_000
			for {
				rows := make([]model.Event, 20)
				for i := range rows {
					rows[i] = model.Event{Tenant: "crash", Signal: model.SignalLog,
						Stream: labels.FromStrings("worker", strconv.Itoa(w)),
						Time:   time.Now().UnixNano(), Body: "crash test row " + strconv.FormatInt(id+int64(i), 10),
						Attrs: []model.Attr{{Key: "id", Value: model.IntValue(id + int64(i))}}}
				}
				gate.RLock()
				err := s.Append(context.Background(), rows)
				gate.RUnlock()
				if err != nil {
					time.Sleep(time.Millisecond)
					continue
				}
				mu.Lock()
				fmt.Fprintf(out, "ack %d %d\n", id, id+int64(len(rows))-1)
				out.Flush()
				mu.Unlock()
				id += int64(len(rows))
			}
		})
	}
	wg.Wait()
}

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	dur := 15 * time.Second
	if v := os.Getenv("EVENTSTORE_CRASH_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatal(err)
		}
		dur = time.Duration(n) * time.Second
	}
	dir := t.TempDir()
	acked := map[int64]bool{}
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	deadline := time.Now().Add(dur)
	runs := 0
	for run := int64(1); time.Now().Before(deadline); run++ {
		runs++
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashRecovery$")
		cmd.Env = append(os.Environ(), crashEnvDir+"="+dir, crashEnvBase+"="+strconv.FormatInt(run*10_000_000, 10))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		var lines []string
		go func() {
			defer close(done)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines = append(lines, sc.Text())
			}
		}()
		time.Sleep(time.Duration(50+r.IntN(700)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		werr := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("helper exited on its own (%v): %s", werr, stderr.String())
		}
		for _, l := range lines {
			var a, b int64
			if _, err := fmt.Sscanf(l, "ack %d %d", &a, &b); err != nil {
				continue // a line torn by the kill was never acknowledged
			}
			for id := a; id <= b; id++ {
				acked[id] = true
			}
		}
	}
	s, err := Open(dir, crashOpts())
	if err != nil {
		t.Fatalf("open after %d crashes: %v", runs, err)
	}
	defer s.Close()
	count := map[int64]int{}
	if _, err := s.Query(context.Background(), Query{Tenant: "crash"}, func(e *model.Event) bool {
		v, _ := e.Field("id")
		count[v.Int()]++
		return true
	}); err != nil {
		t.Fatal(err)
	}
	for id, n := range count {
		if n != 1 {
			t.Fatalf("row %d stored %d times", id, n)
		}
	}
	for id := range acked {
		if count[id] != 1 {
			t.Fatalf("acknowledged row %d lost (%d rows stored, %d acknowledged)", id, len(count), len(acked))
		}
	}
	st := s.Stats()
	t.Logf("%d kill -9 restarts, %d acknowledged rows all present once (%d stored, %d parts)", runs, len(acked), len(count), st.Parts)
	if len(acked) == 0 {
		t.Fatal("no row was acknowledged")
	}
}
