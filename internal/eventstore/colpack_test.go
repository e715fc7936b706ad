package eventstore

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/model"
)

// mustHeader decodes block bi's column headers.
func mustHeader(tb testing.TB, pi *partIndex, bi int) blockHeader {
	tb.Helper()
	bh, err := pi.headerAt(bi)
	if err != nil {
		tb.Fatalf("block %d: %v", bi, err)
	}
	return bh
}

// sameHeader compares headers, taking empty and nil slices as equal (a
// reused header keeps its slices' memory).
func sameHeader(a, b blockHeader) bool {
	norm := func(h blockHeader) blockHeader {
		h.cols = append([]columnHeader{}, h.cols...)
		for i := range h.cols {
			if len(h.cols[i].dict) == 0 {
				h.cols[i].dict = nil
			}
		}
		return h
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

// eagerHeaders decodes every block header of an index body straight from
// its on-disk form (as parts were opened before headers were packed).
func eagerHeaders(body []byte) ([]blockHeader, error) {
	d := &decBuf{b: body}
	for range d.count(3, "stream count") {
		d.str("tenant")
		d.byte1("signal")
		for range d.count(2, "labels") {
			d.str("label name")
			d.str("label value")
		}
	}
	out := make([]blockHeader, d.count(8, "block count"))
	for i := range out {
		if out[i].unmarshal(d); d.err != nil {
			return nil, d.err
		}
	}
	return out, d.err
}

func readIndexBody(t *testing.T, dir string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, fileIndex))
	if err != nil {
		t.Fatal(err)
	}
	body, err := zstdDec.DecodeAll(b[len(indexMagic)+4:len(b)-4], nil)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// checkPackedHeaders asserts that every block of every part of s unpacks
// to exactly the header stored in its index.bin.
func checkPackedHeaders(t *testing.T, s *Store) (blocks, cols int) {
	t.Helper()
	sn, err := s.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer sn.release()
	for _, r := range sn.parts {
		want, err := eagerHeaders(readIndexBody(t, r.p.dir))
		if err != nil {
			t.Fatal(err)
		}
		if len(want) != len(r.p.idx.blocks) {
			t.Fatalf("part %s: %d blocks, index.bin has %d", r.p.info.ID, len(r.p.idx.blocks), len(want))
		}
		var got blockHeader // reused, as queries do
		for bi := range want {
			if err := r.p.idx.header(&r.p.idx.blocks[bi], &got); err != nil {
				t.Fatalf("part %s block %d: %v", r.p.info.ID, bi, err)
			}
			got.stream = r.p.idx.blockStream(uint32(bi))
			if !sameHeader(got, want[bi]) {
				t.Fatalf("part %s block %d unpacks to\n%+v\nindex.bin has\n%+v", r.p.info.ID, bi, got, want[bi])
			}
			blocks++
			cols += len(got.cols)
		}
	}
	return blocks, cols
}

// TestPackedHeadersMatchIndex checks the packed headers of flushed and
// merged parts (copied, recompressed and re-encoded blocks; logs and spans
// with every column encoding) against index.bin.
func TestPackedHeadersMatchIndex(t *testing.T) {
	s := openTest(t, t.TempDir(), testOpts())
	for k := range 2 {
		if err := s.Append(context.Background(), mixedMergeRows(k)); err != nil {
			t.Fatal(err)
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	spans := make([]model.Event, 0, 600)
	for _, e := range blockRows(600) {
		e.Time = baseTime.Add(time.Duration(len(spans)) * time.Millisecond).UnixNano()
		spans = append(spans, *e)
	}
	if err := s.Append(context.Background(), append(spans, genRows(500, 0)...)); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	b1, c1 := checkPackedHeaders(t, s)
	if merged, err := s.merge(2, true); err != nil || !merged {
		t.Fatalf("merge: %v %v", merged, err)
	}
	b2, c2 := checkPackedHeaders(t, s)
	if b1 < 10 || b2 < 5 || c1 < 10*b1/2 || c2 < 5*b2 {
		t.Fatalf("too little checked: %d blocks/%d columns before the merge, %d/%d after", b1, c1, b2, c2)
	}
}

// TestPackHeadersRoundTrip packs random valid headers, with the values the
// packing special-cases (bounds equal to the block's times, zero, offsets
// going backwards) and ones it does not, and unpacks them.
func TestPackHeadersRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(vals ...int64) int64 { return vals[rng.IntN(len(vals))] }
	pk := colPacker{nameIdx: map[string]uint32{}}
	var want []blockHeader
	var refs []blockRef
	for range 2000 {
		bh := blockHeader{rows: 1 + rng.Uint32N(maxBlockRows), minT: rng.Int64() - math.MaxInt64/2}
		bh.maxT = bh.minT + rng.Int64N(1<<40)
		for range rng.IntN(12) {
			c := columnHeader{name: fmt.Sprintf("col%d", rng.IntN(30)), typ: colType(1 + rng.IntN(5)), enc: colEnc(1 + rng.IntN(6))}
			if rng.IntN(4) == 0 {
				c.width, c.flags = uint8(rng.Uint32()), uint8(rng.Uint32())
			}
			if c.typ == ctID {
				c.width = uint8(1 + rng.IntN(32))
			}
			c.present = bh.rows
			if rng.IntN(2) == 0 {
				c.present = rng.Uint32N(bh.rows + 1)
			}
			c.minV = pick(0, bh.minT, bh.maxT, rng.Int64(), -rng.Int64(), math.MinInt64, math.MaxInt64)
			c.maxV = pick(0, c.minV, bh.maxT, bh.minT, rng.Int64(), math.MinInt64, math.MaxInt64)
			switch {
			case c.enc == encConst && (c.typ == ctString || c.typ == ctID):
				c.constStr = strings.Repeat("v", rng.IntN(40))
			case c.enc == encDict:
				c.typ = ctString
				c.dict = make([]string, rng.IntN(maxDictValues+1))
				for i := range c.dict {
					c.dict[i] = fmt.Sprint(i * 31)
				}
			}
			if rng.IntN(3) > 0 {
				c.dataOff = uint64(pick(0, rng.Int64(), 1<<40, 17))
				c.dataLen = rng.Uint32()
				c.rawLen = rng.Uint32N(maxColumnRaw + 1)
				c.crc = rng.Uint32()
			}
			if rng.IntN(2) == 0 {
				c.bloomOff, c.bloomLen = rng.Uint64(), rng.Uint32()
			}
			bh.cols = append(bh.cols, c)
		}
		at, err := pk.pack(&bh)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, bh)
		refs = append(refs, blockRef{rows: bh.rows, minT: bh.minT, maxT: bh.maxT, colsAt: at})
	}
	pi := &partIndex{blocks: refs, cols: pk.buf, names: pk.names}
	var got blockHeader
	for i := range refs {
		if err := pi.header(&refs[i], &got); err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
		if !sameHeader(got, want[i]) {
			t.Fatalf("block %d unpacks to\n%+v\nwant\n%+v", i, got, want[i])
		}
	}
}

// TestHeaderOf checks that unpacking only some columns gives exactly those
// columns of the full header, for every block of flushed parts, with
// unique column names and with two columns of one name ("mixed").
func TestHeaderOf(t *testing.T) {
	s := openTest(t, t.TempDir(), testOpts())
	var spans []model.Event
	for _, e := range blockRows(300) {
		e.Time = baseTime.Add(time.Duration(len(spans)) * time.Millisecond).UnixNano()
		spans = append(spans, *e)
	}
	for k := range 2 {
		if err := s.Append(context.Background(), append(append(mixedMergeRows(k), genRows(400, 0)...), spans...)); err != nil {
			t.Fatal(err)
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	sn, err := s.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer sn.release()
	checked := 0
	for _, wantNames := range [][]string{
		{model.FieldBody}, {"pod", model.FieldTraceID}, {"seq", "latency", "nope"}, {"nope"}, nil,
		{"mixed"}, {model.FieldBody, "mixed", "hexid"},
	} {
		for _, r := range sn.parts {
			pi := r.p.idx
			want := pi.nameIndexes(nil, wantNames...)
			var got blockHeader
			for bi := range pi.blocks {
				full := mustHeader(t, pi, bi)
				full.stream = 0
				sub := full
				sub.cols = nil
				for _, c := range full.cols {
					if slices.Contains(wantNames, c.name) {
						sub.cols = append(sub.cols, c)
					}
				}
				if err := pi.headerOf(&pi.blocks[bi], &got, want); err != nil {
					t.Fatal(err)
				}
				if !sameHeader(got, sub) {
					t.Fatalf("%v of block %d: got\n%+v\nwant\n%+v", wantNames, bi, got, sub)
				}
				checked += len(sub.cols)
			}
		}
	}
	if checked < 50 {
		t.Fatalf("only %d columns checked", checked)
	}
}

// TestPackedHeadersDamaged damages the packed headers in memory: decoding
// returns an error (or a header that passes the open-time checks), never
// panics, and a query reaching a damaged block fails instead of returning
// rows.
func TestPackedHeadersDamaged(t *testing.T) {
	s := flushedGenStore(t, 3000)
	sn, err := s.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	pi := sn.parts[0].p.idx
	sn.release()
	orig := append([]byte(nil), pi.cols...)
	rng := rand.New(rand.NewPCG(3, 4))
	var hdr blockHeader
	errs := 0
	for range 3000 {
		copy(pi.cols, orig)
		for range 1 + rng.IntN(3) {
			pi.cols[rng.IntN(len(pi.cols))] = byte(rng.Uint32())
		}
		for bi := range pi.blocks {
			if err := pi.header(&pi.blocks[bi], &hdr); err != nil {
				errs++
				continue
			}
			for i := range hdr.cols {
				if err := hdr.cols[i].check(hdr.rows); err != nil {
					t.Fatalf("header passed with a bad column: %v", err)
				}
			}
		}
	}
	if errs == 0 {
		t.Fatal("no damage detected")
	}

	// A type byte out of range: the first column's, after the block's
	// column count and bases and the column's name and size.
	copy(pi.cols, orig)
	ref := &pi.blocks[0]
	d := &decBuf{b: pi.cols[ref.colsAt:]}
	head := d.uvarint("head")
	for range bits.OnesCount64(head & 3) {
		d.uvarint("base")
	}
	d.uvarint("name")
	d.uvarint("size")
	if d.err != nil {
		t.Fatal(d.err)
	}
	pi.cols[len(pi.cols)-len(d.b)] = 0xff
	if err := pi.header(ref, &hdr); err == nil || !strings.Contains(err.Error(), "bad type") {
		t.Fatalf("damaged type: %v", err)
	}
	q := Query{Tenant: "t1", Filters: []Filter{{Field: "pod", Op: OpEqual, Value: "pod-1"}}}
	n := 0
	_, err = s.Query(context.Background(), q, func(*model.Event) bool { n++; return true })
	if err == nil || n != 0 {
		t.Fatalf("query over a damaged header: %d rows, err %v", n, err)
	}
	copy(pi.cols, orig)
	if rows := queryAll(t, s, q); len(rows) != 600 {
		t.Fatalf("%d rows after repair, want 600", len(rows))
	}
}

// TestCorruptColumnHeaderRefusedAtOpen: a part whose index.bin holds a
// column header failing a check is refused when opened, though its
// headers are only decoded for queries afterwards.
func TestCorruptColumnHeaderRefusedAtOpen(t *testing.T) {
	bb := blockBuilderPool.Get().(*blockBuilder)
	defer blockBuilderPool.Put(bb)
	good, err := bb.build(blockRows(50), 0, &memSink{})
	if err != nil {
		t.Fatal(err)
	}
	streams := []*stream{newStream("t", model.SignalSpan, labels.FromStrings("service", "a"))}
	for _, tc := range []struct {
		name    string
		corrupt func(bh *blockHeader)
		want    string
	}{
		{"valid", func(*blockHeader) {}, ""},
		{"type", func(bh *blockHeader) { bh.cols[1].typ = 7 }, "bad type"},
		{"encoding", func(bh *blockHeader) { bh.cols[1].enc = 9 }, "bad type"},
		{"id width", func(bh *blockHeader) { bh.col(model.FieldTraceID).width = 40 }, "bad type"},
		{"present", func(bh *blockHeader) { bh.cols[2].present = bh.rows + 1 }, "present of"},
		{"raw length", func(bh *blockHeader) { bh.cols[1].rawLen = maxColumnRaw + 1 }, "raw length"},
		{"dict type", func(bh *blockHeader) { bh.col("dict").typ = ctInt }, "dictionary"},
		{"rows", func(bh *blockHeader) { bh.rows = 0 }, "0 rows"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bh := good
			bh.cols = append([]columnHeader(nil), good.cols...)
			tc.corrupt(&bh)
			pi, err := unmarshalIndex(marshalIndex(streams, []blockHeader{bh}, nil), mapResolver{})
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := mustHeader(t, pi, 0); !sameHeader(got, bh) {
					t.Fatalf("unpacked\n%+v\nwant\n%+v", got, bh)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestOpenedPartMemory bounds the heap a store holds per stream once it
// has opened a part of many one-row streams from disk: the stream
// registry and the part's index, with column headers kept packed (T8).
// With decoded column headers in the index it took 637 bytes per stream.
func TestOpenedPartMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 20k streams")
	}
	const n = 20_000
	dir := t.TempDir()
	s, err := Open(dir, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	rows := make([]model.Event, n)
	for i := range rows {
		rows[i] = model.Event{Tenant: "t1", Signal: model.SignalLog, Time: baseTime.UnixNano() + int64(i), Body: "x",
			Stream: labels.FromStrings("namespace", fmt.Sprintf("ns%d", i%100), "service", fmt.Sprintf("svc-%d", i), "env", "prod")}
	}
	if err := s.Append(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rows = nil
	before := heapInUse()
	s, err = Open(dir, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	perStream := float64(int64(heapInUse())-int64(before)) / n
	runtime.KeepAlive(s)
	t.Logf("%.0f bytes per stream", perStream)
	if got := len(queryAll(t, s, Query{Tenant: "t1", Filters: []Filter{{Op: OpEqual, Value: "x"}}})); got != n {
		t.Fatalf("%d rows, want %d", got, n)
	}
	if perStream > 280 {
		t.Fatalf("%.0f bytes per stream after opening the part, want at most 280", perStream)
	}
}

// TestConcurrentHeaderDecoding runs queries that decode the same blocks'
// headers from several goroutines (for the race detector: the packed
// headers are shared, decoded headers are not).
func TestConcurrentHeaderDecoding(t *testing.T) {
	s := flushedGenStore(t, 3000)
	q := Query{Tenant: "t1", Filters: []Filter{{Field: "pod", Op: OpEqual, Value: "pod-2"}}}
	want := len(queryAll(t, s, q))
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				n := 0
				if _, err := s.Query(context.Background(), q, func(*model.Event) bool { n++; return true }); err != nil || n != want {
					errc <- fmt.Errorf("goroutine %d: %d rows (want %d), %v", g, n, want, err)
					return
				}
				if _, _, err := s.FieldValues(context.Background(), Query{Tenant: "t1"}, "pod", 0); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
}

// TestLabelPostings checks matchingStreams against every stream's labels
// for matchers that use the postings (=, =~ and != / !~ that do not match
// the empty string) and ones that cannot.
func TestLabelPostings(t *testing.T) {
	s := openTest(t, t.TempDir(), testOpts())
	var rows []model.Event
	for i := range 300 {
		ls := []string{"service", fmt.Sprintf("svc-%d", i), "ns", fmt.Sprintf("ns-%d", i%7)}
		if i%3 == 0 {
			ls = append(ls, "team", []string{"a", "b"}[i%2])
		}
		rows = append(rows, model.Event{Tenant: "t1", Signal: model.SignalLog, Time: baseTime.UnixNano() + int64(i), Body: "x",
			Stream: labels.FromStrings(ls...)})
	}
	if err := s.Append(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	sn, err := s.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer sn.release()
	pt := sn.parts[0].p
	m := func(typ labels.MatchType, name, v string) *labels.Matcher { return labels.MustNewMatcher(typ, name, v) }
	for _, tc := range []struct {
		ms      []*labels.Matcher
		want    int // streams; -1: the postings cannot narrow (nil)
		usePost bool
	}{
		{[]*labels.Matcher{m(labels.MatchEqual, "service", "svc-42")}, 1, true},
		{[]*labels.Matcher{m(labels.MatchEqual, "service", "svc-999")}, 0, true},
		{[]*labels.Matcher{m(labels.MatchEqual, "nope", "x")}, 0, true},
		{[]*labels.Matcher{m(labels.MatchEqual, "ns", "ns-3")}, 43, true},
		{[]*labels.Matcher{m(labels.MatchRegexp, "service", "svc-1.")}, 10, true},
		{[]*labels.Matcher{m(labels.MatchRegexp, "ns", "ns-[12]"), m(labels.MatchEqual, "team", "a")}, 14, true},
		{[]*labels.Matcher{m(labels.MatchRegexp, "ns", "ns-[12]"), m(labels.MatchEqual, "team", "b")}, 14, true},
		{[]*labels.Matcher{m(labels.MatchNotEqual, "team", "")}, 100, true},
		{[]*labels.Matcher{m(labels.MatchNotRegexp, "team", "a|")}, 50, true},
		{[]*labels.Matcher{m(labels.MatchNotEqual, "team", "a")}, -1, false},
		{nil, -1, false},
	} {
		got := pt.matchingStreams(tc.ms)
		if !tc.usePost {
			if got != nil {
				t.Fatalf("%v: postings used (%d streams), want nil", tc.ms, len(got))
			}
			continue
		}
		var want []uint32
		for i, st := range pt.idx.streams {
			ok := true
			for _, mm := range tc.ms {
				ok = ok && mm.Matches(st.labels.Get(mm.Name))
			}
			if ok {
				want = append(want, uint32(i))
			}
		}
		if len(want) != tc.want {
			t.Fatalf("%v: the test expects %d streams, the labels give %d", tc.ms, tc.want, len(want))
		}
		if got == nil || !slices.Equal(got, want) {
			t.Fatalf("%v: postings give %v, want %v", tc.ms, got, want)
		}
	}
}

// FuzzPackedHeaders: unpacking arbitrary bytes returns an error or headers
// passing the open-time checks, never panics, and what it accepts packs
// and unpacks again to the same headers.
func FuzzPackedHeaders(f *testing.F) {
	bb := blockBuilderPool.Get().(*blockBuilder)
	bh, err := bb.build(blockRows(40), 0, &memSink{})
	blockBuilderPool.Put(bb)
	if err != nil {
		f.Fatal(err)
	}
	pk := colPacker{nameIdx: map[string]uint32{}}
	if _, err := pk.pack(&bh); err != nil {
		f.Fatal(err)
	}
	// Small integer arguments: the fuzzer minimizes large ones slowly.
	const base = int64(1e18) // blockRows' first timestamp
	f.Add(pk.buf, uint16(bh.rows), uint16((bh.maxT-bh.minT)/1000), uint8(len(pk.names)))
	allNames := make([]string, 256)
	for i := range allNames {
		allNames[i] = fmt.Sprint("c", i)
	}
	f.Fuzz(func(t *testing.T, b []byte, rows, span uint16, names uint8) {
		pi := &partIndex{cols: b, names: allNames[:names]}
		ref := blockRef{rows: uint32(rows), minT: base, maxT: base + 1000*int64(span)}
		var got blockHeader
		if pi.header(&ref, &got) != nil {
			return
		}
		// Unpacking some columns gives those of the full header.
		var some blockHeader
		if err := pi.headerOf(&ref, &some, []uint32{0, 2}); err != nil {
			t.Fatalf("full header accepted, some columns not: %v", err)
		}
		sub := got
		sub.cols = nil
		for _, c := range got.cols {
			if len(pi.names) > 0 && c.name == pi.names[0] || len(pi.names) > 2 && c.name == pi.names[2] {
				sub.cols = append(sub.cols, c)
			}
		}
		if !sameHeader(some, sub) {
			t.Fatalf("columns 0 and 2: %+v, full header has %+v", some, sub)
		}
		again := colPacker{nameIdx: map[string]uint32{}}
		at, err := again.pack(&got)
		if err != nil {
			t.Fatal(err)
		}
		pi2 := &partIndex{cols: again.buf, names: again.names}
		ref.colsAt = at
		var got2 blockHeader
		if err := pi2.header(&ref, &got2); err != nil {
			t.Fatalf("repacked header: %v", err)
		}
		if !sameHeader(got, got2) {
			t.Fatalf("repacked header differs:\n%+v\n%+v", got, got2)
		}
	})
}

// flushedGenStore opens a store in a temporary directory holding n genRows
// rows flushed to one part; it is closed when the test ends.
func flushedGenStore(t *testing.T, n int) *Store {
	t.Helper()
	s := openTest(t, t.TempDir(), testOpts())
	t.Cleanup(func() { s.Close() })
	if err := s.Append(context.Background(), genRows(n, 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	return s
}
