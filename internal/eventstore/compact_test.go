package eventstore

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// TestColdCompaction: a day partition that got no new part for ColdAfter
// has its parts rewritten once at the cold level, every row kept and
// found; parts already cold are left alone, a late part is compacted on
// its own, and the level survives a restart.
func TestColdCompaction(t *testing.T) {
	dir := t.TempDir()
	var clock atomic.Int64
	clock.Store(baseTime.Add(time.Hour).UnixNano())
	o := testOpts()
	o.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	o.ColdAfter = time.Minute
	advance := func(d time.Duration) { clock.Add(int64(d)) }
	s := openTest(t, dir, o)
	rows := genRows(9000, 0)
	for i := 0; i < 6000; i += 2000 {
		if err := s.Append(context.Background(), rows[i:i+2000]); err != nil {
			t.Fatal(err)
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	partsOf := func(s *Store) []partInfo {
		s.pubMu.Lock()
		defer s.pubMu.Unlock()
		return slices.Clone(s.man.Parts)
	}
	compact := func(s *Store, want bool) {
		t.Helper()
		got, err := s.compactOnce()
		if err != nil || got != want {
			t.Fatalf("compactOnce: %v, %v; want %v", got, err, want)
		}
	}
	checkRows := func(s *Store, n int) {
		t.Helper()
		got := seqs(queryAll(t, s, Query{Tenant: "t1"}))
		slices.Sort(got)
		if len(got) != n {
			t.Fatalf("%d rows, want %d", len(got), n)
		}
		for i, v := range got {
			if v != int64(i) {
				t.Fatalf("row %d has seq %d", i, v)
			}
		}
		if hits := queryAll(t, s, Query{Tenant: "t1", Filters: []Filter{{Op: OpPhrase, Value: "zymurgy"}}}); len(hits) != n/1000 {
			t.Fatalf("needle: %d rows, want %d", len(hits), n/1000)
		}
	}
	before := partsOf(s)
	if len(before) != 3 || before[0].level() != levelFast {
		t.Fatalf("before: %+v", before)
	}
	var bytesBefore int64
	for _, p := range before {
		bytesBefore += p.Bytes
	}

	advance(59 * time.Second)
	compact(s, false) // not quiet long enough
	advance(time.Second)
	compact(s, true)
	after := partsOf(s)
	if len(after) != 1 || !after[0].Cold || !after[0].Compact || after[0].Rows != 6000 {
		t.Fatalf("after: %+v", after)
	}
	if after[0].Bytes >= bytesBefore {
		t.Errorf("cold part %d bytes, the flushed parts %d", after[0].Bytes, bytesBefore)
	}
	checkRows(s, 6000)
	compact(s, false) // nothing left below the cold level

	// A late part: the partition is written again, so it waits another
	// ColdAfter, and then only the new part is rewritten.
	if err := s.Append(context.Background(), rows[6000:]); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	advance(30 * time.Second)
	compact(s, false)
	advance(30 * time.Second)
	compact(s, true)
	got := partsOf(s)
	if len(got) != 2 || !slices.ContainsFunc(got, func(p partInfo) bool { return p.ID == after[0].ID }) ||
		!got[0].Cold || !got[1].Cold {
		t.Fatalf("after the late part: %+v", got)
	}
	checkRows(s, 9000)

	// Two cold parts merged stay cold.
	if merged, err := s.merge(2, true); err != nil || !merged {
		t.Fatalf("merge: %v %v", merged, err)
	}
	if got := partsOf(s); len(got) != 1 || !got[0].Cold {
		t.Fatalf("after merging cold parts: %+v", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, dir, o)
	defer s.Close()
	if got := partsOf(s); len(got) != 1 || !got[0].Cold {
		t.Fatalf("reopened: %+v", got)
	}
	checkRows(s, 9000)
}

// TestColdCompactionWaitsAfterOpen: after a restart, a partition's parts
// count as written at start-up; a negative ColdAfter never compacts.
func TestColdCompactionWaitsAfterOpen(t *testing.T) {
	dir := t.TempDir()
	var clock atomic.Int64
	clock.Store(baseTime.Add(time.Hour).UnixNano())
	o := testOpts()
	o.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	s := openTest(t, dir, o)
	if err := s.Append(context.Background(), genRows(3000, 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	clock.Add(int64(time.Hour))
	s = openTest(t, dir, o)
	if ok, err := s.compactOnce(); ok || err != nil {
		t.Fatalf("compacted right after open: %v %v", ok, err)
	}
	s.Close()

	o.ColdAfter = -1
	s = openTest(t, dir, o)
	defer s.Close()
	clock.Add(int64(24 * time.Hour))
	if ok, err := s.compactOnce(); ok || err != nil {
		t.Fatalf("compacted with ColdAfter < 0: %v %v", ok, err)
	}
}
