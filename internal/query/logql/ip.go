package logql

import (
	"fmt"
	"net/netip"
	"strings"
)

// ipMatcher matches addresses against a single address, a range "a-b" or a CIDR.
type ipMatcher struct {
	lo, hi netip.Addr
}

func compileIPPattern(p string) (*ipMatcher, error) {
	p = strings.TrimSpace(p)
	if strings.Contains(p, "/") {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			return nil, fmt.Errorf("parse ip CIDR %q: %w", p, err)
		}
		pfx = pfx.Masked()
		lo := pfx.Addr()
		hi := lo
		// The last address of the prefix: set all host bits.
		b := hi.AsSlice()
		for i := pfx.Bits(); i < len(b)*8; i++ {
			b[i/8] |= 1 << (7 - uint(i%8))
		}
		hi, _ = netip.AddrFromSlice(b)
		return &ipMatcher{lo: lo, hi: hi}, nil
	}
	if from, to, ok := strings.Cut(p, "-"); ok {
		lo, err := netip.ParseAddr(strings.TrimSpace(from))
		if err != nil {
			return nil, fmt.Errorf("parse ip range %q: %w", p, err)
		}
		hi, err := netip.ParseAddr(strings.TrimSpace(to))
		if err != nil {
			return nil, fmt.Errorf("parse ip range %q: %w", p, err)
		}
		if lo.Is4() != hi.Is4() || hi.Less(lo) {
			return nil, fmt.Errorf("parse ip range %q: bounds out of order or of different families", p)
		}
		return &ipMatcher{lo: lo, hi: hi}, nil
	}
	a, err := netip.ParseAddr(p)
	if err != nil {
		return nil, fmt.Errorf("parse ip %q: %w", p, err)
	}
	return &ipMatcher{lo: a, hi: a}, nil
}

func (m *ipMatcher) contains(a netip.Addr) bool {
	a = a.Unmap()
	if a.Is4() != m.lo.Is4() {
		return false
	}
	return !a.Less(m.lo) && !m.hi.Less(a)
}

func isIPChar(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '.' || c == ':'
}

// matchLine reports whether any address-looking token of line is in range.
func (m *ipMatcher) matchLine(line string) bool {
	for i := 0; i < len(line); {
		if !isIPChar(line[i]) || (i > 0 && isIdentChar(line[i-1])) {
			i++
			continue
		}
		j := i
		for j < len(line) && isIPChar(line[j]) {
			j++
		}
		tok := line[i:j]
		if j == len(line) || !isIdentChar(line[j]) {
			if m.matchToken(tok) {
				return true
			}
		}
		i = j
	}
	return false
}

func (m *ipMatcher) matchToken(tok string) bool {
	tok = strings.TrimRight(strings.TrimLeft(tok, "."), ".:")
	if len(tok) < 2 {
		return false
	}
	if a, err := netip.ParseAddr(tok); err == nil {
		return m.contains(a)
	}
	// An IPv4 address followed by a port.
	if k := strings.LastIndexByte(tok, ':'); k > 0 && strings.Count(tok, ":") == 1 {
		if a, err := netip.ParseAddr(tok[:k]); err == nil {
			return m.contains(a)
		}
	}
	return false
}
