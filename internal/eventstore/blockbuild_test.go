package eventstore

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/sightline/sightline/bench/gen"
	"github.com/sightline/sightline/internal/model"
)

// digestSink hashes every blob a block builder writes, in order, so two
// builds can be compared byte for byte without keeping the bytes.
type digestSink struct {
	h          hash.Hash
	data, blob uint64
}

func (s *digestSink) writeData(p []byte) (uint64, error) {
	off := s.data
	s.h.Write([]byte{'d'})
	s.h.Write(p)
	s.data += uint64(len(p))
	return off, nil
}

func (s *digestSink) writeBloom(p []byte) (uint64, error) {
	off := s.blob
	s.h.Write([]byte{'b'})
	s.h.Write(p)
	s.blob += uint64(len(p))
	return off, nil
}

// streamBlocks groups rows by stream (sorted by time, as a flush orders
// them) and cuts each stream into blocks the way writePartSegs does.
func streamBlocks(rows []model.Event) [][]*model.Event {
	by := map[string][]*model.Event{}
	var keys []string
	for i := range rows {
		k := rows[i].Stream.String()
		if _, ok := by[k]; !ok {
			keys = append(keys, k)
		}
		by[k] = append(by[k], &rows[i])
	}
	slices.Sort(keys)
	var blocks [][]*model.Event
	for _, k := range keys {
		rs := by[k]
		slices.SortStableFunc(rs, func(a, b *model.Event) int { return cmp.Compare(a.Time, b.Time) })
		for len(rs) > 0 {
			n, size := 0, 0
			for n < len(rs) && n < maxBlockRows && size < maxBlockBytes {
				size += rs[n].Size()
				n++
			}
			blocks = append(blocks, rs[:n])
			rs = rs[n:]
		}
	}
	return blocks
}

// buildDigest builds every block with a fresh builder and returns the
// SHA-256 of the written blobs and the marshaled block headers.
func buildDigest(t testing.TB, blocks [][]*model.Event, level zLevel) string {
	sink := &digestSink{h: sha256.New()}
	bb := &blockBuilder{byKey: map[attrKey]*colAcc{}, uniq: map[string]int{}, level: level}
	var hdr []byte
	for i, rows := range blocks {
		bh, err := bb.build(rows, uint32(i), sink)
		if err != nil {
			t.Fatal(err)
		}
		hdr = bh.marshal(hdr[:0])
		sink.h.Write([]byte{'h'})
		sink.h.Write(hdr)
	}
	return hex.EncodeToString(sink.h.Sum(nil))
}

func goldenSpans(n int) []model.Event {
	g := gen.New(2, baseTime, 100*time.Microsecond)
	p := gen.NewParser()
	out := make([]model.Event, n)
	var attrs []model.Attr
	for k := range out {
		attrs = g.Span(k, &out[k], attrs, p)
		out[k] = cloneEvent(out[k])
	}
	return out
}

// TestBlockBuildGolden pins the bytes block building writes for generated
// logs and spans (both zstd levels): encoding changes made for speed must
// leave parts byte-identical. A deliberate format change updates the
// digests here and says so in docs/format/part.md.
func TestBlockBuildGolden(t *testing.T) {
	logs := streamBlocks(benchLogRows(30_000))
	spans := streamBlocks(goldenSpans(20_000))
	for _, tc := range []struct {
		name   string
		blocks [][]*model.Event
		level  zLevel
		want   string
	}{
		{"logs/fast", logs, levelFast, goldenLogsFast},
		{"logs/default", logs, levelDefault, goldenLogsDefault},
		{"logs/cold", logs, levelCold, goldenLogsCold},
		{"spans/fast", spans, levelFast, goldenSpansFast},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := buildDigest(t, tc.blocks, tc.level); got != tc.want {
				t.Errorf("digest %s, want %s", got, tc.want)
			}
			// A reused builder writes the same bytes as a fresh one.
			bb := &blockBuilder{byKey: map[attrKey]*colAcc{}, uniq: map[string]int{}, level: tc.level}
			for i, rows := range tc.blocks {
				if _, err := bb.build(rows, uint32(i), &digestSink{h: sha256.New()}); err != nil {
					t.Fatal(err)
				}
			}
			sink := &digestSink{h: sha256.New()}
			var hdr []byte
			for i, rows := range tc.blocks {
				bh, err := bb.build(rows, uint32(i), sink)
				if err != nil {
					t.Fatal(err)
				}
				hdr = bh.marshal(hdr[:0])
				sink.h.Write([]byte{'h'})
				sink.h.Write(hdr)
			}
			if got := hex.EncodeToString(sink.h.Sum(nil)); got != tc.want {
				t.Errorf("reused builder digest %s, want %s", got, tc.want)
			}
		})
	}
}

const (
	goldenLogsFast    = "7049bf62b3ae4ac30e4258cfc337dfcd874e0e440674b13e6b8a12f1343f5166"
	goldenLogsDefault = "161fbf8ba4481755b0a07682f6f09493854b7f20a0804bf3b196df016b8af03c"
	goldenLogsCold    = "8bbc316de280f102bd820f96467037a0abcb7358b8dee6de9ab79a394fd3f234"
	goldenSpansFast   = "afab2516de20096b0490f1d66e1a4842c7852207132450ac65c1f1afe1907f26"
)

// loggenRows reads up to n lines of loggen JSON output (the file named by
// $SIGHTLINE_LOGGEN_FILE, default /work/peers/run-vl3/logs.jsonl), parsed as
// the bench generator's JSON records with the service as stream; nil when
// the file is missing.
func loggenRows(tb testing.TB, n int) []model.Event {
	path := os.Getenv("SIGHTLINE_LOGGEN_FILE")
	if path == "" {
		path = "/work/peers/run-vl3/logs.jsonl"
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	p := gen.NewParser()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	out := make([]model.Event, 0, n)
	for len(out) < n && sc.Scan() {
		line := sc.Bytes()
		svc := jsonField(line, `"service":"`)
		ts, err := time.Parse(time.RFC3339Nano, jsonField(line, `"ts":"`))
		if err != nil {
			tb.Fatalf("loggen line %d: %v", len(out)+1, err)
		}
		p.Reset()
		var e model.Event
		if err := p.Parse(gen.Record{Service: svc, Line: line, Time: ts.UnixNano()}, &e); err != nil {
			tb.Fatalf("loggen line %d: %v", len(out)+1, err)
		}
		out = append(out, cloneEvent(e))
	}
	return out
}

// jsonField returns the string value following key (which ends in `:"`).
func jsonField(line []byte, key string) string {
	s := string(line)
	for i := 0; i+len(key) <= len(s); i++ {
		if s[i:i+len(key)] == key {
			s = s[i+len(key):]
			for j := 0; j < len(s); j++ {
				if s[j] == '"' {
					return s[:j]
				}
			}
		}
	}
	return ""
}

// BenchmarkBlockBuild builds the blocks of a head flush (fastest zstd)
// from 100k log rows grouped into streams by service: loggen's JSON lines
// when the file is there ("loggen"), the bench generator's mixed formats
// ("gen"). The sink only hashes. "rows/cpu-s" counts block building only.
func BenchmarkBlockBuild(b *testing.B) {
	const n = 100_000
	sets := []struct {
		name string
		rows []model.Event
	}{{"loggen", loggenRows(b, n)}, {"gen", benchLogRows(n)}}
	for _, set := range sets {
		b.Run(set.name, func(b *testing.B) {
			if len(set.rows) == 0 {
				b.Skip("no loggen file")
			}
			blocks := streamBlocks(set.rows)
			bb := &blockBuilder{byKey: map[attrKey]*colAcc{}, uniq: map[string]int{}, level: levelFast}
			sink := &digestSink{h: nullHash{}}
			runtime.GC()
			c0 := cpuNow()
			b.ResetTimer()
			for range b.N {
				for i, rows := range blocks {
					if _, err := bb.build(rows, uint32(i), sink); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			cpu := cpuNow() - c0
			b.ReportMetric(float64(len(set.rows))*float64(b.N)/cpu.Seconds(), "rows/cpu-s")
			b.ReportMetric(float64(sink.data+sink.blob)/float64(len(set.rows)*b.N), "B/row")
		})
	}
}

// nullHash discards what is written (the benchmark measures building).
type nullHash struct{}

func (nullHash) Write(p []byte) (int, error) { return len(p), nil }
func (nullHash) Sum(b []byte) []byte         { return b }
func (nullHash) Reset()                      {}
func (nullHash) Size() int                   { return 0 }
func (nullHash) BlockSize() int              { return 1 }

// TestHashSetDedup checks the hash set keeps exactly the distinct hashes,
// first occurrences in order, across growth, zero hashes and reuse.
func TestHashSetDedup(t *testing.T) {
	var s hashSet
	for _, tc := range []struct {
		name string
		in   []uint64
	}{
		{"empty", nil},
		{"zero", []uint64{0, 5, 0, 5}},
		{"collide", []uint64{1, 1025, 2049, 1, 1025, 3073}},
		{"grow", func() []uint64 {
			var h []uint64
			for i := range 5000 {
				h = append(h, uint64(i%1700)*0x9e3779b97f4a7c15, uint64(i%3))
			}
			return h
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want []uint64
			seen := map[uint64]bool{}
			for _, x := range tc.in {
				if !seen[x] {
					seen[x] = true
					want = append(want, x)
				}
			}
			got := s.dedup(slices.Clone(tc.in))
			if !slices.Equal(got, want) {
				t.Fatalf("dedup: %d hashes, want %d", len(got), len(want))
			}
			sorted := dedupHashes(slices.Clone(tc.in))
			if !slices.Equal(bloomBuild(nil, got), bloomBuild(nil, sorted)) {
				t.Fatal("filter differs from the sorted dedup's")
			}
		})
	}
}

// BenchmarkFlushLoggen writes a head of 100k loggen JSON lines (streams by
// service, rows in arrival order) into a part: the flush share of log
// ingest, from grouping the head's rows to the fsynced part. "rows/cpu-s"
// counts the flush only.
func BenchmarkFlushLoggen(b *testing.B) {
	const n = 100_000
	rows := loggenRows(b, n)
	if len(rows) == 0 {
		b.Skip("no loggen file")
	}
	var cpu time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		s, err := Open(b.TempDir(), benchOpts())
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < len(rows); i += 1000 {
			if err := s.Append(context.Background(), rows[i:min(i+1000, len(rows))]); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		c0 := cpuNow()
		b.StartTimer()
		if err := s.Flush(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu += cpuNow() - c0
		b.ReportMetric(float64(s.Stats().DiskBytes)/float64(len(rows)), "B/row")
		s.Close()
	}
	b.ReportMetric(float64(len(rows))*float64(b.N)/cpu.Seconds(), "rows/cpu-s")
}

// TestGramSetAddTokens checks the one-scan token and trigram collection
// gives the same token hashes and trigram set as the two separate scans.
func TestGramSetAddTokens(t *testing.T) {
	for c := range 256 {
		if isTokenByte[c] != (gramCode[c] != 0) {
			t.Fatalf("byte %#x: token byte %v, gram code %d", c, isTokenByte[c], gramCode[c])
		}
	}
	vals := []string{"", "a", "ab", "abc", "GET /api/v1/users?id=42 200", "  trailing_tok", "héllo wörld ✓ x9_Z",
		"...", "a.b.c", "0123456789abcdef0123", "ERROR: Timeout after 30s (retry=3)"}
	var one, two gramSet
	var got, want []uint64
	for _, v := range vals {
		got = one.addTokens(got, v)
		want = appendTokenHashes(want, v)
		two.add(v)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("token hashes %x, want %x", got, want)
	}
	g1, g2 := one.appendHashes(nil), two.appendHashes(nil)
	slices.Sort(g1)
	slices.Sort(g2)
	if len(g1) == 0 || !slices.Equal(g1, g2) {
		t.Fatalf("trigram hashes: %d, want %d equal", len(g1), len(g2))
	}
	if len(one.keys) != 0 || slices.ContainsFunc(one.seen, func(w uint64) bool { return w != 0 }) {
		t.Fatal("appendHashes left the set non-empty")
	}
}
