package ingest

import "bytes"

// WalkJSON calls fn for each bracket of a JSON text outside strings: the
// opening or closing byte ('{', '[', '}' or ']'), the nesting depth of the
// value it opens or closes (the root value is at depth 0) and its offset in
// b. It reads b once, allocates nothing and does not validate: on
// malformed input depths may be off, which only makes an estimate built on
// them wrong (the decoder that follows refuses the input).
func WalkJSON(b []byte, fn func(c byte, depth, off int)) {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			i = stringEnd(b, i+1)
		case '{', '[':
			fn(c, depth, i)
			depth++
		case '}', ']':
			depth--
			fn(c, depth, i)
		}
	}
}

// stringEnd returns the index of the quote closing the string whose
// contents start at i (len(b) when it is not closed): the first quote not
// escaped by an odd run of backslashes.
func stringEnd(b []byte, i int) int {
	for {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return len(b)
		}
		i += q
		bs := 0
		for j := i - 1; j >= 0 && b[j] == '\\'; j-- {
			bs++
		}
		if bs%2 == 0 {
			return i
		}
		i++
	}
}

// CountJSON counts the values opened by c ('{' for objects, '[' for
// arrays) at the given nesting depth of a JSON text (WalkJSON): for
// example the objects of a top-level array are at depth 1.
func CountJSON(b []byte, c byte, depth int) int {
	n := 0
	WalkJSON(b, func(x byte, d, _ int) {
		if x == c && d == depth {
			n++
		}
	})
	return n
}
