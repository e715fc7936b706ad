package eventstore

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"
	"github.com/sightline/sightline/internal/model"
)

// Trigram filters let substring searches (LogQL |=, regexps and phrases
// with a required literal) skip blocks. A needle can sit inside a longer
// token, so the token bloom cannot rule a block out for it; but every
// trigram of the needle's token runs must occur in a value that contains
// the needle, so a block whose trigram filter misses one of them holds no
// match.
//
// Trigrams are taken inside tokens only (maximal runs of token bytes, see
// isTokenByte), over a mapped alphabet: ASCII letters lower-cased, digits
// and '_' as they are, every byte >= 0x80 as 0x80. Lower-casing serves
// case-insensitive literals too; a case-sensitive needle is checked with
// its lower-cased trigrams, which only makes the filter less selective.
//
// The trigram filter follows the token filter in the column's bloom region
// (see bloomSplit), so whatever copies a column's bloom bytes carries both.

const (
	gramBitsPerItem = 3
	gramK           = 2
	// bloomComposite opens a bloom region holding a token filter followed
	// by a trigram filter (a plain filter opens with its k, 1..16).
	bloomComposite = 0x80
)

// gramCode numbers the bytes of the mapped alphabet 1..38 (0: not a token
// byte), so a trigram fits in 18 bits for deduplication.
var gramCode = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case c >= 'a' && c <= 'z':
			t[c] = uint8(c-'a') + 1
		case c >= 'A' && c <= 'Z':
			t[c] = uint8(c-'A') + 1
		case c >= '0' && c <= '9':
			t[c] = uint8(c-'0') + 27
		case c == '_':
			t[c] = 37
		case c >= 0x80:
			t[c] = 38
		}
	}
	return t
}()

// gramByte is the mapped byte of each code.
var gramByte = func() (t [39]byte) {
	for c := 255; c >= 0; c-- { // lower-case letters win over upper-case
		if code := gramCode[c]; code != 0 {
			t[code] = lowerTable[c]
		}
	}
	t[38] = 0x80
	return t
}()

const gramKeyMask = 1<<18 - 1

// gramHash hashes a trigram key (three 6-bit codes, first byte highest):
// XXH64 of the three mapped bytes.
func gramHash(key uint32) uint64 {
	b := [3]byte{gramByte[key>>12], gramByte[key>>6&63], gramByte[key&63]}
	return xxhash.Sum64(b[:])
}

// forEachGram calls fn with the key of every trigram inside s's tokens.
func forEachGram(s string, fn func(key uint32)) {
	var k uint32
	n := 0
	for i := 0; i < len(s); i++ {
		c := gramCode[s[i]]
		if c == 0 {
			n = 0
			continue
		}
		k = (k<<6 | uint32(c)) & gramKeyMask
		if n++; n >= 3 {
			fn(k)
		}
	}
}

// gramSet collects the distinct trigrams of a column's values. Not safe
// for concurrent use.
type gramSet struct {
	seen []uint64 // one bit per key
	keys []uint32
}

// add collects the trigrams of s. For speed it keeps the key of every
// position, including keys with a 0 code (a non-token byte, or a position
// before s's start); appendHashes drops those.
func (g *gramSet) add(s string) {
	if g.seen == nil {
		g.seen = make([]uint64, (gramKeyMask+1)/64)
	}
	seen := g.seen
	var k uint32
	for i := 0; i < len(s); i++ {
		k = (k<<6 | uint32(gramCode[s[i]])) & gramKeyMask
		if seen[k>>6]&(1<<(k&63)) == 0 {
			seen[k>>6] |= 1 << (k & 63)
			g.keys = append(g.keys, k)
		}
	}
}

// addTokens is add and appendTokenHashes in one scan of s: it collects
// s's trigrams and appends the hashes of its tokens to dst. Token bytes are
// exactly the bytes with a nonzero gramCode.
func (g *gramSet) addTokens(dst []uint64, s string) []uint64 {
	if g.seen == nil {
		g.seen = make([]uint64, (gramKeyMask+1)/64)
	}
	seen := g.seen
	var k uint32
	start := -1
	for i := 0; i < len(s); i++ {
		c := gramCode[s[i]]
		k = (k<<6 | uint32(c)) & gramKeyMask
		if seen[k>>6]&(1<<(k&63)) == 0 {
			seen[k>>6] |= 1 << (k & 63)
			g.keys = append(g.keys, k)
		}
		if c != 0 {
			if start < 0 {
				start = i
			}
		} else if start >= 0 {
			dst = append(dst, tokenHash(s[start:i]))
			start = -1
		}
	}
	if start >= 0 {
		dst = append(dst, tokenHash(s[start:]))
	}
	return dst
}

// appendHashes appends the hashes of the collected trigrams and empties
// the set.
func (g *gramSet) appendHashes(dst []uint64) []uint64 {
	for _, k := range g.keys {
		g.seen[k>>6] &^= 1 << (k & 63)
		if k>>12 != 0 && k>>6&63 != 0 && k&63 != 0 {
			dst = append(dst, gramHash(k))
		}
	}
	g.keys = g.keys[:0]
	return dst
}

// gramHashes returns the distinct trigram hashes every value containing
// lit holds (nil when lit has no token run of three bytes).
func gramHashes(lit string) []uint64 {
	var out []uint64
	var keys []uint32
	forEachGram(lit, func(k uint32) {
		for _, x := range keys {
			if x == k {
				return
			}
		}
		keys = append(keys, k)
		out = append(out, gramHash(k))
	})
	return out
}

// bloomHasAll reports whether every hash may be in the filter b.
func bloomHasAll(b []byte, hashes []uint64) bool {
	for _, h := range hashes {
		if !bloomHas(b, h) {
			return false
		}
	}
	return true
}

// gramColumn reports whether a column gets a trigram filter: the body of
// logs and spans, when stored plain (const and dict columns are matched
// against their header values).
func gramColumn(name string, typ colType, enc colEnc) bool {
	return name == model.FieldBody && typ == ctString && enc == encPlain
}

// bloomAppendComposite appends a bloom region holding the token filter tok
// followed by a trigram filter of grams.
func bloomAppendComposite(dst, tok []byte, grams []uint64) []byte {
	dst = append(dst, bloomComposite)
	dst = binary.AppendUvarint(dst, uint64(len(tok)))
	dst = append(dst, tok...)
	return bloomBuildK(dst, grams, gramBitsPerItem, gramK)
}

// bloomSplit splits a column's bloom region into its token filter and its
// trigram filter (nil when the region has none, as in parts written before
// trigram filters existed). Both are validated.
func bloomSplit(b []byte) (tok, gram []byte, err error) {
	if len(b) == 0 || b[0] != bloomComposite {
		return b, nil, bloomCheckFilter(b)
	}
	n, w := binary.Uvarint(b[1:])
	if w <= 0 || n > uint64(len(b)-1-w) {
		return nil, nil, fmt.Errorf("decode bloom region: bad token filter length")
	}
	tok, gram = b[1+w:1+w+int(n)], b[1+w+int(n):]
	if err := bloomCheckFilter(tok); err != nil {
		return nil, nil, err
	}
	if err := bloomCheckFilter(gram); err != nil {
		return nil, nil, err
	}
	return tok, gram, nil
}
