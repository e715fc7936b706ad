package eventstore

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// reviewRegexes are regexps whose literal extraction has traps: case
// folding to non-ASCII runes (K/k/U+212A, s/S/U+017F), (?s), empty
// alternatives, anchors, literals spanning token boundaries, repeats and
// classes the parser turns into folded literals.
var reviewRegexes = []string{
	`(?i)kelvin`, `(?i)KELVIN`, `(?i)ask`, `(?i)mask_ok`, `(?i)sss`, `(?i)abc`, `(?i)a1b2c3`,
	`(?i)\x{212A}elvin`, `\x{212A}elvin`, `(?i)\x{17F}top`, `(?i)ſtop`,
	`(?s)err.r\nfoo`, `(?s)a.c`, `^abc`, `abc$`, `(?m)^abc$`, `\babc\b`,
	`foo|`, `|foo`, `(foo|)bar`, `(?:foo|bar)`, `foo|bar|baz`, `(?i)foo|BAR`, `foo|(?i)bar`,
	`abc|ab`, `a(?:bc|bd)e`, `(abc)+`, `(abc){2}`, `(abc){0,2}x`, `(abc)?xyz`, `x*abcd`,
	`o w`, `lo wo`, `a=b_c`, `[Aa][Bb][Cc]`, `[Kk]elvin`, `[Ss]top`, `(?i)[k]elvin`,
	`café`, `(?i)café`, `(?i)CAFÉ`, `é+abc`, `\x{FFFD}abc`, `abc\x{FFFD}`, `(?U)ab+c`,
	`(?i:ab)cd`, `ab(?i:cd)`, `(?i)s(?-i)top`, `\Qa.b\E`, `a\.b\.c`, `ελλάδα`, `(?i)ΕΛΛΆΔΑ`,
}

var reviewAlpha = []string{"a", "b", "c", "d", "e", "A", "B", "C", "k", "K", "\u212a", "s", "S", "\u017f",
	"t", "o", "p", "l", "v", "i", "n", "m", "x", "y", "z", "f", "r", "_", "1", "2", "3", " ", "=", ".", "\n",
	"é", "É", "\ufffd", "\xff", "ε", "λ", "ά", "δ", "α", "Ε", "Λ", "Ά", "Δ", "Α"}

// reviewValue makes a value that often contains pieces of the regexp's
// text (so matches happen) mixed with random alphabet bytes.
func reviewValue(rng *rand.Rand, seed string) string {
	var sb strings.Builder
	for range 1 + rng.IntN(6) {
		switch rng.IntN(4) {
		case 0:
			sb.WriteString(reviewAlpha[rng.IntN(len(reviewAlpha))])
		case 1:
			// A variant of the seed with random case and fold substitutions.
			for _, r := range seed {
				switch {
				case r == 'k' || r == 'K':
					r = []rune{'k', 'K', '\u212a'}[rng.IntN(3)]
				case r == 's' || r == 'S':
					r = []rune{'s', 'S', '\u017f'}[rng.IntN(3)]
				case rng.IntN(2) == 0:
					r = []rune(strings.ToUpper(string(r)))[0]
				}
				sb.WriteRune(r)
			}
		default:
			sb.WriteString(seed)
		}
	}
	return sb.String()
}

// reviewSeeds strips regexp syntax to get text a match may contain.
func reviewSeeds(re string) []string {
	repl := strings.NewReplacer(`(?i)`, "", `(?s)`, "", `(?m)`, "", `(?U)`, "", `(?:`, "", `(?i:`, "", `(?-i)`, "",
		`\x{212A}`, "\u212a", `\x{17F}`, "\u017f", `\x{FFFD}`, "\ufffd", `\b`, " ", `\Q`, "", `\E`, "", `\.`, ".",
		`\n`, "\n", "(", "", ")", "", "^", "", "$", "", "+", "", "*", "", "?", "", "{2}", "", "{0,2}", "",
		"[Aa]", "a", "[Bb]", "B", "[Cc]", "c", "[Kk]", "K", "[Ss]", "s", "[k]", "k", ".", "x")
	return strings.Split(repl.Replace(re), "|")
}

// TestReviewRegexPruneVsStdlib checks trigram pruning, the literal
// prefilter (containsLit) and the column literal scan (litHits) against
// Go's own regexp package, not against cfilter.matchString (which runs the
// prefilter itself and so cannot catch a wrong literal).
func TestReviewRegexPruneVsStdlib(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	matched, pruned := 0, 0
	for _, expr := range reviewRegexes {
		std := regexp.MustCompile(expr)
		cf, err := compileFilters([]Filter{{Op: OpRegex, Value: expr}})
		if err != nil {
			t.Fatal(err)
		}
		f := cf[0]
		seeds := reviewSeeds(expr)
		for range 300 {
			vals := make([]string, 1+rng.IntN(8))
			for i := range vals {
				vals[i] = reviewValue(rng, seeds[rng.IntN(len(seeds))])
			}
			any := false
			for _, v := range vals {
				m := std.MatchString(v)
				any = any || m
				if m {
					matched++
				}
				if m && !f.containsLit(v) {
					t.Fatalf("%q: prefilter literal %q (fold %v) rejects matching value %q", expr, f.lit, f.litFold, v)
				}
				if m != f.matchString(v) {
					t.Fatalf("%q: matchString(%q) = %v, regexp says %v", expr, v, !m, m)
				}
			}
			if region := gramRegion(vals); region != nil && !mayMatch(t, Filter{Op: OpRegex, Value: expr}, region) {
				if any {
					t.Fatalf("%q: block pruned though it holds a match; values %q", expr, vals)
				}
				pruned++
			}
			if f.lit != "" {
				c := reviewPlainColumn(vals)
				hits := make([]uint64, (len(c.off)+63)/64)
				c.litHits(f, hits, nil)
				for k, v := range vals {
					if std.MatchString(v) && hits[k>>6]&(1<<(k&63)) == 0 {
						t.Fatalf("%q: litHits misses value %d %q (literal %q fold %v); values %q", expr, k, v, f.lit, f.litFold, vals)
					}
				}
			}
		}
	}
	t.Logf("%d matching values, %d blocks pruned", matched, pruned)
	if matched < 1000 || pruned < 30 {
		t.Fatalf("too few matches (%d) or pruned blocks (%d) for the check to mean anything", matched, pruned)
	}
}

// reviewPlainColumn lays values out as a decoded plain string column.
func reviewPlainColumn(vals []string) *colData {
	c := &colData{off: make([]uint32, len(vals)+1)}
	for i, v := range vals {
		c.bytes = append(c.bytes, v...)
		c.off[i+1] = uint32(len(c.bytes))
	}
	return c
}

// FuzzReviewRegexVsStdlib: for any valid pattern and values, a value Go's
// regexp matches passes the literal prefilter and the literal column scan,
// and a block holding one is never pruned by its trigram filter.
func FuzzReviewRegexVsStdlib(f *testing.F) {
	for i, re := range reviewRegexes {
		f.Add(re, reviewValue(rand.New(rand.NewPCG(uint64(i), 1)), reviewSeeds(re)[0]), "x y z")
	}
	f.Fuzz(func(t *testing.T, expr, v1, v2 string) {
		std, err := regexp.Compile(expr)
		if err != nil || len(expr) > 64 {
			return
		}
		cf, err := compileFilters([]Filter{{Op: OpRegex, Value: expr}})
		if err != nil {
			t.Fatalf("stdlib compiles %q, compileFilters fails: %v", expr, err)
		}
		f := cf[0]
		vals := []string{v1, v2}
		any := false
		for _, v := range vals {
			if !std.MatchString(v) {
				continue
			}
			any = true
			if !f.containsLit(v) || !f.matchString(v) {
				t.Fatalf("%q: value %q matches but the filter (literal %q fold %v) rejects it", expr, v, f.lit, f.litFold)
			}
		}
		if region := gramRegion(vals); region != nil && any && !mayMatch(t, Filter{Op: OpRegex, Value: expr}, region) {
			t.Fatalf("%q: block pruned though it holds a match; values %q", expr, vals)
		}
		if f.lit != "" {
			c := reviewPlainColumn(vals)
			hits := make([]uint64, 1)
			c.litHits(f, hits, nil)
			for k, v := range vals {
				if std.MatchString(v) && hits[0]&(1<<k) == 0 {
					t.Fatalf("%q: litHits misses value %d %q (literal %q fold %v)", expr, k, v, f.lit, f.litFold)
				}
			}
		}
	})
}
