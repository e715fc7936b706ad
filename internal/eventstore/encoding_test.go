package eventstore

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/model"
)

func TestIntCodec(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	ts := make([]int64, 1000)
	for i := range ts {
		ts[i] = 1_700_000_000_000_000_000 + int64(i)*1_000_000 + r.Int64N(1000)
	}
	msTS, mult := make([]int64, 1000), make([]int64, 1000)
	for i := range msTS {
		msTS[i] = 1_700_000_000_000_000_000 + int64(i)*5_000_000 + r.Int64N(5)*1_000_000
		mult[i] = r.Int64N(1000) * 1000
	}
	tests := []struct {
		name    string
		vals    []int64
		maxSize int
	}{
		{"empty", nil, 3},
		{"single", []int64{42}, 12},
		{"const", slices.Repeat([]int64{7}, 100), 12},
		{"small", []int64{1, 5, 3, 0, 15}, 20},
		{"timestamps delta", ts, 1000*21/8 + 30}, // ~1ms steps with jitter: ≤ 21 bits
		{"negative", []int64{-5, 3, -1000, 99}, 30},
		{"extremes", []int64{math.MinInt64, math.MaxInt64, 0, -1}, 50},
		{"descending", []int64{100, 90, 80, 70}, 20},
		// Millisecond timestamps 1–9 ms apart: the deltas share the divisor
		// 1e6 and pack in 4 bits instead of 23.
		{"millisecond timestamps", msTS, 1000*4/8 + 30},
		// Unordered multiples of 1000: frame of reference over quotients.
		{"multiples", mult, 1000*10/8 + 30},
		{"extremes with divisor", []int64{math.MinInt64, 0, math.MaxInt64 - 1, -2}, 50},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc, _ := encodeInts(nil, tc.vals, nil)
			if len(enc) > tc.maxSize {
				t.Errorf("encoded %d values in %d bytes, want ≤ %d", len(tc.vals), len(enc), tc.maxSize)
			}
			dec, rest, err := decodeInts(nil, enc, len(tc.vals))
			if err != nil {
				t.Fatal(err)
			}
			if len(rest) != 0 || !slices.Equal(dec, tc.vals) && len(tc.vals) > 0 {
				t.Fatalf("round trip: got %v (rest %d), want %v", dec, len(rest), tc.vals)
			}
		})
	}
}

func TestPackWidths(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for w := uint(0); w <= 64; w++ {
		vals := make([]uint64, 77)
		for i := range vals {
			if w > 0 {
				vals[i] = r.Uint64() >> (64 - w)
			}
		}
		enc := packUints(nil, vals, w)
		if len(enc) != packedLen(len(vals), w) {
			t.Fatalf("width %d: %d bytes, want %d", w, len(enc), packedLen(len(vals), w))
		}
		dec, err := unpackUints(nil, enc, len(vals), w)
		if err != nil || !slices.Equal(dec, vals) {
			t.Fatalf("width %d: round trip failed: %v", w, err)
		}
	}
}

func TestStringAndHexCodecs(t *testing.T) {
	vals := []string{"", "a", "hello world", "ünïcode", string(make([]byte, 300))}
	enc, _, _ := encodeStrings(nil, vals, nil, nil)
	dec, rest, err := decodeStrings(nil, enc, len(vals))
	if err != nil || len(rest) != 0 || !slices.Equal(dec, vals) {
		t.Fatalf("strings round trip: %q %v", dec, err)
	}
	hexVals := []string{"0af7651916cd43dd8448eb211c80319c", "00000000000000000000000000000001"}
	w, ok := hexWidth(hexVals)
	if !ok || w != 16 {
		t.Fatalf("hexWidth = %d %v", w, ok)
	}
	for _, bad := range [][]string{{"ABCD"}, {"abc"}, {"ab", "abcd"}, {"zz"}} {
		if _, ok := hexWidth(bad); ok {
			t.Errorf("hexWidth accepted %q", bad)
		}
	}
	henc := encodeHex(nil, hexVals)
	if len(henc) != 32 {
		t.Fatalf("hex encoded to %d bytes", len(henc))
	}
	hdec, _, err := decodeHex(nil, henc, 2, 16)
	if err != nil || !slices.Equal(hdec, hexVals) {
		t.Fatalf("hex round trip %q %v", hdec, err)
	}
}

// blockRows builds rows exercising every column encoding.
func blockRows(n int) []*model.Event {
	out := make([]*model.Event, n)
	for i := range out {
		e := &model.Event{Tenant: "t", Signal: model.SignalSpan, Stream: labels.FromStrings("service", "a"),
			Time: int64(1e18) + int64(i)*1000, Name: "GET /x", Kind: model.SpanKindServer,
			Body: fmt.Sprintf("unique body %d with words", i), Duration: int64(i * 37),
			TraceID: model.TraceID{byte(i), 1}, SpanID: model.SpanID{byte(i), 2},
			Attrs: []model.Attr{
				{Key: "const", Value: model.StringValue("same")},
				{Key: "dict", Value: model.StringValue([]string{"a", "b", "c"}[i%3])},
				{Key: "hexid", Value: model.StringValue(fmt.Sprintf("%032x", i*7919))},
				{Key: "f", Value: model.FloatValue(float64(i) / 3)},
				{Key: "b", Value: model.BoolValue(i%2 == 0)},
				{Key: "mixed", Value: model.IntValue(int64(i))},
			}}
		if i%5 == 0 {
			e.Attrs[5].Value = model.StringValue("text")
			e.ParentSpanID = model.SpanID{9}
		}
		if i%2 == 0 {
			e.Severity = "warn" // sparse column
		}
		out[i] = e
	}
	return out
}

type memSink struct{ data, bloom []byte }

func (m *memSink) writeData(p []byte) (uint64, error) {
	off := uint64(len(m.data))
	m.data = append(m.data, p...)
	return off, nil
}
func (m *memSink) writeBloom(p []byte) (uint64, error) {
	off := uint64(len(m.bloom))
	m.bloom = append(m.bloom, p...)
	return off, nil
}

func TestBlockRoundTripEncodings(t *testing.T) {
	rows := blockRows(1000)
	sink := &memSink{}
	bb := blockBuilderPool.Get().(*blockBuilder)
	bh, err := bb.build(rows, 0, sink)
	if err != nil {
		t.Fatal(err)
	}
	// Header round trip.
	enc := bh.marshal(nil)
	var bh2 blockHeader
	d := &decBuf{b: enc}
	bh2.unmarshal(d)
	if d.err != nil || len(d.b) != 0 {
		t.Fatalf("header round trip: %v", d.err)
	}
	wantEnc := map[string]colEnc{
		model.FieldTime: encPacked, model.FieldBody: encPlain, model.FieldName: encConst, "const": encConst,
		"dict": encDict, "hexid": encHex, "f": encPlain, "b": encPacked, model.FieldTraceID: encPlain,
		model.FieldSeverity: encConst, model.FieldKind: encConst,
	}
	for name, want := range wantEnc {
		c := bh2.col(name)
		if c == nil || c.enc != want {
			t.Errorf("column %s: %+v, want encoding %d", name, c, want)
		}
	}
	if c := bh2.col(model.FieldBody); c.bloomLen == 0 {
		t.Error("body has no bloom filter")
	}
	if c := bh2.col(model.FieldSpanID); c.bloomLen == 0 {
		t.Error("span_id has no exact filter")
	}
	lb := &loadedBlock{st: newStream("t", model.SignalSpan, rows[0].Stream), bh: &bh2, buf: sink.data, cols: make([]*colData, len(bh2.cols))}
	for i := range bh2.cols {
		if bh2.cols[i].name == model.FieldTime {
			c, err := lb.col(i)
			if err != nil {
				t.Fatal(err)
			}
			lb.times = c.nums
		}
	}
	for r := range rows {
		e, err := lb.event(r)
		if err != nil {
			t.Fatal(err)
		}
		w := rows[r]
		if e.Time != w.Time || e.Body != w.Body || e.Severity != w.Severity || e.TraceID != w.TraceID ||
			e.SpanID != w.SpanID || e.ParentSpanID != w.ParentSpanID || e.Duration != w.Duration || e.Kind != w.Kind || e.Name != w.Name {
			t.Fatalf("row %d intrinsics differ:\n got %+v\nwant %+v", r, e, *w)
		}
		for _, a := range w.Attrs {
			v, ok := e.Field(a.Key)
			if !ok || v != a.Value {
				t.Fatalf("row %d attr %s = %v, want %v", r, a.Key, v, a.Value)
			}
		}
	}
}

func TestBloomFalsePositiveRate(t *testing.T) {
	var hashes []uint64
	for i := range 10000 {
		hashes = append(hashes, tokenHash(fmt.Sprintf("present%d", i)))
	}
	b := bloomBuild(nil, dedupHashes(hashes))
	if err := bloomCheck(b); err != nil {
		t.Fatal(err)
	}
	for _, h := range hashes {
		if !bloomHas(b, h) {
			t.Fatal("false negative")
		}
	}
	fp := 0
	const probes = 100000
	for i := range probes {
		if bloomHas(b, tokenHash(fmt.Sprintf("absent%d", i))) {
			fp++
		}
	}
	rate := float64(fp) / probes
	t.Logf("false-positive rate %.4f at %d bits per token", rate, bloomBitsPerItem)
	if rate > 0.02 {
		t.Fatalf("false-positive rate %.4f exceeds 2%%", rate)
	}
}

func TestTokenizer(t *testing.T) {
	var got []string
	forEachToken(`GET /api/v1/items?id=42 "naïve" user_id:7`, func(s string) { got = append(got, s) })
	want := []string{"GET", "api", "v1", "items", "id", "42", "naïve", "user_id", "7"}
	if !slices.Equal(got, want) {
		t.Fatalf("tokens %q, want %q", got, want)
	}
	for _, tc := range []struct {
		s, p string
		want bool
	}{
		{"connection refused!", "connection refused", true},
		{"connection refusedX", "connection refused", false},
		{"xconnection refused", "connection refused", false},
		{"a=zymurgy", "zymurgy", true},
		{"zymurgyx zymurgy", "zymurgy", true},
		{"path /api/x", "/api/", true},
	} {
		if got := containsPhrase(tc.s, tc.p); got != tc.want {
			t.Errorf("containsPhrase(%q, %q) = %v", tc.s, tc.p, got)
		}
	}
	if n := len(innerTokenHashes("zymurgy")); n != 0 {
		t.Errorf("edge token used for substring: %d", n)
	}
	if n := len(innerTokenHashes("a connection refused b")); n != 2 {
		t.Errorf("inner tokens %d, want 2", n)
	}
}

// Every part keeps one columnHeader per column per block in memory (RAM per
// active stream, T8): padding or new fields must be a deliberate choice.
func TestColumnHeaderSize(t *testing.T) {
	if n := unsafe.Sizeof(columnHeader{}); n > 112 {
		t.Fatalf("columnHeader is %d bytes, want at most 112", n)
	}
	// One of each per active stream (T8).
	if n := unsafe.Sizeof(stream{}); n > 32 {
		t.Fatalf("stream is %d bytes, want at most 32", n)
	}
	if n := unsafe.Sizeof(blockRef{}); n > 24 {
		t.Fatalf("blockRef is %d bytes, want at most 24", n)
	}
}

// TestIndexSharesNames: every block's unpacked column names share one
// string per name and part (an index repeats them in each block header).
func TestIndexSharesNames(t *testing.T) {
	var blocks []blockHeader
	bb := blockBuilderPool.Get().(*blockBuilder)
	defer blockBuilderPool.Put(bb)
	for range 3 {
		bh, err := bb.build(blockRows(20), 0, &memSink{})
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, bh)
	}
	streams := []*stream{newStream("t", model.SignalSpan, labels.FromStrings("service", "a"))}
	pi, err := unmarshalIndex(marshalIndex(streams, blocks, nil), mapResolver{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pi.names) != len(blocks[0].cols)-1 { // "mixed" has two columns
		t.Fatalf("%d names for %d columns", len(pi.names), len(blocks[0].cols))
	}
	first := mustHeader(t, pi, 0)
	for bi := 1; bi < len(blocks); bi++ {
		bh := mustHeader(t, pi, bi)
		for i := range bh.cols {
			if a, b := bh.cols[i].name, first.cols[i].name; a != b || unsafe.StringData(a) != unsafe.StringData(b) {
				t.Fatalf("block %d column %d: name %q not shared with block 0's %q", bi, i, a, b)
			}
		}
	}
}

// TestIntCodecDivisorRefused checks the divisor modes' canonical form: a
// divisor of 0 or 1 (never written) and a missing width are errors.
func TestIntCodecDivisorRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"FOR divisor 0", []byte{intModeFORGCD, 0, 0, 1, 0}},
		{"FOR divisor 1", []byte{intModeFORGCD, 0, 1, 1, 0}},
		{"delta divisor 1", []byte{intModeDeltaGCD, 0, 0, 1, 1, 0}},
		{"delta no width", []byte{intModeDeltaGCD, 0, 0, 5}},
		{"FOR no width", []byte{intModeFORGCD, 0, 5}},
	} {
		if _, _, err := decodeInts(nil, tc.b, 2); err == nil {
			t.Errorf("%s: decoded, want an error", tc.name)
		}
	}
}

// FuzzIntCodecRoundTrip encodes arbitrary int sequences (scaled by a
// fuzzed factor so common divisors occur) and checks they decode to the
// same values, consuming exactly the encoded bytes.
func FuzzIntCodecRoundTrip(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, int64(1_000_000), false)
	f.Add([]byte{255, 0, 0, 0, 0, 0, 0, 128, 1, 0, 0, 0, 0, 0, 0, 0}, int64(3), true)
	f.Fuzz(func(t *testing.T, b []byte, scale int64, sorted bool) {
		vals := make([]int64, 0, len(b)/8)
		for i := 0; i+8 <= len(b); i += 8 {
			vals = append(vals, int64(binary.LittleEndian.Uint64(b[i:]))*scale)
		}
		if sorted {
			slices.Sort(vals)
		}
		enc, _ := encodeInts(nil, vals, nil)
		dec, rest, err := decodeInts(nil, enc, len(vals))
		if err != nil {
			t.Fatalf("decode %v: %v", vals, err)
		}
		if len(rest) != 0 || len(vals) > 0 && !slices.Equal(dec, vals) {
			t.Fatalf("round trip: got %v (rest %d), want %v", dec, len(rest), vals)
		}
	})
}

func TestDecimalCodec(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	lat := make([]float64, 1000)
	for i := range lat {
		lat[i] = float64(r.IntN(100_000)) / 1000 // 0.000–99.999 ms
	}
	tests := []struct {
		name    string
		vals    []float64
		ok      bool
		maxSize int
	}{
		{"latencies in ms, 3 decimals", lat, true, 1000*17/8 + 20},
		{"whole numbers", []float64{1, 2, 300, -7, 0}, true, 20},
		{"mixed decimals", []float64{0.5, 0.25, 0.125, 10}, true, 20},
		{"percentages", []float64{99.9, 99.95, 100, 0.01}, true, 20},
		{"a third", []float64{1.0 / 3}, false, 0},
		{"NaN", []float64{1, math.NaN()}, false, 0},
		{"infinity", []float64{math.Inf(-1)}, false, 0},
		{"negative zero", []float64{math.Copysign(0, -1)}, false, 0},
		{"too large", []float64{1e300}, false, 0},
		{"tiny", []float64{5e-324}, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bitsVals := make([]int64, len(tc.vals))
			for i, v := range tc.vals {
				bitsVals[i] = int64(math.Float64bits(v))
			}
			enc, _, _, ok := encodeDecimals(nil, bitsVals, nil, nil)
			if ok != tc.ok {
				t.Fatalf("encodable = %v, want %v", ok, tc.ok)
			}
			if !ok {
				if len(enc) != 0 {
					t.Fatalf("appended %d bytes on refusal", len(enc))
				}
				return
			}
			if len(enc) > tc.maxSize {
				t.Errorf("encoded %d values in %d bytes, want ≤ %d (plain: %d)", len(tc.vals), len(enc), tc.maxSize, 8*len(tc.vals))
			}
			dec, rest, err := decodeDecimals(nil, enc, len(tc.vals))
			if err != nil {
				t.Fatal(err)
			}
			if len(rest) != 0 || !slices.Equal(dec, bitsVals) {
				t.Fatalf("round trip: got %v (rest %d), want %v", dec, len(rest), bitsVals)
			}
		})
	}
}

// FuzzDecimalCodec checks that whatever float bits encodeDecimals accepts
// decode to the same bits, and that decodeDecimals never panics on
// arbitrary bytes.
func FuzzDecimalCodec(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x7b, 0x14, 0xae, 0x47, 0xe1, 0x7a, 0x84, 0x3f})
	f.Add([]byte{3, 0, 1, 2, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeDecimals(nil, b, len(b)/2)
		vals := make([]int64, 0, len(b)/8)
		for i := 0; i+8 <= len(b); i += 8 {
			vals = append(vals, int64(binary.LittleEndian.Uint64(b[i:])))
		}
		// Also the same values rounded to 3 decimals, which must encode.
		round := make([]int64, 0, len(vals))
		for _, v := range vals {
			f := math.Float64frombits(uint64(v))
			if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e9 {
				continue
			}
			round = append(round, int64(math.Float64bits(math.Round(f*1000)/1000+0)))
		}
		for i, in := range [][]int64{vals, round} {
			enc, _, _, ok := encodeDecimals(nil, in, nil, nil)
			if !ok {
				if i == 1 { // (+0 above turned -0 into 0)
					t.Fatalf("values rounded to 3 decimals refused: %v", in)
				}
				continue
			}
			dec, rest, err := decodeDecimals(nil, enc, len(in))
			if err != nil || len(rest) != 0 || !slices.Equal(dec, in) {
				t.Fatalf("round trip of %v: got %v rest %d err %v", in, dec, len(rest), err)
			}
		}
	})
}
