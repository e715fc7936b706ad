package eventstore

import (
	"os"
	"sync"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/eventstore/wal"
)

// TestReviewWALConcurrentCheckpointSize: the wal package documents
// Checkpoint as safe for concurrent use. Two Checkpoints racing a
// retirement of the active segment must leave Size equal to the bytes
// of the segment files (the one Checkpoint's dropCovered can delete the
// segment the writer is retiring; both then subtract its size).
//
// The race window is small (the writer closing the old file): it
// reproduced once in ~25 iterations on a loaded machine, rarely when idle.
// It fails until wal.go's retireActive subtracts the size only of a segment
// it still finds in w.segs (wal/ is being edited by another engineer), so
// it runs only with SIGHTLINE_REVIEW_KNOWN_BUGS=1.
func TestReviewWALConcurrentCheckpointSize(t *testing.T) {
	if os.Getenv("SIGHTLINE_REVIEW_KNOWN_BUGS") == "" {
		t.Skip("known wal bug (retireActive double-subtracts size); set SIGHTLINE_REVIEW_KNOWN_BUGS=1 to run")
	}
	// The window is the writer's close of the old file between adding the
	// fresh segment and dropping the old one: try for a while.
	deadline := time.Now().Add(20 * time.Second)
	for iter := 0; time.Now().Before(deadline); iter++ {
		dir := t.TempDir()
		w, err := wal.Open(dir, wal.Options{Sync: wal.SyncNone}, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		payload := make([]byte, 100)
		for round := range 5 {
			var last uint64
			for range 3 {
				if last, err = w.Append(payload); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := w.Checkpoint(last); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			onDisk, err := wal.SegmentBytes(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := w.Size(); got != onDisk {
				t.Fatalf("iteration %d round %d: Size() = %d, segment files hold %d bytes", iter, round, got, onDisk)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
