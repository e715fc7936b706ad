package eventstore

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/model"
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

// mixedMergeRows makes rows of three streams for part k of 3: "big" holds
// 5000 rows per part in consecutive time ranges (full blocks, copied by a
// merge), "small" 300 (small blocks, joined) and "mixed" 3000 whose times
// interleave with the other parts' (overlapping blocks, sorted together).
// Every 7th row has a trace id; row 4321 of each stream has a rare token.
func mixedMergeRows(k int) []model.Event {
	var rows []model.Event
	add := func(svc string, i int, t time.Duration) {
		seq := len(rows) + 100_000*k
		e := model.Event{Tenant: "t1", Signal: model.SignalLog,
			Stream:   labels.FromStrings("service", svc),
			Time:     baseTime.Add(t).UnixNano(),
			Body:     fmt.Sprintf("%s line %d user=u%d path=/api/v%d", svc, i, i%31, i%5),
			Severity: []string{"info", "warn"}[i%2],
			Attrs: []model.Attr{
				{Key: "seq", Value: model.IntValue(int64(seq))},
				{Key: "pod", Value: model.StringValue(fmt.Sprintf("pod-%d", i%3))},
			},
		}
		if i%7 == 0 {
			e.TraceID = model.TraceID{0xab, byte(k), byte(i >> 8), byte(i), 9}
			e.SpanID = model.SpanID{3, byte(i)}
		}
		if i == 4321 || (svc != "big" && i == 211) {
			e.Body += fmt.Sprintf(" rare%dx%s", k, svc)
		}
		rows = append(rows, e)
	}
	for i := range 5000 {
		add("big", i, time.Duration(k*5000+i)*time.Millisecond)
	}
	for i := range 300 {
		add("small", i, time.Duration(k*300+i)*time.Millisecond)
	}
	for i := range 3000 {
		add("mixed", i, time.Duration(3*i+k)*time.Millisecond)
	}
	return rows
}

// TestMergeCopiesAndReencodes merges parts whose blocks a merge copies
// (with recompression of head-flushed data), joins and re-sorts: the merged
// part holds exactly the inputs' rows, copied blocks keep their rows and
// time ranges, the trace directory and the token blooms still find rows in
// every kind of block, and a second merge copies the merged part's blocks.
func TestMergeCopiesAndReencodes(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, testOpts())
	var all []model.Event
	for k := range 3 {
		rows := mixedMergeRows(k)
		all = append(all, rows...)
		if err := s.Append(context.Background(), rows); err != nil {
			t.Fatal(err)
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	blocksOf := func(svc string) []blockHeader {
		var out []blockHeader
		s.mu.RLock()
		defer s.mu.RUnlock()
		for _, r := range s.parts {
			for si, st := range r.p.idx.streams {
				if st.labels.Get("service") == svc {
					rng := r.p.idx.streamBlocks(si)
					for bi := rng[0]; bi < rng[1]; bi++ {
						out = append(out, mustHeader(t, r.p.idx, int(bi)))
					}
				}
			}
		}
		slices.SortFunc(out, func(a, b blockHeader) int { return cmpInt(a.minT, b.minT) })
		return out
	}
	bigBefore := blocksOf("big")
	if len(bigBefore) < 3 {
		t.Fatalf("big stream: %d blocks before the merge", len(bigBefore))
	}
	byTime := func(evs []model.Event) []string {
		out := make([]string, len(evs))
		for i := range evs {
			seq, _ := evs[i].Field("seq")
			pod, _ := evs[i].Field("pod")
			out[i] = fmt.Sprintf("%d %s %s %s %s %s %d %s %d", evs[i].Time, evs[i].Stream, evs[i].Body, evs[i].Severity,
				evs[i].TraceID, evs[i].SpanID, seq.Int(), pod.Str, len(evs[i].Attrs))
		}
		slices.Sort(out)
		return out
	}
	want := byTime(all)
	if got := byTime(queryAll(t, s, Query{Tenant: "t1"})); !slices.Equal(got, want) {
		t.Fatalf("before merge: %d rows, want %d", len(got), len(want))
	}

	merged, err := s.merge(2, true)
	if err != nil || !merged {
		t.Fatalf("merge: %v %v", merged, err)
	}
	if st := s.Stats(); st.Parts != 1 || st.Rows != int64(len(all)) {
		t.Fatalf("after merge: %+v", st)
	}
	s.mu.RLock()
	compact := s.parts[0].p.info.Compact
	s.mu.RUnlock()
	if !compact {
		t.Error("merged part not marked compact")
	}
	// Copied: same blocks, same rows and times; recompressed data is no larger.
	bigAfter := blocksOf("big")
	if len(bigAfter) != len(bigBefore) {
		t.Fatalf("big stream: %d blocks after merge, %d before", len(bigAfter), len(bigBefore))
	}
	for i := range bigAfter {
		a, b := &bigAfter[i], &bigBefore[i]
		if a.rows != b.rows || a.minT != b.minT || a.maxT != b.maxT || len(a.cols) != len(b.cols) {
			t.Fatalf("big block %d: %d rows %d..%d, was %d rows %d..%d", i, a.rows, a.minT, a.maxT, b.rows, b.minT, b.maxT)
		}
		for c := range a.cols {
			if a.cols[c].name != b.cols[c].name || a.cols[c].rawLen != b.cols[c].rawLen || a.cols[c].dataLen > b.cols[c].dataLen ||
				a.cols[c].bloomLen != b.cols[c].bloomLen {
				t.Fatalf("big block %d column %q changed: %+v, was %+v", i, a.cols[c].name, a.cols[c], b.cols[c])
			}
		}
	}
	// Joined: the small blocks became one.
	if n := len(blocksOf("small")); n != 1 {
		t.Errorf("small stream: %d blocks after merge, want 1", n)
	}
	// Re-sorted: overlapping blocks became blocks in time order.
	mixed := blocksOf("mixed")
	for i := 1; i < len(mixed); i++ {
		if mixed[i].minT < mixed[i-1].maxT {
			t.Errorf("mixed stream: block %d starts at %d before block %d ends at %d", i, mixed[i].minT, i-1, mixed[i-1].maxT)
		}
	}
	if got := byTime(queryAll(t, s, Query{Tenant: "t1"})); !slices.Equal(got, want) {
		t.Fatalf("after merge: %d rows, want %d, or rows changed", len(got), len(want))
	}
	checkLookups := func(stage string) {
		t.Helper()
		for k := range 3 {
			for _, svc := range []string{"big", "small", "mixed"} {
				i := 4321
				if svc != "big" {
					i = 211
				}
				// A trace id, found by a filter and through the trace directory.
				id := model.TraceID{0xab, byte(k), byte(i / 7 * 7 >> 8), byte(i / 7 * 7), 9}
				res, err := s.Query(context.Background(), Query{Tenant: "t1",
					Filters: []Filter{{Field: model.FieldTraceID, Op: OpEqual, Value: hex.EncodeToString(id[:])}}}, func(*model.Event) bool { return true })
				if err != nil {
					t.Fatal(err)
				}
				var n int
				for _, e := range all {
					if e.TraceID == id {
						n++
					}
				}
				if res.Stats.RowsMatched != int64(n) || n == 0 {
					t.Errorf("%s: trace %s: %d rows, want %d", stage, id, res.Stats.RowsMatched, n)
				}
				tr, _, err := s.TraceByID(context.Background(), "t1", id, 0, 1<<62)
				if err != nil {
					t.Fatal(err)
				}
				if len(tr) != n {
					t.Errorf("%s: TraceByID %s: %d rows, want %d", stage, id, len(tr), n)
				}
				// A rare token, found through the blooms, which skip other blocks.
				tok := fmt.Sprintf("rare%dx%s", k, svc)
				res, err = s.Query(context.Background(), Query{Tenant: "t1",
					Filters: []Filter{{Op: OpPhrase, Value: tok}}}, func(*model.Event) bool { return true })
				if err != nil {
					t.Fatal(err)
				}
				if res.Stats.RowsMatched != 1 || res.Stats.BlocksBloom == 0 {
					t.Errorf("%s: token %s: %d rows, %d blocks skipped by blooms", stage, tok, res.Stats.RowsMatched, res.Stats.BlocksBloom)
				}
				// Part of the token, found through the trigram filters that
				// share the bloom regions.
				sub := tok[2 : len(tok)-1]
				res, err = s.Query(context.Background(), Query{Tenant: "t1",
					Filters: []Filter{{Op: OpSubstring, Value: sub}}}, func(*model.Event) bool { return true })
				if err != nil {
					t.Fatal(err)
				}
				if res.Stats.RowsMatched != 1 || res.Stats.BlocksBloom == 0 {
					t.Errorf("%s: substring %s: %d rows, %d blocks skipped by filters", stage, sub, res.Stats.RowsMatched, res.Stats.BlocksBloom)
				}
			}
		}
	}
	checkLookups("after merge")

	// A second merge with a new head-flushed part copies the compact part's
	// blocks as they are.
	next := mixedMergeRows(3)
	all = append(all, next...)
	want = byTime(all)
	if err := s.Append(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if merged, err := s.merge(2, true); err != nil || !merged {
		t.Fatalf("second merge: %v %v", merged, err)
	}
	again := blocksOf("big")
	for i := range bigAfter {
		for c := range again[i].cols {
			if again[i].cols[c].crc != bigAfter[i].cols[c].crc || again[i].cols[c].dataLen != bigAfter[i].cols[c].dataLen {
				t.Fatalf("second merge changed compact block %d column %q", i, again[i].cols[c].name)
			}
		}
	}
	checkLookups("after second merge")
	s.Close()
	s = openTest(t, dir, testOpts())
	defer s.Close()
	if got := byTime(queryAll(t, s, Query{Tenant: "t1"})); !slices.Equal(got, want) {
		t.Fatalf("after reopen: %d rows, want %d, or rows changed", len(got), len(want))
	}
	checkLookups("after reopen")
}

// FuzzTraceEntries: decoding a whole trace chunk (merges read the trace
// directories of the blocks they copy) never panics, accepts only blocks
// in range, and agrees with the lookup decoder on every prefix it yields.
func FuzzTraceEntries(f *testing.F) {
	var buf []byte
	for _, e := range []traceEntry{{5, 0}, {0, 2}, {4, 1}} {
		buf = binary.AppendUvarint(buf, uint64(e.prefix))
		buf = binary.AppendUvarint(buf, uint64(e.block))
	}
	f.Add(buf, uint32(3), uint32(7))
	f.Add([]byte{0x80}, uint32(1), uint32(0))
	f.Fuzz(func(t *testing.T, b []byte, n, first uint32) {
		if n > traceChunkLen {
			return
		}
		c := traceChunk{first: first, n: n}
		ents, err := decodeTraceEntries(nil, b, c, 4)
		if err != nil {
			return
		}
		if len(ents) != int(n) {
			t.Fatalf("%d entries, header says %d", len(ents), n)
		}
		for _, e := range ents {
			if e.block >= 4 {
				t.Fatalf("block %d out of range accepted", e.block)
			}
			want, err := decodeTraceChunk(nil, b, c, 4, e.prefix)
			if err != nil || !slices.Contains(want, e.block) {
				t.Fatalf("entry %+v: lookup decoder gives %v, %v", e, want, err)
			}
		}
	})
}

// TestFaultInjectionCopyMerge fails each file operation of a merge that
// copies, recompresses and re-encodes blocks in turn: the merge reports
// the failure and every row is still there exactly once, before and
// after reopening.
func TestFaultInjectionCopyMerge(t *testing.T) {
	img := t.TempDir()
	s := openTest(t, img, testOpts())
	total := 0
	for k := range 3 {
		rows := mixedMergeRows(k)
		total += len(rows)
		if err := s.Append(context.Background(), rows); err != nil {
			t.Fatal(err)
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	check := func(s *Store, stage string) {
		t.Helper()
		got := seqs(queryAll(t, s, Query{Tenant: "t1"}))
		seen := map[int64]bool{}
		for _, v := range got {
			seen[v] = true
		}
		if len(got) != total || len(seen) != total {
			t.Fatalf("%s: %d rows, %d distinct, want %d", stage, len(got), len(seen), total)
		}
	}
	for at := 1; ; at++ {
		dir := t.TempDir()
		copyTree(t, dir, img)
		fs := &faultFS{}
		o := testOpts()
		o.fs = fs
		s := openTest(t, dir, o)
		fs.mu.Lock()
		fs.n, fs.at = 0, at
		fs.mu.Unlock()
		_, merr := s.merge(2, true)
		fs.mu.Lock()
		failed, kind := fs.failed, fs.kind
		fs.at = 0
		fs.mu.Unlock()
		if failed && merr == nil && kind != "syncdir:"+filepath.Base(dir) {
			t.Fatalf("fault %d (%s) swallowed", at, kind)
		}
		check(s, fmt.Sprintf("fault %d (%s)", at, kind))
		if err := s.Close(); err != nil {
			t.Fatalf("close after fault %d: %v", at, err)
		}
		s2 := openTest(t, dir, testOpts())
		check(s2, fmt.Sprintf("reopen after fault %d (%s)", at, kind))
		s2.Close()
		if !failed {
			t.Logf("covered %d fault points in a copying merge", at-1)
			return
		}
	}
}
