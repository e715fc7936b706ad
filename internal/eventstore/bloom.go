package eventstore

import (
	"fmt"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// Bloom filters: one per block and string column, over the column's tokens
// (or over whole values for id columns). A filter is a sequence of 64-bit
// words; the k probe positions of a hash h are (h1 + i*h2) mod m with h1, h2
// the low and high halves of xxhash64(token). A column's bloom region may
// also carry a trigram filter after the token filter (ngram.go).

const (
	bloomBitsPerItem = 10
	bloomK           = 6
)

// bloomBuild appends a filter holding the given (deduplicated) hashes.
func bloomBuild(dst []byte, hashes []uint64) []byte {
	return bloomBuildK(dst, hashes, bloomBitsPerItem, bloomK)
}

// bloomBuildK appends a filter of bitsPerItem bits per hash and k probes.
func bloomBuildK(dst []byte, hashes []uint64, bitsPerItem, k int) []byte {
	words := (len(hashes)*bitsPerItem + 63) / 64
	words = max(words, 1)
	start := len(dst)
	dst = append(dst, byte(k))
	dst = append(dst, make([]byte, words*8)...)
	w := dst[start+1:]
	m := uint64(words * 64)
	for _, h := range hashes {
		h1, h2 := h&0xffffffff, h>>32|1
		for i := range uint64(k) {
			bit := (h1 + i*h2) % m
			w[bit>>3] |= 1 << (bit & 7)
		}
	}
	return dst
}

// bloomCheck validates a column's bloom region: one filter, or a token
// filter and a trigram filter (bloomSplit).
func bloomCheck(b []byte) error {
	_, _, err := bloomSplit(b)
	return err
}

// bloomCheckFilter validates one filter.
func bloomCheckFilter(b []byte) error {
	if len(b) < 9 || (len(b)-1)%8 != 0 || b[0] == 0 || b[0] > 16 {
		return fmt.Errorf("decode bloom filter: bad size %d or k", len(b))
	}
	return nil
}

// bloomHas reports whether h may be in the filter b (validated by
// bloomCheckFilter).
func bloomHas(b []byte, h uint64) bool {
	k := uint64(b[0])
	w := b[1:]
	m := uint64(len(w) * 8)
	h1, h2 := h&0xffffffff, h>>32|1
	for i := range k {
		bit := (h1 + i*h2) % m
		if w[bit>>3]&(1<<(bit&7)) == 0 {
			return false
		}
	}
	return true
}

func tokenHash(tok string) uint64 { return xxhash.Sum64String(tok) }

// isTokenByte: tokens are maximal runs of ASCII letters, digits and '_', and
// of any non-ASCII bytes (so UTF-8 words stay whole).
var isTokenByte = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c >= 0x80
	}
	return t
}()

// forEachToken calls fn for each token of s.
func forEachToken(s string, fn func(tok string)) {
	i := 0
	for i < len(s) {
		for i < len(s) && !isTokenByte[s[i]] {
			i++
		}
		j := i
		for j < len(s) && isTokenByte[s[j]] {
			j++
		}
		if j > i {
			fn(s[i:j])
		}
		i = j
	}
}

// appendTokenHashes appends the hashes of s's tokens.
func appendTokenHashes(dst []uint64, s string) []uint64 {
	forEachToken(s, func(tok string) { dst = append(dst, tokenHash(tok)) })
	return dst
}

// dedupHashes sorts and deduplicates in place.
func dedupHashes(h []uint64) []uint64 {
	slices.Sort(h)
	return slices.Compact(h)
}

// hashSet deduplicates hashes without sorting them: a bloom filter's bits
// do not depend on the order its hashes are added, only on which distinct
// hashes there are. Not safe for concurrent use; reused across blocks.
type hashSet struct {
	slots []uint64 // open addressing, linear probing; 0 marks a free slot
}

// dedup removes duplicates from h in place, keeping first occurrences in
// order, and returns the shortened slice.
func (s *hashSet) dedup(h []uint64) []uint64 {
	size := 1024
	for size < len(h)/2 {
		size *= 2
	}
	s.reset(size)
	out, zero := h[:0], false
	mask := uint64(len(s.slots) - 1)
	for _, x := range h {
		if x == 0 { // 0 marks free slots, so it is tracked apart
			if !zero {
				zero = true
				out = append(out, x)
			}
			continue
		}
		i := x & mask
		for {
			v := s.slots[i]
			if v == x {
				break
			}
			if v == 0 {
				s.slots[i] = x
				out = append(out, x)
				if 2*len(out) > len(s.slots) {
					s.grow(out)
					mask = uint64(len(s.slots) - 1)
				}
				break
			}
			i = (i + 1) & mask
		}
	}
	return out
}

func (s *hashSet) reset(size int) {
	if cap(s.slots) < size {
		s.slots = make([]uint64, size)
		return
	}
	s.slots = s.slots[:size]
	clear(s.slots)
}

// grow doubles the table and re-inserts the distinct hashes kept so far.
func (s *hashSet) grow(kept []uint64) {
	s.reset(2 * len(s.slots))
	mask := uint64(len(s.slots) - 1)
	for _, x := range kept {
		if x == 0 {
			continue
		}
		i := x & mask
		for s.slots[i] != 0 {
			i = (i + 1) & mask
		}
		s.slots[i] = x
	}
}

// idHash hashes a fixed-width id value for the exact-value filters.
func idHash(b []byte) uint64 { return xxhash.Sum64(b) }
