package eventstore

import (
	"encoding/binary"
	"fmt"
)

// decBuf reads the primitive values of the on-disk headers; the first error
// sticks and later reads return zero values.
type decBuf struct {
	b   []byte
	err error
	// alias makes str and name return strings sharing the input's memory
	// (which must then stay unmodified while they live) instead of copies.
	alias bool
}

func (d *decBuf) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("decode %s: %w", what, errShort)
	}
}

func (d *decBuf) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decBuf) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decBuf) byte1(what string) byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail(what)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decBuf) u32(what string) uint32 {
	if d.err != nil || len(d.b) < 4 {
		d.fail(what)
		return 0
	}
	v := binary.LittleEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

func (d *decBuf) u64(what string) uint64 {
	if d.err != nil || len(d.b) < 8 {
		d.fail(what)
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

// bytes returns n bytes aliasing the input.
func (d *decBuf) bytes(n int, what string) []byte {
	if d.err != nil || n < 0 || len(d.b) < n {
		d.fail(what)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// str reads a uvarint-length-prefixed string, copied out of the input
// unless d.alias.
func (d *decBuf) str(what string) string {
	n := d.uvarint(what)
	if n > uint64(len(d.b)) {
		d.fail(what)
		return ""
	}
	if d.alias {
		return bytesToString(d.bytes(int(n), what))
	}
	return string(d.bytes(int(n), what))
}

// count reads a uvarint element count bounded by the bytes left (each element
// takes at least minBytes), so corrupt input cannot force huge allocations.
func (d *decBuf) count(minBytes int, what string) int {
	n := d.uvarint(what)
	if d.err == nil && n > uint64(len(d.b)/max(minBytes, 1)) {
		d.err = fmt.Errorf("decode %s: count %d exceeds input", what, n)
		return 0
	}
	return int(n)
}

func appendStr(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}
