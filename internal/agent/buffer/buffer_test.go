package buffer

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func open(t *testing.T, dir string, o Options) *Buffer {
	t.Helper()
	b, err := Open(dir, o, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func small() Options { return Options{MaxBytes: 1000, SegmentBytes: 64} }

func TestAppendPeekAckReleaseAndReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b := open(t, dir, small())
	for i := range 10 {
		if err := b.Append(ctx, fmt.Appendf(nil, "record-%02d-%s", i, bytes.Repeat([]byte("x"), 20))); err != nil {
			t.Fatal(err)
		}
	}
	segs, _ := listSegments(dir)
	if len(segs) < 4 {
		t.Fatalf("want several segments, got %v", segs)
	}
	var last Pos
	for i := range 4 {
		e, err := b.Peek(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("record-%02d-", i); !bytes.HasPrefix(e.Data, []byte(want)) {
			t.Fatalf("peek %d = %q", i, e.Data)
		}
		again, _ := b.Peek(ctx)
		if again.Pos != e.Pos {
			t.Fatal("peek without ack must return the same record")
		}
		b.Ack(e.Pos)
		last = e.Pos
	}
	if b.Len() != 6 {
		t.Fatalf("Len = %d", b.Len())
	}
	if err := b.Release(last); err != nil {
		t.Fatal(err)
	}
	after, _ := listSegments(dir)
	if len(after) >= len(segs) {
		t.Fatalf("release removed nothing: %v -> %v", segs, after)
	}
	b.Close()

	// Reopen: acknowledged-but-unreleased and unacknowledged records come back in order.
	b2 := open(t, dir, small())
	e, err := b2.Peek(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for b2.Len() > 0 {
		e, _ = b2.Peek(ctx)
		got = append(got, string(e.Data[:9]))
		b2.Ack(e.Pos)
	}
	if len(got) < 6 || got[len(got)-1] != "record-09" || got[len(got)-6] != "record-04" {
		t.Fatalf("replayed %v", got)
	}
}

func TestAppendBlocksWhenFull(t *testing.T) {
	ctx := context.Background()
	b := open(t, t.TempDir(), Options{MaxBytes: 100, SegmentBytes: 1 << 20})
	if err := b.Append(ctx, make([]byte, 60)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Append(ctx, make([]byte, 60)) }()
	select {
	case err := <-done:
		t.Fatalf("append into a full buffer returned %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	e, _ := b.Peek(ctx)
	b.Ack(e.Pos)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("append did not resume after ack")
	}
	// A cancelled context unblocks a waiting append.
	cctx, cancel := context.WithCancel(ctx)
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if err := b.Append(cctx, make([]byte, 60)); err != context.Canceled {
		t.Fatalf("append = %v", err)
	}
}

func TestPeekWaitsAndCloseUnblocks(t *testing.T) {
	b := open(t, t.TempDir(), small())
	got := make(chan error, 1)
	go func() { _, err := b.Peek(context.Background()); got <- err }()
	time.Sleep(20 * time.Millisecond)
	b.Close()
	if err := <-got; err != ErrClosed {
		t.Fatalf("peek = %v", err)
	}
}

func TestTornTailTruncatedAndCorruptionCounted(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b := open(t, dir, Options{MaxBytes: 1 << 20, SegmentBytes: 1 << 20})
	for _, s := range []string{"one", "two", "three"} {
		b.Append(ctx, []byte(s))
	}
	b.Close()
	segs, _ := listSegments(dir)
	path := filepath.Join(dir, fmt.Sprintf("%020d.seg", segs[0]))
	data, _ := os.ReadFile(path)
	// Simulate a crash in the middle of appending a fourth record.
	torn := binary.LittleEndian.AppendUint32(nil, 100)
	os.WriteFile(path, append(data, append(torn, 1, 2, 3)...), 0o644)
	b2 := open(t, dir, Options{MaxBytes: 1 << 20, SegmentBytes: 1 << 20})
	if b2.Len() != 3 {
		t.Fatalf("Len = %d", b2.Len())
	}
	if fi, _ := os.Stat(path); fi.Size() != int64(len(data)) {
		t.Fatalf("torn tail not truncated: %d != %d", fi.Size(), len(data))
	}
	// A flipped bit in the middle record is detected.
	data[8+3+8] ^= 0xff
	offs, valid, err := Scan(data)
	if err == nil || len(offs) != 1 || valid != 8+3 {
		t.Fatalf("scan = %v %d %v", offs, valid, err)
	}
}

func FuzzScan(f *testing.F) {
	var seed []byte
	for _, s := range []string{"a", "", "hello"} {
		seed = binary.LittleEndian.AppendUint32(seed, uint32(len(s)))
		seed = binary.LittleEndian.AppendUint32(seed, crc(s))
		seed = append(seed, s...)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		offs, valid, err := Scan(data)
		if valid > len(data) || (err == nil && valid != len(data)) {
			t.Fatalf("valid=%d len=%d err=%v", valid, len(data), err)
		}
		prev := -1
		for _, o := range offs {
			if o <= prev || o >= valid {
				t.Fatalf("bad offset %d", o)
			}
			prev = o
		}
	})
}

func crc(s string) uint32 { return crc32.Checksum([]byte(s), castagnoli) }
