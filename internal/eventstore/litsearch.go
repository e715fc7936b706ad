package eventstore

import "bytes"

// Literal search over a block's concatenated string values. bytes.Index
// scans for the literal's first byte, which in log text is often one of
// the most frequent letters ('e', 's', ' '), so it stops at nearly every
// other byte to compare. litSearcher instead scans for the literal's
// rarest byte (by a static ranking of byte frequencies in log text) and
// compares around each hit; when that byte turns out to be common in the
// data anyway, it hands the rest to bytes.Index, whose own fallback is
// linear. The case-insensitive form looks for a byte without case (digit,
// punctuation) when the literal has one, and otherwise compares a
// lower-cased copy.

// byteRank orders bytes by how often they occur in log lines: higher is
// more frequent. Built from broad classes (lower-case letters in rough
// English frequency order, the space, digits, separators common in
// structured logs, then upper case and rarer punctuation) rather than from
// one corpus, so no data set is favoured.
var byteRank = func() (r [256]uint8) {
	for c := range 256 {
		switch {
		case c >= 0x80:
			r[c] = 20 // UTF-8 continuation and lead bytes
		case c < 0x20:
			r[c] = 10 // control bytes; '\t' and '\n' set below
		default:
			r[c] = 30 // printable punctuation not listed below
		}
	}
	for c := 'A'; c <= 'Z'; c++ {
		r[c] = 60
	}
	for c := '0'; c <= '9'; c++ {
		r[c] = 120
	}
	// Lower-case letters from least to most frequent in English text.
	for i, c := range "zqxjkvbpygfwmucldrhsnioate" {
		r[c] = uint8(100 + 4*i)
	}
	for _, c := range `.:/-_="` {
		r[c] = 110
	}
	for _, c := range ",;()[]{}'" {
		r[c] = 70
	}
	r[' '] = 250
	r['\t'], r['\n'] = 40, 45
	return r
}()

// litSearcher finds one literal. The zero value is not usable; see
// newLitSearcher.
type litSearcher struct {
	lit  []byte // lower-case ASCII when fold
	fold bool
	// rare is the index in lit of the byte scanned for; -1 when fold and
	// every byte of lit is a letter (then the caller's data is lower-cased).
	rare int
}

// newLitSearcher prepares a search for lit (non-empty; lower-case ASCII
// when fold).
func newLitSearcher(lit string, fold bool) litSearcher {
	s := litSearcher{lit: []byte(lit), fold: fold, rare: -1}
	best := 256
	for i := 0; i < len(lit); i++ {
		c := lit[i]
		if fold && lowerTable[c] != upperOf(c) {
			continue // a letter: two bytes to look for
		}
		if r := int(byteRank[c]); r < best {
			best, s.rare = r, i
		}
	}
	return s
}

func upperOf(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// needsLower reports whether index must be given lower-cased data.
func (s *litSearcher) needsLower() bool { return s.fold && s.rare < 0 }

// index returns the offset of the first occurrence of the literal in data
// at or after from, or -1. With needsLower, data must be lower-cased.
func (s *litSearcher) index(data []byte, from int) int {
	lit, rare := s.lit, s.rare
	if rare < 0 {
		if i := bytes.Index(data[from:], lit); i >= 0 {
			return from + i
		}
		return -1
	}
	rb := lit[rare]
	fails := 0
	for pos := from; pos+len(lit) <= len(data); {
		// The rare byte of a match starting at or after pos.
		j := bytes.IndexByte(data[pos+rare:len(data)-len(lit)+rare+1], rb)
		if j < 0 {
			return -1
		}
		start := pos + j
		if s.equalAt(data, start) {
			return start
		}
		pos = start + 1
		// Too many false stops: the rare byte is common here. bytes.Index
		// is linear in the worst case; the folded compare stays O(n·m).
		if fails++; !s.fold && fails > 16+(pos-from)>>4 {
			if i := bytes.Index(data[pos:], lit); i >= 0 {
				return pos + i
			}
			return -1
		}
	}
	return -1
}

// equalAt reports whether the literal occurs in data at start (start +
// len(lit) ≤ len(data)).
func (s *litSearcher) equalAt(data []byte, start int) bool {
	w := data[start : start+len(s.lit)]
	if !s.fold {
		return bytes.Equal(w, s.lit)
	}
	for i, c := range s.lit {
		if lowerTable[w[i]] != c {
			return false
		}
	}
	return true
}
