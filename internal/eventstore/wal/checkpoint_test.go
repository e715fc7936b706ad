package wal

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
)

// segmentBytes returns the number of segment files in dir and the bytes
// they hold beyond their headers (record bytes).
func segmentBytes(t *testing.T, dir string) (files int, recordBytes int64) {
	t.Helper()
	idx, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range idx {
		st, err := os.Stat(segmentPath(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		recordBytes += st.Size() - int64(headerSize)
	}
	return len(idx), recordBytes
}

func TestCheckpointRetiresActiveSegment(t *testing.T) {
	for _, pol := range []SyncPolicy{SyncAlways, SyncInterval, SyncNone} {
		t.Run(string(pol), func(t *testing.T) {
			dir := t.TempDir()
			w, err := Open(dir, Options{Sync: pol}, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			var last uint64
			for i := range 50 {
				if last, err = w.Append(fmt.Appendf(nil, "flushed-%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			// A checkpoint short of the last record keeps the active segment.
			if err := w.Checkpoint(last - 1); err != nil {
				t.Fatal(err)
			}
			if _, rb := segmentBytes(t, dir); rb == 0 {
				t.Fatal("a checkpoint not covering the active segment deleted its records")
			}
			if err := w.Checkpoint(last); err != nil {
				t.Fatal(err)
			}
			files, rb := segmentBytes(t, dir)
			if files != 1 || rb != 0 {
				t.Fatalf("after a covering checkpoint: %d segments, %d record bytes; want 1 empty segment", files, rb)
			}
			if got := w.Size(); got != int64(headerSize) {
				t.Fatalf("Size() = %d after a covering checkpoint, want %d", got, headerSize)
			}
			// Checkpointing again with nothing new changes nothing.
			if err := w.Checkpoint(last); err != nil {
				t.Fatal(err)
			}
			if files2, _ := segmentBytes(t, dir); files2 != 1 {
				t.Fatalf("repeated checkpoint left %d segments", files2)
			}
			want := map[uint64]string{}
			for i := range 5 {
				p := fmt.Sprintf("unflushed-%d", i)
				seq, err := w.Append([]byte(p))
				if err != nil {
					t.Fatal(err)
				}
				if seq != last+1+uint64(i) {
					t.Fatalf("seq %d after rotation, want %d", seq, last+1+uint64(i))
				}
				want[seq] = p
			}
			// Reopen without Close (the data was written, fsynced or not,
			// so a process kill loses nothing of it).
			w2, got := collect(t, dir, last)
			defer w2.Close()
			if len(got) != len(want) {
				t.Fatalf("replayed %v, want %v", got, want)
			}
			for k, v := range want {
				if got[k] != v {
					t.Fatalf("seq %d = %q want %q", k, got[k], v)
				}
			}
			w.Close()
		})
	}
}

// An idle restart leaves one empty segment: segments holding only covered
// records or none are deleted on Open.
func TestOpenDropsCoveredSegments(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, Options{SegmentSize: 4096}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for range 60 {
		if last, err = w.Append(make([]byte, 200)); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	for range 3 {
		w, got := collect(t, dir, last)
		if len(got) != 0 {
			t.Fatalf("replayed %d covered records", len(got))
		}
		if files, rb := segmentBytes(t, dir); files != 1 || rb != 0 {
			t.Fatalf("after open: %d segments, %d record bytes; want 1 empty segment", files, rb)
		}
		w.Close()
	}
}

// Appends racing with checkpoints: every record above the final checkpoint
// is replayed exactly once, and every acknowledged record at or below it was
// declared covered by the caller.
func TestCheckpointRacesAppends(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, Options{SegmentSize: 8192}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	acked := map[uint64]string{}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				p := fmt.Sprintf("g%d-%d", g, i)
				seq, err := w.Append([]byte(p))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[seq] = p
				mu.Unlock()
			}
		})
	}
	var ckpt uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := rand.New(rand.NewPCG(1, 2))
		for {
			select {
			case <-stop:
				return
			default:
			}
			// Cover a contiguous acknowledged prefix, as the store does.
			mu.Lock()
			c := ckpt
			for acked[c+1] != "" {
				c++
			}
			mu.Unlock()
			if r.IntN(3) == 0 {
				c -= min(c, uint64(r.IntN(5)))
			}
			if c > ckpt {
				ckpt = c
			}
			if err := w.Checkpoint(ckpt); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-done
	// Records after the last checkpoint must all be replayed.
	for i := range 20 {
		p := fmt.Sprintf("tail-%d", i)
		seq, err := w.Append([]byte(p))
		if err != nil {
			t.Fatal(err)
		}
		acked[seq] = p
	}
	w.Close()
	w2, got := collect(t, dir, ckpt)
	defer w2.Close()
	for seq, p := range acked {
		if seq <= ckpt {
			if _, ok := got[seq]; ok {
				t.Fatalf("seq %d below checkpoint %d replayed", seq, ckpt)
			}
			continue
		}
		if got[seq] != p {
			t.Fatalf("seq %d = %q, want %q (checkpoint %d)", seq, got[seq], p, ckpt)
		}
	}
	if len(got) != len(acked)-int(ckpt) {
		t.Fatalf("replayed %d records, want %d", len(got), len(acked)-int(ckpt))
	}
	t.Logf("final checkpoint %d of %d records", ckpt, len(acked))
}

// Concurrent Checkpoints racing the retirement of the active segment: one
// may drop the just-sealed segment while the writer retires it; Size must
// still equal the bytes of the segment files.
func TestConcurrentCheckpointsKeepSize(t *testing.T) {
	for iter := range 40 {
		dir := t.TempDir()
		w, err := Open(dir, Options{Sync: SyncNone}, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		for round := range 5 {
			var last uint64
			for range 3 {
				if last, err = w.Append(make([]byte, 100)); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					if err := w.Checkpoint(last); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			files, rb := segmentBytes(t, dir)
			if got, want := w.Size(), int64(files*headerSize)+rb; got != want {
				t.Fatalf("iteration %d round %d: Size() = %d, segment files hold %d bytes", iter, round, got, want)
			}
			if files != 1 || rb != 0 {
				t.Fatalf("iteration %d round %d: %d segments with %d record bytes after covering checkpoints", iter, round, files, rb)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
