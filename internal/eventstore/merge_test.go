package eventstore

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gateFS blocks the first rename of a part out of tmp/ until released, so a
// test can hold a merge in the middle of writing its part.
type gateFS struct {
	osFS
	first   atomic.Bool
	reached chan struct{}
	release chan struct{}
}

func (g *gateFS) Rename(a, b string) error {
	if filepath.Base(filepath.Dir(a)) == "tmp" && g.first.CompareAndSwap(false, true) {
		close(g.reached)
		<-g.release
	}
	return g.osFS.Rename(a, b)
}

// TestFlushDuringMerge: a merge writes its part without holding up
// flushes, and publishes it afterwards with every row exactly once.
func TestFlushDuringMerge(t *testing.T) {
	dir := t.TempDir()
	o := testOpts()
	s := openTest(t, dir, o)
	rows := genRows(4000, 0)
	for i := 0; i < 3000; i += 1000 {
		if err := s.Append(context.Background(), rows[i:i+1000]); err != nil {
			t.Fatal(err)
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	g := &gateFS{reached: make(chan struct{}), release: make(chan struct{})}
	s.fs = g
	merged := make(chan error, 1)
	go func() {
		_, err := s.merge(2, true)
		merged <- err
	}()
	<-g.reached // the merge is writing its part
	if err := s.Append(context.Background(), rows[3000:]); err != nil {
		t.Fatal(err)
	}
	flushed := make(chan error, 1)
	go func() { flushed <- s.Flush() }()
	select {
	case err := <-flushed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		close(g.release)
		t.Fatal("Flush waited for the merge to finish writing")
	}
	close(g.release)
	if err := <-merged; err != nil {
		t.Fatal(err)
	}
	check := func(s *Store) {
		t.Helper()
		got := seqs(queryAll(t, s, Query{Tenant: "t1"}))
		seen := map[int64]bool{}
		for _, v := range got {
			seen[v] = true
		}
		if len(got) != 4000 || len(seen) != 4000 {
			t.Fatalf("%d rows, %d distinct, want 4000", len(got), len(seen))
		}
	}
	check(s)
	if st := s.Stats(); st.Parts != 2 {
		t.Errorf("parts after merge + flush: %d, want 2 (the merged part and the new flush)", st.Parts)
	}
	s.Close()
	s2 := openTest(t, dir, testOpts())
	defer s2.Close()
	check(s2)
}

// TestFailedMergePausesMerges: a merge that fails is not retried at once
// (a merge that cannot succeed must not rewrite its inputs every second),
// nothing is lost, and merges resume after the pause.
func TestFailedMergePausesMerges(t *testing.T) {
	now := baseTime.Add(time.Hour)
	var mu sync.Mutex
	o := testOpts()
	o.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	o.MergeMinParts = 2
	dir := t.TempDir()
	s := openTest(t, dir, o)
	defer s.Close()
	rows := genRows(2000, 0)
	for i := 0; i < 2000; i += 1000 {
		if err := s.Append(context.Background(), rows[i:i+1000]); err != nil {
			t.Fatal(err)
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	fs := &faultFS{at: 1}
	s.fs = fs
	err := s.mergeOnce()
	if err == nil || !strings.Contains(err.Error(), "paused") {
		t.Fatalf("failed merge: %v", err)
	}
	s.fs = osFS{}
	if err := s.mergeOnce(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Parts != 2 {
		t.Fatalf("merged during the pause: %d parts", st.Parts)
	}
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	if err := s.mergeOnce(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Parts != 1 {
		t.Fatalf("no merge after the pause: %d parts", st.Parts)
	}
	if got := queryAll(t, s, Query{Tenant: "t1"}); len(got) != 2000 {
		t.Fatalf("%d rows after merge, want 2000", len(got))
	}
}
