package eventstore

import (
	"encoding/binary"
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// A literal prefilter lets string filters reject rows with a substring
// search before the exact check runs: every value a filter matches contains
// the filter's literal (lit), so a column's rows can be screened with one
// search pass over its whole plain-encoded data instead of running a
// regexp on each row. fold means the literal is lower-case ASCII to be
// found case-insensitively (from (?i) regexps); exact means containing the
// literal is the whole test (substring filters).

// minPrefilterLen is the shortest literal worth a prefilter pass.
const minPrefilterLen = 2

// setPrefilter fills f.lit, f.litFold and f.litExact for the operations
// that have a required literal.
func (f *cfilter) setPrefilter() {
	switch f.Op {
	case OpSubstring:
		f.lit, f.litExact = f.Value, true
	case OpPhrase:
		f.lit = f.Value
	case OpRegex:
		if re, err := syntax.Parse(f.Value, syntax.Perl); err == nil {
			re = re.Simplify()
			f.lit, f.litFold = requiredLiteral(re)
			if f.lit == "" {
				f.setGramAlts(requiredAlternatives(re))
			}
		}
	}
	if len(f.lit) < minPrefilterLen {
		f.lit, f.litFold, f.litExact = "", false, false
	}
	f.grams = gramHashes(f.lit)
}

// setGramAlts sets f.gramAlts to the trigrams of each alternative literal,
// or to nil when one alternative has no trigram (it cannot rule a block out).
func (f *cfilter) setGramAlts(alts []string) {
	f.gramAlts = nil
	for _, a := range alts {
		g := gramHashes(a)
		if len(g) == 0 {
			f.gramAlts = nil
			return
		}
		f.gramAlts = append(f.gramAlts, g)
	}
}

// requiredAlternatives returns literals such that every match of re
// contains at least one of them, for a top-level alternation whose every
// branch has a required literal (LogQL |= "a" or "b"); nil otherwise.
// Folded literals are lower-case ASCII, which trigrams ignore the case of.
func requiredAlternatives(re *syntax.Regexp) []string {
	for re.Op == syntax.OpCapture {
		re = re.Sub[0]
	}
	if re.Op != syntax.OpAlternate {
		return nil
	}
	out := make([]string, 0, len(re.Sub))
	for _, sub := range re.Sub {
		l, _ := requiredLiteral(sub)
		if l == "" {
			return nil
		}
		out = append(out, l)
	}
	return out
}

// requiredLiteral returns the longest literal string every match of re
// must contain ("" when it finds none). fold reports that the literal
// comes from a case-insensitive part of re: it is then lower-case ASCII
// without the letters k and s, whose case folds include non-ASCII runes
// (U+212A KELVIN SIGN, U+017F LONG S) that ASCII folding would miss.
func requiredLiteral(re *syntax.Regexp) (lit string, fold bool) {
	switch re.Op {
	case syntax.OpLiteral:
		return literalOf(re.Rune, re.Flags&syntax.FoldCase != 0)
	case syntax.OpCapture, syntax.OpPlus:
		return requiredLiteral(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return requiredLiteral(re.Sub[0])
		}
	case syntax.OpConcat:
		better := func(l string, f bool) {
			// Prefer case-sensitive literals; among equals, the longer.
			if l != "" && (lit == "" || (fold && !f) || (fold == f && len(l) > len(lit))) {
				lit, fold = l, f
			}
		}
		// Runs of adjacent literal runes with the same case sensitivity
		// join into one literal.
		var run []rune
		runFold := false
		flush := func() {
			if len(run) > 0 {
				better(literalOf(run, runFold))
				run = run[:0]
			}
		}
		for _, sub := range re.Sub {
			if sub.Op == syntax.OpLiteral {
				f := sub.Flags&syntax.FoldCase != 0
				if len(run) > 0 && f != runFold {
					flush()
				}
				run, runFold = append(run, sub.Rune...), f
				continue
			}
			flush()
			better(requiredLiteral(sub))
		}
		flush()
	}
	return lit, fold
}

// literalOf returns runes as a searchable literal: the whole string when
// case-sensitive; when folded, the longest piece that is ASCII and free of
// k and s, lower-cased. U+FFFD is never part of a literal (a regexp matches
// it against invalid UTF-8 bytes).
func literalOf(runes []rune, fold bool) (string, bool) {
	var best, cur []byte
	end := func() {
		if len(cur) > len(best) {
			best = append(best[:0], cur...)
		}
		cur = cur[:0]
	}
	for _, r := range runes {
		switch {
		case r == utf8.RuneError:
			end()
		case !fold:
			cur = utf8.AppendRune(cur, r)
		case r >= utf8.RuneSelf:
			end()
		default:
			c := lowerASCII(byte(r))
			if c == 'k' || c == 's' {
				end()
				continue
			}
			cur = append(cur, c)
		}
	}
	end()
	return string(best), fold && len(best) > 0
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// lowerASCIIInto writes b with ASCII letters lower-cased to dst (resized).
func lowerASCIIInto(dst, b []byte) []byte {
	if cap(dst) < len(b) {
		dst = make([]byte, len(b))
	}
	dst = dst[:len(b)]
	i := 0
	// Eight bytes at a time: a byte gets 0x20 added when it is in 'A'..'Z'
	// (high bit clear, >= 'A' and not > 'Z'); no carries cross bytes.
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		low7 := w & 0x7f7f7f7f7f7f7f7f
		geA := low7 + 0x3f3f3f3f3f3f3f3f // high bit set where low7 >= 'A' (0x41)
		gtZ := low7 + 0x2525252525252525 // high bit set where low7 > 'Z' (0x5a)
		upper := (geA &^ gtZ) &^ w & 0x8080808080808080
		binary.LittleEndian.PutUint64(dst[i:], w|upper>>2)
	}
	for ; i < len(b); i++ {
		dst[i] = lowerTable[b[i]]
	}
	return dst
}

var lowerTable = func() (t [256]byte) {
	for i := range t {
		t[i] = lowerASCII(byte(i))
	}
	return t
}()

// containsLit reports whether s contains f's literal (true without one).
func (f *cfilter) containsLit(s string) bool {
	if f.lit == "" {
		return true
	}
	if !f.litFold {
		return strings.Contains(s, f.lit)
	}
	return containsFoldASCII(s, f.lit)
}

// containsFoldASCII reports whether s contains lit (lower-case ASCII)
// ignoring ASCII case.
func containsFoldASCII(s, lit string) bool {
	c0 := lit[0]
	u0 := c0
	if 'a' <= c0 && c0 <= 'z' {
		u0 = c0 - ('a' - 'A')
	}
	for i := 0; i+len(lit) <= len(s); i++ {
		if c := s[i]; c != c0 && c != u0 {
			continue
		}
		j := 1
		for j < len(lit) && lowerTable[s[i+j]] == lit[j] {
			j++
		}
		if j == len(lit) {
			return true
		}
	}
	return false
}

// litHits marks in hits (one bit per stored value, sized by the caller) the
// values of a plain string column that contain f's literal, with one
// search pass over the column's concatenated values (litsearch.go). A
// case-insensitive literal made only of letters is searched in a
// lower-cased copy kept in scratch; the (possibly grown) scratch is
// returned.
func (c *colData) litHits(f *cfilter, hits []uint64, scratch []byte) []byte {
	data := c.bytes
	ls := newLitSearcher(f.lit, f.litFold)
	if ls.needsLower() {
		scratch = lowerASCIIInto(scratch, data)
		data = scratch
	}
	lit := f.lit
	off := c.off
	k := 0
	for pos := 0; pos+len(lit) <= len(data); {
		i := ls.index(data, pos)
		if i < 0 {
			break
		}
		// The value holding the hit's first byte.
		for off[k+1] <= uint32(i) {
			k++
		}
		if i+len(lit) <= int(off[k+1]) {
			hits[k>>6] |= 1 << (k & 63)
			// One hit per value is enough: go on with the next value.
			pos = int(off[k+1])
			k++
			if k >= len(off)-1 {
				break
			}
			continue
		}
		// The hit spans two values: search again from its next byte.
		pos = i + 1
	}
	return scratch
}
