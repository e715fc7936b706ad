package eventstore

import (
	"encoding/binary"
	"regexp/syntax"
	"slices"
	"strings"
	"testing"

	"github.com/grafana/regexp"
)

func TestRequiredLiteral(t *testing.T) {
	for _, tc := range []struct {
		re   string
		lit  string
		fold bool
	}{
		{`timeout after \d+ms for sku-9{6}`, "timeout after ", false},
		{`error`, "error", false},
		{`^GET /api/(users|items)/\d+$`, "GET /api/", false},
		{`(connection refused)+`, "connection refused", false},
		{`a(bcdef)?g`, "a", false}, // optional groups are not required
		{`(?:abc){2,}x`, "abc", false},
		{`(?i)TIMEOUT after`, "timeout after", true},
		{`(?i)sku-12`, "u-12", true},   // k and s fold to non-ASCII runes
		{`(?i)ab(?-i)Zq`, "Zq", false}, // case-sensitive preferred
		{`x*|yyy`, "", false},          // alternation: nothing required
		{`.*`, "", false},
		{`caf\x{e9} ol\x{e9}`, "café olé", false}, // non-ASCII literal kept
		{`(?i)caf\x{e9}`, "caf", true},            // folded non-ASCII dropped
		{"a\uFFFDbcd", "bcd", false},              // U+FFFD matches invalid bytes
	} {
		re, err := syntax.Parse(tc.re, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		lit, fold := requiredLiteral(re.Simplify())
		if lit != tc.lit || fold != tc.fold {
			t.Errorf("%q: got %q fold=%v, want %q fold=%v", tc.re, lit, fold, tc.lit, tc.fold)
		}
	}
}

// The prefilter must never reject a value the regexp matches.
func TestPrefilterAgreesWithRegexp(t *testing.T) {
	values := []string{
		"", "timeout after 12ms for sku-999999", "TIMEOUT AFTER 1ms FOR SKU-999999",
		"timeout after", "Timeout After 5ms", "sku-1", "\u212Au-12", "\u017Fku-12", "SKU-12",
		"GET /api/users/17", "get /api/users/17", "café olé", "CAFÉ", "caf\xff", "a\xffbcd",
		"connection refused", "abcabcx", "abcx",
	}
	for _, expr := range []string{
		`timeout after \d+ms for sku-9{6}`, `(?i)TIMEOUT after`, `(?i)sku-12`, `(?i)timeout after \d+ms`,
		`^GET /api/(users|items)/\d+$`, `(?i)café`, "a\uFFFDbcd", `(?:abc){2,}x`, `(?i)AFTER \d`,
	} {
		f := &cfilter{Filter: Filter{Op: OpRegex, Value: expr}, re: regexp.MustCompile(expr)}
		f.setPrefilter()
		for _, v := range values {
			want := f.re.MatchString(v)
			if want && !f.containsLit(v) {
				t.Errorf("%q: literal %q (fold %v) rejects matching %q", expr, f.lit, f.litFold, v)
			}
			if got := f.matchString(v); got != want {
				t.Errorf("%q on %q: matchString %v, regexp %v", expr, v, got, want)
			}
		}
		// The whole-column pass agrees with per-value checks.
		c := plainColumn(values)
		hits := make([]uint64, (len(values)+63)/64)
		if f.lit != "" {
			c.litHits(f, hits, nil)
		}
		for k, v := range values {
			has := f.lit == "" || hits[k>>6]&(1<<(k&63)) != 0
			if has != f.containsLit(v) {
				t.Errorf("%q: litHits says %v for %q, containsLit %v", expr, has, v, !has)
			}
		}
	}
}

// plainColumn builds the decoded form of a plain string column.
func plainColumn(values []string) *colData {
	c := &colData{h: &columnHeader{typ: ctString, enc: encPlain}, off: make([]uint32, len(values)+1)}
	for i, v := range values {
		c.bytes = append(c.bytes, v...)
		c.off[i+1] = uint32(len(c.bytes))
	}
	return c
}

func TestLitHitsBoundaries(t *testing.T) {
	// "ab" spans values 0 and 1 and 3 and 4; only value 2 and 5 contain it.
	values := []string{"xa", "bx", "zabz", "a", "b", "ab", "", "aab"}
	f := &cfilter{Filter: Filter{Op: OpSubstring, Value: "ab"}}
	f.setPrefilter()
	c := plainColumn(values)
	hits := make([]uint64, 1)
	c.litHits(f, hits, nil)
	var got []int
	for k := range values {
		if hits[0]&(1<<k) != 0 {
			got = append(got, k)
		}
	}
	if want := []int{2, 5, 7}; !slices.Equal(got, want) {
		t.Fatalf("hits %v, want %v", got, want)
	}
}

func TestContainsFoldASCII(t *testing.T) {
	for _, tc := range []struct {
		s, lit string
		want   bool
	}{
		{"Connection REFUSED here", "refused", true},
		{"refuse", "refused", false},
		{"", "ab", false},
		{"xxAB", "ab", true},
		{"a-b A-B", "a-b", true},
	} {
		if got := containsFoldASCII(tc.s, tc.lit); got != tc.want {
			t.Errorf("containsFoldASCII(%q, %q) = %v", tc.s, tc.lit, got)
		}
		if got := strings.Contains(strings.ToLower(tc.s), tc.lit); got != tc.want {
			t.Errorf("test case %q/%q is wrong", tc.s, tc.lit)
		}
	}
}

// FuzzPrefilter checks that the literal prefilter and the whole-column pass
// never reject a value the regexp matches.
func FuzzPrefilter(f *testing.F) {
	f.Add(`(?i)timeout after \d+`, "x TIMEOUT AFTER 5", "timeout")
	f.Add(`ab+c`, "abbbc", "ac")
	f.Fuzz(func(t *testing.T, expr, a, b string) {
		re, err := regexp.Compile(expr)
		if err != nil {
			return
		}
		cf := &cfilter{Filter: Filter{Op: OpRegex, Value: expr}, re: re}
		cf.setPrefilter()
		values := []string{a, b, a + b, string(binary.AppendUvarint([]byte(b), uint64(len(a))))}
		c := plainColumn(values)
		hits := make([]uint64, 1)
		if cf.lit != "" {
			c.litHits(cf, hits, nil)
		}
		for k, v := range values {
			if !re.MatchString(v) {
				continue
			}
			if !cf.containsLit(v) {
				t.Fatalf("%q: literal %q (fold %v) rejects matching %q", expr, cf.lit, cf.litFold, v)
			}
			if cf.lit != "" && hits[0]&(1<<k) == 0 {
				t.Fatalf("%q: column pass rejects matching %q", expr, v)
			}
		}
	})
}

func TestLowerASCIIInto(t *testing.T) {
	var in []byte
	for c := range 256 {
		in = append(in, byte(c))
	}
	in = append(in, "Hello, WORLD! Ünïcödé ZAza@[`{"...)
	for start := range 9 { // every alignment of the 8-byte loop
		b := in[start:]
		got := lowerASCIIInto(nil, b)
		for i, c := range b {
			if got[i] != lowerASCII(c) {
				t.Fatalf("start %d byte %d (0x%02x): got 0x%02x, want 0x%02x", start, i, c, got[i], lowerASCII(c))
			}
		}
	}
}
