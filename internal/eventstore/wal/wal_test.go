package wal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
)

func collect(t *testing.T, dir string, checkpoint uint64) (*WAL, map[uint64]string) {
	t.Helper()
	got := map[uint64]string{}
	w, err := Open(dir, Options{SegmentSize: 4096}, checkpoint, func(seq uint64, p []byte) error {
		got[seq] = string(p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return w, got
}

func TestAppendReplay(t *testing.T) {
	for _, pol := range []SyncPolicy{SyncAlways, SyncInterval, SyncNone} {
		t.Run(string(pol), func(t *testing.T) {
			dir := t.TempDir()
			w, err := Open(dir, Options{SegmentSize: 4096, Sync: pol}, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := map[uint64]string{}
			for i := range 200 {
				p := fmt.Sprintf("record-%d-%s", i, bytes.Repeat([]byte("x"), i%50))
				seq, err := w.Append([]byte(p))
				if err != nil {
					t.Fatal(err)
				}
				want[seq] = p
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			segs, _ := listSegments(dir)
			if len(segs) < 3 {
				t.Fatalf("expected several segments of 4 KiB, got %d", len(segs))
			}
			w2, got := collect(t, dir, 0)
			defer w2.Close()
			if len(got) != len(want) {
				t.Fatalf("replayed %d records, want %d", len(got), len(want))
			}
			for k, v := range want {
				if got[k] != v {
					t.Fatalf("seq %d = %q, want %q", k, got[k], v)
				}
			}
			// New appends continue the sequence.
			seq, err := w2.Append([]byte("next"))
			if err != nil || seq != 201 {
				t.Fatalf("next seq = %d, %v; want 201", seq, err)
			}
		})
	}
}

func TestGroupCommitSharesFsync(t *testing.T) {
	w, err := Open(t.TempDir(), Options{}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const writers, each = 16, 50
	var wg sync.WaitGroup
	seqs := make(chan uint64, writers*each)
	for range writers {
		wg.Go(func() {
			for range each {
				s, err := w.Append([]byte("payload"))
				if err != nil {
					t.Error(err)
					return
				}
				seqs <- s
			}
		})
	}
	wg.Wait()
	close(seqs)
	seen := map[uint64]bool{}
	for s := range seqs {
		if seen[s] {
			t.Fatalf("duplicate seq %d", s)
		}
		seen[s] = true
	}
	if len(seen) != writers*each {
		t.Fatalf("got %d seqs", len(seen))
	}
	if n := w.Syncs(); n >= writers*each {
		t.Fatalf("%d fsyncs for %d appends: no group commit", n, writers*each)
	}
}

func TestCheckpointDeletesCoveredSegments(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, Options{SegmentSize: 4096}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for range 100 {
		last, err = w.Append(bytes.Repeat([]byte("y"), 200))
		if err != nil {
			t.Fatal(err)
		}
	}
	before, _ := listSegments(dir)
	if err := w.Checkpoint(last - 10); err != nil {
		t.Fatal(err)
	}
	after, _ := listSegments(dir)
	if len(after) >= len(before) || len(after) == 0 {
		t.Fatalf("segments before %d after %d", len(before), len(after))
	}
	w.Close()
	w2, got := collect(t, dir, last-10)
	defer w2.Close()
	if len(got) != 10 {
		t.Fatalf("replayed %d records past the checkpoint, want 10", len(got))
	}
	if s, _ := w2.Append([]byte("z")); s != last+1 {
		t.Fatalf("seq after checkpoint = %d want %d", s, last+1)
	}
	// Everything covered: the sequence must still not restart.
	w2.Close()
	w3, err := Open(dir, Options{}, last+1, nil)
	if err != nil {
		t.Fatal(err)
	}
	w3.Checkpoint(last + 1)
	w3.Close()
	w4, _ := collect(t, dir, last+1)
	defer w4.Close()
	if s, _ := w4.Append([]byte("z")); s != last+2 {
		t.Fatalf("seq = %d want %d", s, last+2)
	}
}

func writeRecords(t *testing.T, dir string, n int) {
	t.Helper()
	w, err := Open(dir, Options{}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := w.Append(fmt.Appendf(nil, "rec%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func lastSegment(t *testing.T, dir string) string {
	idx, _ := listSegments(dir)
	for i := len(idx) - 1; i >= 0; i-- {
		p := segmentPath(dir, idx[i])
		st, _ := os.Stat(p)
		if st.Size() > int64(headerSize) {
			return p
		}
	}
	t.Fatal("no segment with records")
	return ""
}

func TestTornTailTruncated(t *testing.T) {
	tests := []struct {
		name   string
		damage func(b []byte) []byte
		want   int
	}{
		{"half record", func(b []byte) []byte { return b[:len(b)-3] }, 9},
		{"half header", func(b []byte) []byte { return b[:len(b)-recordHeader-6+5] }, 9},
		{"bad crc last record", func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b }, 9},
		{"zero tail", func(b []byte) []byte { return append(b, make([]byte, 100)...) }, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeRecords(t, dir, 10)
			p := lastSegment(t, dir)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, tc.damage(b), 0o644)
			w, got := collect(t, dir, 0)
			if len(got) != tc.want {
				t.Fatalf("replayed %d, want %d", len(got), tc.want)
			}
			if _, torn := w.ReplayedBytes(); torn == 0 {
				t.Error("torn bytes not reported")
			}
			w.Close()
			// A second open sees a clean log.
			w2, got2 := collect(t, dir, 0)
			w2.Close()
			if len(got2) != tc.want {
				t.Fatalf("second replay %d, want %d", len(got2), tc.want)
			}
		})
	}
}

func TestMidFileCorruptionRefusesOpen(t *testing.T) {
	dir := t.TempDir()
	writeRecords(t, dir, 10)
	p := lastSegment(t, dir)
	b, _ := os.ReadFile(p)
	b[headerSize+recordHeader+2] ^= 0x55 // first record's payload
	os.WriteFile(p, b, 0o644)
	_, err := Open(dir, Options{}, 0, nil)
	var ce *CorruptionError
	if !errors.As(err, &ce) {
		t.Fatalf("Open error = %v, want *CorruptionError", err)
	}
	if ce.Offset != int64(headerSize) {
		t.Errorf("corruption offset %d, want %d", ce.Offset, headerSize)
	}
	rep, err := Inspect(dir, nil)
	if err != nil || rep.Segments[0].Corruption == "" || rep.Segments[0].TornTail {
		t.Fatalf("inspect = %+v, %v", rep, err)
	}
	rep, err = Repair(dir)
	if err != nil || len(rep.Repaired) == 0 {
		t.Fatalf("repair = %+v, %v", rep, err)
	}
	w, got := collect(t, dir, 0)
	defer w.Close()
	if len(got) != 0 {
		t.Fatalf("after repair replayed %d records, want 0 (corruption was in the first)", len(got))
	}
}

func TestCorruptionInSealedSegment(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, Options{SegmentSize: 4096}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 60 {
		w.Append(bytes.Repeat([]byte("q"), 200))
	}
	w.Close()
	idx, _ := listSegments(dir)
	p := segmentPath(dir, idx[0])
	b, _ := os.ReadFile(p)
	b = b[:len(b)-4] // torn, but not in the last segment: corruption
	os.WriteFile(p, b, 0o644)
	var ce *CorruptionError
	if _, err := Open(dir, Options{}, 0, nil); !errors.As(err, &ce) {
		t.Fatalf("got %v, want corruption", err)
	}
	rep, err := Repair(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Repaired) != len(idx) {
		t.Errorf("repair actions %v, want truncate + %d removals", rep.Repaired, len(idx)-1)
	}
	w2, err := Open(dir, Options{}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	w2.Close()
}

func TestInvalidOptions(t *testing.T) {
	if _, err := Open(t.TempDir(), Options{Sync: "sometimes"}, 0, nil); err == nil {
		t.Fatal("bad policy accepted")
	}
}

func FuzzScanSegment(f *testing.F) {
	var seg []byte
	seg = append(seg, segmentMagic...)
	seg = appendRecord(seg, 1, []byte("hello"))
	seg = appendRecord(seg, 2, []byte("world"))
	f.Add(seg, true)
	f.Add(seg[:len(seg)-2], true)
	f.Add([]byte(segmentMagic), false)
	f.Fuzz(func(t *testing.T, data []byte, last bool) {
		var n int
		r := scanSegment(data, last, 0, func(seq uint64, p []byte) error {
			n++
			if len(p) == 0 {
				t.Fatal("empty payload delivered")
			}
			return nil
		})
		if n != r.records || r.end > int64(len(data)) {
			t.Fatalf("inconsistent scan %+v with %d callbacks", r, n)
		}
		if r.corrupt == "" && r.end != int64(len(data)) {
			t.Fatalf("clean scan ended at %d of %d", r.end, len(data))
		}
	})
}
