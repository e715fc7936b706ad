package eventstore

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/model"
)

// gramRegion builds a body column's bloom region over values the way
// encodeColumn does for a plain column.
func gramRegion(values []string) []byte {
	var h []uint64
	var g gramSet
	for _, v := range values {
		h = appendTokenHashes(h, v)
		g.add(v)
	}
	if len(h) == 0 {
		return nil
	}
	tok := bloomBuild(nil, dedupHashes(h))
	gh := g.appendHashes(nil)
	if len(gh) == 0 {
		return tok
	}
	return bloomAppendComposite(nil, tok, gh)
}

// mayMatch runs the planner's column check of f against a region.
func mayMatch(t testing.TB, f Filter, region []byte) bool {
	t.Helper()
	cf, err := compileFilters([]Filter{f})
	if err != nil {
		t.Fatal(err)
	}
	c := &columnHeader{name: model.FieldBody, typ: ctString, enc: encPlain, bloomLen: uint32(len(region))}
	may, _, err := cf[0].colMayMatch(c, func() ([]byte, error) { return region, bloomCheck(region) })
	if err != nil {
		t.Fatal(err)
	}
	return may
}

func TestGramExtraction(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"abc", []string{"abc"}},
		{"ab", nil},
		{"Quix-OT", []string{"qui", "uix"}},
		{"a_b9Z", []string{"a_b", "_b9", "b9z"}},
		{"x=é", nil}, // "=" breaks the run; "é" is 2 bytes: no trigram
		{"éa", []string{"\x80\x80a"}},
		{"a.b.c", nil},
	}
	for _, tc := range tests {
		var got []string
		forEachGram(tc.in, func(k uint32) {
			got = append(got, string([]byte{gramByte[k>>12], gramByte[k>>6&63], gramByte[k&63]}))
		})
		if !slices.Equal(got, tc.want) {
			t.Errorf("grams of %q = %q, want %q", tc.in, got, tc.want)
		}
	}
	// The builder's set deduplicates, agrees with forEachGram and empties
	// itself.
	var g gramSet
	g.add("abcabc ABC")
	g.add("c=ab")
	if h := g.appendHashes(nil); len(h) != 3 { // abc bca cab
		t.Fatalf("distinct grams: %d", len(h))
	}
	for _, tc := range tests {
		g.add(tc.in)
		var want []uint64
		for _, w := range tc.want {
			want = append(want, gramHashes(w)...)
		}
		got := g.appendHashes(nil)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(slices.Compact(got), slices.Compact(want)) {
			t.Errorf("gram set of %q: %d hashes, want %d", tc.in, len(got), len(want))
		}
	}
	if h := g.appendHashes(nil); len(h) != 0 {
		t.Fatalf("set not emptied: %d", len(h))
	}
	if len(gramHashes("zymurgy zymurgy")) != 5 {
		t.Fatalf("needle grams not deduplicated: %d", len(gramHashes("zymurgy zymurgy")))
	}
}

// TestGramFalsePositiveRate measures the trigram filter's false-positive
// rate per absent trigram against its theoretical (1-e^(-k/b))^k, and
// that a needle with several absent trigrams passes far more rarely.
func TestGramFalsePositiveRate(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	letters := "abcdefghijklmnopqrstuvwxyz0123456789_"
	for _, n := range []int{200, 1500, 6000} {
		present := map[uint32]bool{}
		var hashes []uint64
		for len(present) < n {
			k := uint32(gramCode[letters[rng.IntN(len(letters))]])<<12 | uint32(gramCode[letters[rng.IntN(len(letters))]])<<6 | uint32(gramCode[letters[rng.IntN(len(letters))]])
			if !present[k] {
				present[k] = true
				hashes = append(hashes, gramHash(k))
			}
		}
		f := bloomBuildK(nil, hashes, gramBitsPerItem, gramK)
		for _, h := range hashes {
			if !bloomHas(f, h) {
				t.Fatalf("n=%d: false negative", n)
			}
		}
		fp, probes := 0, 0
		for a := uint32(1); a <= 37; a++ {
			for b := uint32(1); b <= 37; b++ {
				for c := uint32(1); c <= 37; c++ {
					k := a<<12 | b<<6 | c
					if present[k] {
						continue
					}
					probes++
					if bloomHas(f, gramHash(k)) {
						fp++
					}
				}
			}
		}
		rate := float64(fp) / float64(probes)
		want := math.Pow(1-math.Exp(-float64(gramK)/gramBitsPerItem), gramK)
		t.Logf("n=%d: %d of %d absent trigrams pass (%.3f, theory %.3f, %d bytes)", n, fp, probes, rate, want, len(f))
		if rate > want*1.2 || rate < want*0.6 {
			t.Errorf("n=%d: false-positive rate %.3f, theory %.3f", n, rate, want)
		}
	}
	// Block level: 1,000 blocks of log-like text, needles of random
	// letters (absent): the share of blocks they pass.
	words := strings.Fields("GET POST /api/v1/orders user u-4521 timeout after ms connection reset by peer retry attempt " +
		"payment authorized declined cart item added removed checkout started completed failed status=200 status=500 " +
		"latency_ms=12 inventory reserved released shipping label printed db query slow lock wait deadlock detected")
	blocks, passed, needles := 300, 0, 0
	for range blocks {
		vals := make([]string, 200)
		for i := range vals {
			var sb strings.Builder
			for j := range 8 {
				if j > 0 {
					sb.WriteByte(' ')
				}
				sb.WriteString(words[rng.IntN(len(words))])
			}
			fmt.Fprintf(&sb, " id=%d", rng.IntN(1e6))
			vals[i] = sb.String()
		}
		region := gramRegion(vals)
		for range 10 {
			b := make([]byte, 8)
			for i := range b {
				b[i] = 'a' + byte(rng.IntN(26))
			}
			needle := string(b)
			if slices.ContainsFunc(vals, func(v string) bool { return strings.Contains(v, needle) }) {
				continue
			}
			needles++
			if mayMatch(t, Filter{Op: OpSubstring, Value: needle}, region) {
				passed++
			}
		}
	}
	rate := float64(passed) / float64(needles)
	t.Logf("absent 8-letter needles pass %d of %d block checks (%.4f)", passed, needles, rate)
	if rate > 0.01 {
		t.Errorf("block false-positive rate %.4f for absent needles", rate)
	}
}

// TestGramPruneNeverMisses checks on random text that a block holding a
// match is never pruned, for substring, phrase and regex filters, and that
// pruning does happen.
func TestGramPruneNeverMisses(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	alpha := []string{"a", "b", "c", "A", "B", "x", "y", "_", "1", "2", " ", "=", "-", ".", "é", "ß", "K", "k", "s", "S", "\u212a", "\xff"}
	randStr := func(n int) string {
		var sb strings.Builder
		for range n {
			sb.WriteString(alpha[rng.IntN(len(alpha))])
		}
		return sb.String()
	}
	pruned, checks := 0, 0
	for range 400 {
		vals := make([]string, 1+rng.IntN(20))
		for i := range vals {
			vals[i] = randStr(rng.IntN(40))
		}
		region := gramRegion(vals)
		if region == nil {
			continue
		}
		for range 20 {
			var needle string
			if v := vals[rng.IntN(len(vals))]; len(v) > 0 && rng.IntN(2) == 0 {
				i := rng.IntN(len(v))
				needle = v[i:min(len(v), i+1+rng.IntN(10))]
			} else {
				needle = randStr(1 + rng.IntN(8))
			}
			fs := []Filter{{Op: OpSubstring, Value: needle}, {Op: OpPhrase, Value: needle}}
			if utf8Valid(needle) {
				fs = append(fs, Filter{Op: OpRegex, Value: regexp.QuoteMeta(needle)},
					Filter{Op: OpRegex, Value: "(?i)" + regexp.QuoteMeta(needle)},
					Filter{Op: OpRegex, Value: "(?i)" + regexp.QuoteMeta(strings.ToUpper(needle)) + ".*x"},
					Filter{Op: OpRegex, Value: regexp.QuoteMeta(needle) + "|" + regexp.QuoteMeta(strings.ToValidUTF8(randStr(4), ""))},
					Filter{Op: OpRegex, Value: "(?i)(" + regexp.QuoteMeta(strings.ToValidUTF8(randStr(5), "")) + "|" + regexp.QuoteMeta(needle) + ")"})
			}
			for _, f := range fs {
				cf, err := compileFilters([]Filter{f})
				if err != nil {
					t.Fatal(err)
				}
				truth := slices.ContainsFunc(vals, cf[0].matchString)
				may := mayMatch(t, f, region)
				checks++
				if !may {
					pruned++
				}
				if truth && !may {
					t.Fatalf("filter %+v pruned a block holding a match; values %q", f, vals)
				}
			}
		}
	}
	t.Logf("%d of %d checks pruned", pruned, checks)
	if pruned < checks/10 {
		t.Fatalf("only %d of %d checks pruned", pruned, checks)
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\x00") == s }

// TestGramsSkipBlocks proves the planner skips blocks for substring needles
// that the token bloom cannot serve (a needle inside a longer token, or a
// regexp literal), counting blocks read.
func TestGramsSkipBlocks(t *testing.T) {
	s, _ := plannerData(t)
	defer s.Close()
	run := func(f Filter) (int, QueryStats) {
		n := 0
		res, err := s.Query(context.Background(), Query{Tenant: "t1", Filters: []Filter{f}}, func(*model.Event) bool { n++; return true })
		if err != nil {
			t.Fatal(err)
		}
		return n, res.Stats
	}
	tests := []struct {
		name    string
		f       Filter
		rows    int
		maxRead int
	}{
		{"substring whole token", Filter{Op: OpSubstring, Value: "zymurgy"}, 1, 1},
		{"substring inside a token", Filter{Op: OpSubstring, Value: "murg"}, 1, 1},
		{"substring across tokens", Filter{Op: OpSubstring, Value: "dle=zymurg"}, 1, 1},
		{"case-sensitive miss", Filter{Op: OpSubstring, Value: "ZYMURGY"}, 0, 1},
		{"regex literal", Filter{Op: OpRegex, Value: "needle=zy.urgy"}, 1, 1},
		{"case-insensitive regex", Filter{Op: OpRegex, Value: "(?i)ZYMURGY"}, 1, 1},
		{"alternation (|= a or b)", Filter{Op: OpRegex, Value: "(?s)(?:quixotry)|(?:zymurgy)"}, 1, 1},
		{"alternation with a short branch", Filter{Op: OpRegex, Value: "zymurgy|zz"}, 1, 1 << 30},
		{"absent", Filter{Op: OpSubstring, Value: "quixotry"}, 0, 0},
		{"everywhere", Filter{Op: OpSubstring, Value: "rdinar"}, 120000, 1 << 30},
		{"too short for trigrams", Filter{Op: OpSubstring, Value: "zy"}, 1, 1 << 30},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, st := run(tc.f)
			if n != tc.rows {
				t.Fatalf("rows %d, want %d", n, tc.rows)
			}
			if st.BlocksRead > tc.maxRead || st.BlocksTotal < 18 {
				t.Fatalf("stats %+v: want read ≤ %d", st, tc.maxRead)
			}
			if tc.maxRead < 1<<30 && st.BlocksBloom < st.BlocksTotal-tc.maxRead {
				t.Fatalf("stats %+v: want ≥ %d bloom skips", st, st.BlocksTotal-tc.maxRead)
			}
		})
	}
}

// TestGramsOldRegion: a region holding only a token filter (parts written
// before trigram filters) never prunes by trigrams.
func TestGramsOldRegion(t *testing.T) {
	vals := []string{"alpha beta", "gamma"}
	var h []uint64
	for _, v := range vals {
		h = appendTokenHashes(h, v)
	}
	old := bloomBuild(nil, dedupHashes(h))
	if tok, gram, err := bloomSplit(old); err != nil || gram != nil || len(tok) != len(old) {
		t.Fatalf("split of a plain filter: %d %v %v", len(tok), gram, err)
	}
	if !mayMatch(t, Filter{Op: OpSubstring, Value: "zzzqqq"}, old) {
		t.Fatal("plain token filter pruned a substring needle")
	}
	if mayMatch(t, Filter{Op: OpSubstring, Value: "zzzqqq"}, gramRegion(vals)) {
		t.Fatal("trigram filter did not prune an absent needle")
	}
	// The token part of a composite region still serves token checks.
	if mayMatch(t, Filter{Op: OpPhrase, Value: "delta"}, gramRegion(vals)) || !mayMatch(t, Filter{Op: OpPhrase, Value: "beta"}, gramRegion(vals)) {
		t.Fatal("token filter of a composite region")
	}
}

// TestGramsDifferential compares query answers over parts (trigram pruning
// on) with a scan of the appended rows for many needles, before and after a
// merge.
func TestGramsDifferential(t *testing.T) {
	s := openTest(t, t.TempDir(), testOpts())
	defer s.Close()
	rng := rand.New(rand.NewPCG(5, 6))
	words := strings.Fields("Connection refused timeout retry user_id=u-1042 order ORD-77 paid Payment failed x-request-id " +
		"café naïve ÜBER deadline exceeded GET /api/v2/items?id= quixotic zymurgy")
	var rows []model.Event
	for i := range 15000 {
		var sb strings.Builder
		for j := range 3 + rng.IntN(6) {
			if j > 0 {
				sb.WriteString([]string{" ", "=", ":", ""}[rng.IntN(4)])
			}
			sb.WriteString(words[rng.IntN(len(words))])
		}
		if rng.IntN(50) == 0 {
			fmt.Fprintf(&sb, " rare%04d", rng.IntN(300))
		}
		rows = append(rows, model.Event{Tenant: "t1", Signal: model.SignalLog,
			Stream: labels.FromStrings("service", fmt.Sprintf("s%d", i%4)),
			Time:   baseTime.Add(time.Duration(i) * time.Millisecond).UnixNano(),
			Body:   sb.String()})
		if i%5000 == 4999 {
			if err := s.Append(context.Background(), rows[i-4999:i+1]); err != nil {
				t.Fatal(err)
			}
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	var needles []string
	for range 20 {
		b := rows[rng.IntN(len(rows))].Body
		i := rng.IntN(len(b))
		needles = append(needles, b[i:min(len(b), i+3+rng.IntN(8))])
	}
	needles = append(needles, "rare0001", "rare01", "are02", "zymurgyquixotic", "Refused", "ÜBER", "über", "u-104", "quixotry")
	check := func(stage string) (skipped int) {
		for i, nd := range needles {
			fs := []Filter{{Op: OpSubstring, Value: nd}, {Op: OpPhrase, Value: nd}}
			if utf8Valid(nd) {
				fs = append(fs, Filter{Op: OpRegex, Value: "(?i)" + regexp.QuoteMeta(nd)})
				if i%3 == 0 { // alternations run the regexp on every row: a few
					fs = append(fs, Filter{Op: OpRegex, Value: "(?:" + regexp.QuoteMeta(nd) + ")|(?:rare0002)"})
				}
			}
			for _, f := range fs {
				cf, err := compileFilters([]Filter{f})
				if err != nil {
					t.Fatal(err)
				}
				want := 0
				for i := range rows {
					if cf[0].matchString(rows[i].Body) {
						want++
					}
				}
				got := 0
				res, err := s.Query(context.Background(), Query{Tenant: "t1", Filters: []Filter{f}}, func(*model.Event) bool { got++; return true })
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Fatalf("%s: filter %+v: %d rows, scan finds %d", stage, f, got, want)
				}
				skipped += res.Stats.BlocksBloom
			}
		}
		return skipped
	}
	if n := check("3 parts"); n == 0 {
		t.Fatal("no block skipped by any needle")
	}
	if _, err := s.merge(2, true); err != nil {
		t.Fatal(err)
	}
	if n := check("merged"); n == 0 {
		t.Fatal("no block skipped after the merge")
	}
}

// FuzzGramPrune: a block whose values match a substring or case-insensitive
// filter is never pruned by its bloom region.
func FuzzGramPrune(f *testing.F) {
	f.Add("request quixotry done\nother line", "xotr")
	f.Add("Über café", "ÜBER")
	f.Add("a=b_c9", "b_C")
	f.Fuzz(func(t *testing.T, text, needle string) {
		vals := strings.Split(text, "\n")
		region := gramRegion(vals)
		if region == nil {
			return
		}
		fs := []Filter{{Op: OpSubstring, Value: needle}, {Op: OpPhrase, Value: needle}}
		if utf8Valid(needle) {
			fs = append(fs, Filter{Op: OpRegex, Value: "(?i)" + regexp.QuoteMeta(needle)},
				Filter{Op: OpRegex, Value: "(?s)(?:quixotry)|(?:" + regexp.QuoteMeta(needle) + ")"})
		}
		for _, fl := range fs {
			cf, err := compileFilters([]Filter{fl})
			if err != nil {
				t.Fatal(err)
			}
			if slices.ContainsFunc(vals, cf[0].matchString) && !mayMatch(t, fl, region) {
				t.Fatalf("filter %+v pruned values %q", fl, vals)
			}
		}
	})
}

// FuzzBloomRegion decodes arbitrary bloom regions: an error or two usable
// filters, never a panic.
func FuzzBloomRegion(f *testing.F) {
	f.Add(gramRegion([]string{"hello world", "quixotry"}), uint64(7))
	f.Add(bloomBuild(nil, []uint64{1, 2}), uint64(1))
	f.Add([]byte{bloomComposite, 9, 1, 0, 0, 0, 0, 0, 0, 0, 0}, uint64(3))
	f.Fuzz(func(t *testing.T, b []byte, h uint64) {
		tok, gram, err := bloomSplit(b)
		if err != nil {
			if bloomCheck(b) == nil {
				t.Fatal("bloomCheck accepts what bloomSplit rejects")
			}
			return
		}
		bloomHas(tok, h)
		if gram != nil {
			bloomHas(gram, h)
		}
	})
}

// BenchmarkGramSet measures collecting a body column's trigrams (part of
// every flush and merge), next to its token hashes.
func BenchmarkGramSet(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	var vals []string
	size := 0
	for range 2000 {
		v := fmt.Sprintf("calling search GET /api/v1/search/suggest?q=shoes attempt=%d previous_error=timeout backoff_ms=%d user u-%06d",
			rng.IntN(5), rng.IntN(1000), rng.IntN(100000))
		vals = append(vals, v)
		size += len(v)
	}
	b.Run("trigrams", func(b *testing.B) {
		b.SetBytes(int64(size))
		var g gramSet
		var h []uint64
		for b.Loop() {
			for _, v := range vals {
				g.add(v)
			}
			h = g.appendHashes(h[:0])
		}
	})
	b.Run("tokens", func(b *testing.B) {
		b.SetBytes(int64(size))
		var h []uint64
		for b.Loop() {
			h = h[:0]
			for _, v := range vals {
				h = appendTokenHashes(h, v)
			}
			h = dedupHashes(h)
		}
	})
}
