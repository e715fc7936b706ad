package eventstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"unsafe"
)

// This file holds the column value codecs. Encoders append to dst and never
// fail; decoders validate everything and return an error on any input that
// was not produced by the matching encoder (they are fuzzed).

var errShort = errors.New("unexpected end of data")

// zigzag maps signed to unsigned so small negative deltas stay small.
func zigzag(v int64) uint64   { return uint64(v<<1) ^ uint64(v>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// packUints appends vals packed at width bits each, little-endian bit order.
func packUints(dst []byte, vals []uint64, width uint) []byte {
	if width == 0 {
		return dst
	}
	var acc uint64
	var n uint
	for _, v := range vals {
		acc |= v << n
		if n+width >= 64 {
			dst = binary.LittleEndian.AppendUint64(dst, acc)
			spill := n + width - 64
			if spill > 0 {
				acc = v >> (width - spill)
			} else {
				acc = 0
			}
			n = spill
		} else {
			n += width
		}
	}
	for n > 0 {
		dst = append(dst, byte(acc))
		acc >>= 8
		if n < 8 {
			break
		}
		n -= 8
	}
	return dst
}

func packedLen(count int, width uint) int { return (count*int(width) + 7) / 8 }

// unpackUints reads count values of width bits from src.
func unpackUints(dst []uint64, src []byte, count int, width uint) ([]uint64, error) {
	if width > 64 {
		return nil, fmt.Errorf("decode packed ints: width %d", width)
	}
	if len(src) < packedLen(count, width) {
		return nil, fmt.Errorf("decode packed ints: %w", errShort)
	}
	if width == 0 {
		for range count {
			dst = append(dst, 0)
		}
		return dst, nil
	}
	mask := uint64(1)<<width - 1
	if width == 64 {
		mask = ^uint64(0)
	}
	bitPos := uint(0)
	for range count {
		byteOff := bitPos / 8
		shift := bitPos % 8
		var w uint64
		if int(byteOff)+8 <= len(src) {
			w = binary.LittleEndian.Uint64(src[byteOff:])
		} else {
			var tmp [8]byte
			copy(tmp[:], src[byteOff:])
			w = binary.LittleEndian.Uint64(tmp[:])
		}
		v := w >> shift
		if shift+width > 64 {
			var hi byte
			if int(byteOff)+8 < len(src) {
				hi = src[byteOff+8]
			}
			v |= uint64(hi) << (64 - shift)
		}
		dst = append(dst, v&mask)
		bitPos += width
	}
	return dst, nil
}

const (
	intModeFOR      = 0 // values - min, packed
	intModeDelta    = 1 // first value, then zigzag(delta) - min delta, packed
	intModeFORGCD   = 2 // as intModeFOR, the packed values divided by their gcd
	intModeDeltaGCD = 3 // as intModeDelta, the packed values divided by their gcd
)

// gcdStep folds v into the running divisor g (g = 0 before any value).
func gcdStep(g, v uint64) uint64 {
	for v != 0 {
		g, v = v, g%v
	}
	return g
}

// encodeInts appends an int sequence: mode byte, base varint(s), optional
// divisor, width byte, packed values. It picks frame-of-reference or delta,
// whichever packs narrower; the packed values are divided by their common
// divisor when they have one (timestamps of millisecond precision, sizes in
// KiB), which cuts their width by the divisor's bits.
func encodeInts(dst []byte, vals []int64, scratch []uint64) ([]byte, []uint64) {
	if len(vals) == 0 {
		return append(dst, intModeFOR, 0, 0), scratch
	}
	lo, hi := vals[0], vals[0]
	for _, v := range vals {
		lo, hi = min(lo, v), max(hi, v)
	}
	// Delta of deltas against the smallest one.
	var dlo, dhi int64
	for i := 1; i < len(vals); i++ {
		d := vals[i] - vals[i-1]
		if i == 1 || d < dlo {
			dlo = d
		}
		if i == 1 || d > dhi {
			dhi = d
		}
	}
	// Common divisors of what each mode packs; unaligned data reaches 1
	// within the first values and stops there.
	var gFOR, gDelta uint64
	for i, v := range vals {
		if gFOR != 1 {
			gFOR = gcdStep(gFOR, uint64(v)-uint64(lo))
		}
		if i > 0 && gDelta != 1 {
			gDelta = gcdStep(gDelta, uint64(v-vals[i-1]-dlo))
		}
		if gFOR == 1 && gDelta == 1 {
			break
		}
	}
	gFOR, gDelta = max(gFOR, 1), max(gDelta, 1)
	forWidth := uint(bits.Len64((uint64(hi) - uint64(lo)) / gFOR))
	deltaWidth := uint(bits.Len64((uint64(dhi) - uint64(dlo)) / gDelta))
	scratch = scratch[:0]
	if len(vals) > 1 && deltaWidth < forWidth {
		for i := 1; i < len(vals); i++ {
			scratch = append(scratch, uint64(vals[i]-vals[i-1]-dlo)/gDelta)
		}
		if gDelta > 1 {
			dst = append(dst, intModeDeltaGCD)
		} else {
			dst = append(dst, intModeDelta)
		}
		dst = binary.AppendVarint(dst, vals[0])
		dst = binary.AppendVarint(dst, dlo)
		if gDelta > 1 {
			dst = binary.AppendUvarint(dst, gDelta)
		}
		dst = append(dst, byte(deltaWidth))
		return packUints(dst, scratch, deltaWidth), scratch
	}
	for _, v := range vals {
		scratch = append(scratch, (uint64(v)-uint64(lo))/gFOR)
	}
	if gFOR > 1 {
		dst = append(dst, intModeFORGCD)
	} else {
		dst = append(dst, intModeFOR)
	}
	dst = binary.AppendVarint(dst, lo)
	if gFOR > 1 {
		dst = binary.AppendUvarint(dst, gFOR)
	}
	dst = append(dst, byte(forWidth))
	return packUints(dst, scratch, forWidth), scratch
}

// readGCD reads the divisor of the gcd modes; 0 and 1 are refused (the
// encoder writes the plain modes then), so every byte string has one meaning.
func readGCD(src []byte) (uint64, []byte, error) {
	g, n := binary.Uvarint(src)
	if n <= 0 || g < 2 {
		return 0, nil, fmt.Errorf("decode ints: bad divisor")
	}
	return g, src[n:], nil
}

// decodeInts decodes count ints written by encodeInts.
func decodeInts(dst []int64, src []byte, count int) ([]int64, []byte, error) {
	if len(src) < 1 {
		return nil, nil, fmt.Errorf("decode ints: %w", errShort)
	}
	mode := src[0]
	src = src[1:]
	base, n := binary.Varint(src)
	if n <= 0 {
		return nil, nil, fmt.Errorf("decode ints: bad base")
	}
	src = src[n:]
	switch mode {
	case intModeFOR, intModeFORGCD:
		g := uint64(1)
		if mode == intModeFORGCD {
			var err error
			if g, src, err = readGCD(src); err != nil {
				return nil, nil, err
			}
		}
		if len(src) < 1 {
			return nil, nil, fmt.Errorf("decode ints: %w", errShort)
		}
		width := uint(src[0])
		src = src[1:]
		u, err := unpackUints(nil, src, count, width)
		if err != nil {
			return nil, nil, err
		}
		for _, v := range u {
			dst = append(dst, int64(uint64(base)+v*g))
		}
		return dst, src[packedLen(count, width):], nil
	case intModeDelta, intModeDeltaGCD:
		dlo, n := binary.Varint(src)
		if n <= 0 || len(src) < n+1 {
			return nil, nil, fmt.Errorf("decode ints: bad delta base")
		}
		src = src[n:]
		g := uint64(1)
		if mode == intModeDeltaGCD {
			var err error
			if g, src, err = readGCD(src); err != nil {
				return nil, nil, err
			}
			if len(src) < 1 {
				return nil, nil, fmt.Errorf("decode ints: %w", errShort)
			}
		}
		width := uint(src[0])
		src = src[1:]
		if count == 0 {
			return dst, src, nil
		}
		u, err := unpackUints(nil, src, count-1, width)
		if err != nil {
			return nil, nil, err
		}
		v := base
		dst = append(dst, v)
		for _, d := range u {
			v += int64(d*g) + dlo
			dst = append(dst, v)
		}
		return dst, src[packedLen(count-1, width):], nil
	}
	return nil, nil, fmt.Errorf("decode ints: unknown mode %d", mode)
}

// encodeStrings appends packed lengths then the concatenated bytes.
func encodeStrings(dst []byte, vals []string, scratch []int64, us []uint64) ([]byte, []int64, []uint64) {
	scratch = scratch[:0]
	for _, s := range vals {
		scratch = append(scratch, int64(len(s)))
	}
	dst, us = encodeInts(dst, scratch, us)
	for _, s := range vals {
		dst = append(dst, s...)
	}
	return dst, scratch, us
}

// decodeStrings decodes count strings; they alias src, which must not be
// modified afterwards.
func decodeStrings(dst []string, src []byte, count int) ([]string, []byte, error) {
	lens, rest, err := decodeInts(nil, src, count)
	if err != nil {
		return nil, nil, fmt.Errorf("decode strings: %w", err)
	}
	for _, l := range lens {
		if l < 0 || l > int64(len(rest)) {
			return nil, nil, fmt.Errorf("decode strings: length %d out of range", l)
		}
		dst = append(dst, bytesToString(rest[:l]))
		rest = rest[l:]
	}
	return dst, rest, nil
}

func bytesToString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// hexWidth reports whether every value is lowercase hex of one even length
// (2..64 digits) and returns the decoded width in bytes.
func hexWidth(vals []string) (int, bool) {
	if len(vals) == 0 {
		return 0, false
	}
	l := len(vals[0])
	if l == 0 || l%2 != 0 || l > 64 {
		return 0, false
	}
	for _, s := range vals {
		if len(s) != l {
			return 0, false
		}
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return 0, false
			}
		}
	}
	return l / 2, true
}

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'a' + 10
}

// encodeHex appends the binary form of lowercase hex strings (validated by
// hexWidth).
func encodeHex(dst []byte, vals []string) []byte {
	for _, s := range vals {
		for i := 0; i < len(s); i += 2 {
			dst = append(dst, unhex(s[i])<<4|unhex(s[i+1]))
		}
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// decodeHex turns count fixed-width binary values back into hex strings.
func decodeHex(dst []string, src []byte, count, width int) ([]string, []byte, error) {
	if width <= 0 || width > 32 || len(src) < count*width {
		return nil, nil, fmt.Errorf("decode hex column: %w", errShort)
	}
	buf := make([]byte, count*width*2)
	for i := range count * width {
		b := src[i]
		buf[2*i], buf[2*i+1] = hexDigits[b>>4], hexDigits[b&15]
	}
	for i := range count {
		dst = append(dst, bytesToString(buf[i*width*2:(i+1)*width*2]))
	}
	return dst, src[count*width:], nil
}

// Bitmaps: bit i of byte i/8.

func bitmapLen(n int) int            { return (n + 7) / 8 }
func bitmapGet(b []byte, i int) bool { return b[i>>3]&(1<<(i&7)) != 0 }
func bitmapSet(b []byte, i int)      { b[i>>3] |= 1 << (i & 7) }
func bitmapCount(b []byte, n int) (c int) {
	for i := 0; i < n/8; i++ {
		c += bits.OnesCount8(b[i])
	}
	for i := n &^ 7; i < n; i++ {
		if bitmapGet(b, i) {
			c++
		}
	}
	return c
}

// pow10 holds the powers of ten a decimal column may scale by; all are
// exact in float64.
var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12}

// maxDecimalMantissa bounds the scaled integers so they convert to float64
// exactly.
const maxDecimalMantissa = 1 << 53

// encodeDecimals appends float64 values (as IEEE-754 bits) written with few
// decimal digits — latencies like 7.027, prices, percentages — as an
// exponent byte e and ints(m) with v = m / 10^e, the smallest e for which
// every value comes back bit for bit. It reports false (and appends
// nothing) when no e ≤ 12 fits: NaN, infinities, -0, huge or long-fraction
// values, which stay 8 bytes each.
func encodeDecimals(dst []byte, bitsVals []int64, ms []int64, scratch []uint64) ([]byte, []int64, []uint64, bool) {
	e := 0
	for _, b := range bitsVals {
		v := math.Float64frombits(uint64(b))
		if math.IsNaN(v) || math.IsInf(v, 0) || v == 0 && math.Signbit(v) || math.Abs(v) >= maxDecimalMantissa {
			return dst, ms, scratch, false
		}
		for ; e < len(pow10); e++ {
			if decimalFits(v, e) {
				break
			}
		}
		if e == len(pow10) {
			return dst, ms, scratch, false
		}
	}
	ms = ms[:0]
	for _, b := range bitsVals {
		v := math.Float64frombits(uint64(b))
		// An earlier value fitted a smaller e; at this one it may not.
		if !decimalFits(v, e) {
			return dst, ms, scratch, false
		}
		ms = append(ms, int64(math.Round(v*pow10[e])))
	}
	dst = append(dst, byte(e))
	dst, scratch = encodeInts(dst, ms, scratch)
	return dst, ms, scratch, true
}

// decimalFits reports whether v is m / 10^e for an integer m below
// maxDecimalMantissa, exactly as decodeDecimals computes it.
func decimalFits(v float64, e int) bool {
	m := math.Round(v * pow10[e])
	return math.Abs(m) < maxDecimalMantissa && m/pow10[e] == v
}

// decodeDecimals decodes count values written by encodeDecimals, appending
// their IEEE-754 bits to dst.
func decodeDecimals(dst []int64, src []byte, count int) ([]int64, []byte, error) {
	if len(src) < 1 {
		return nil, nil, fmt.Errorf("decode decimals: %w", errShort)
	}
	e := int(src[0])
	if e >= len(pow10) {
		return nil, nil, fmt.Errorf("decode decimals: exponent %d out of range", e)
	}
	start := len(dst)
	dst, rest, err := decodeInts(dst, src[1:], count)
	if err != nil {
		return nil, nil, fmt.Errorf("decode decimals: %w", err)
	}
	for i := start; i < len(dst); i++ {
		m := dst[i]
		if m <= -maxDecimalMantissa || m >= maxDecimalMantissa {
			return nil, nil, fmt.Errorf("decode decimals: mantissa %d out of range", m)
		}
		dst[i] = int64(math.Float64bits(float64(m) / pow10[e]))
	}
	return dst, rest, nil
}
