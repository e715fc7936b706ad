package parse

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// ParseJSON decodes a JSON object into fields in the order of the keys;
// nested objects are flattened with dotted keys (the last of duplicate keys
// wins), arrays kept as their compacted JSON text, null as "". Numbers
// become int64 when integral and in range, else float64, else their text.
// It is a single-pass scanner: the general decoder's maps and reflection
// cost more than the rest of the pipeline.
func ParseJSON(line []byte) ([]Field, error) {
	d := jsonScanner{b: bytes.TrimSpace(line)}
	d.space()
	if d.i >= len(d.b) || d.b[d.i] != '{' {
		return nil, errors.New("parse JSON: not an object")
	}
	fields, err := d.object(make([]Field, 0, 16), "", 0)
	if err != nil {
		return nil, err
	}
	d.space()
	if d.i != len(d.b) {
		return nil, errors.New("parse JSON: trailing data")
	}
	return fields, nil
}

type jsonScanner struct {
	b []byte
	i int
}

var errJSON = errors.New("parse JSON: malformed")

const maxJSONDepth = 10000

func (d *jsonScanner) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *jsonScanner) expect(c byte) bool {
	d.space()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// object parses {...} at d.i and appends its flattened fields to out, in
// the order of the keys; of duplicate keys the last wins.
func (d *jsonScanner) object(out []Field, prefix string, depth int) ([]Field, error) {
	if depth > maxJSONDepth {
		return nil, errJSON
	}
	d.i++ // '{'
	if d.expect('}') {
		return out, nil
	}
	start := len(out)
	var topKeys []string // top-level key of each field appended, for duplicates
	for {
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return nil, errJSON
		}
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		if !d.expect(':') {
			return nil, errJSON
		}
		d.space()
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		// A repeated key replaces what the earlier one produced.
		for i := 0; i < len(topKeys); i++ {
			if topKeys[i] == k {
				out = append(out[:start+i], out[start+i+1:]...)
				topKeys = append(topKeys[:i], topKeys[i+1:]...)
				i--
			}
		}
		if d.i < len(d.b) && d.b[d.i] == '{' {
			n := len(out)
			if out, err = d.object(out, key, depth+1); err != nil {
				return nil, err
			}
			for range len(out) - n {
				topKeys = append(topKeys, k)
			}
		} else {
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			out = append(out, Field{Key: key, Value: v})
			topKeys = append(topKeys, k)
		}
		if d.expect(',') {
			continue
		}
		if !d.expect('}') {
			return nil, errJSON
		}
		return out, nil
	}
}

// value parses a scalar or an array.
func (d *jsonScanner) value(depth int) (any, error) {
	if d.i >= len(d.b) {
		return nil, errJSON
	}
	switch c := d.b[d.i]; {
	case c == '"':
		return d.str()
	case c == '[':
		start := d.i
		if err := d.skip(depth); err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, d.b[start:d.i]); err != nil {
			return nil, errJSON
		}
		return buf.String(), nil
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return "", d.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		start := d.i
		if err := d.number(); err != nil {
			return nil, err
		}
		text := string(d.b[start:d.i])
		if i, err := strconv.ParseInt(text, 10, 64); err == nil {
			return i, nil
		}
		if f, err := strconv.ParseFloat(text, 64); err == nil {
			return f, nil
		}
		return text, nil
	}
	return nil, errJSON
}

func (d *jsonScanner) literal(lit string) error {
	if !bytes.HasPrefix(d.b[d.i:], []byte(lit)) {
		return errJSON
	}
	d.i += len(lit)
	return nil
}

func (d *jsonScanner) digits(i int) int {
	for i < len(d.b) && d.b[i] >= '0' && d.b[i] <= '9' {
		i++
	}
	return i
}

func (d *jsonScanner) number() error {
	b, i := d.b, d.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = d.digits(i)
	default:
		return errJSON
	}
	if i < len(b) && b[i] == '.' {
		j := d.digits(i + 1)
		if j == i+1 {
			return errJSON
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := d.digits(i)
		if j == i {
			return errJSON
		}
		i = j
	}
	d.i = i
	return nil
}

// skip moves past any JSON value (used inside arrays).
func (d *jsonScanner) skip(depth int) error {
	if depth > maxJSONDepth || d.i >= len(d.b) {
		return errJSON
	}
	open := d.b[d.i]
	if open != '[' && open != '{' {
		_, err := d.value(depth)
		return err
	}
	closing := byte(']')
	if open == '{' {
		closing = '}'
	}
	d.i++
	if d.expect(closing) {
		return nil
	}
	for {
		d.space()
		if open == '{' {
			if d.i >= len(d.b) || d.b[d.i] != '"' {
				return errJSON
			}
			if _, err := d.str(); err != nil {
				return err
			}
			if !d.expect(':') {
				return errJSON
			}
			d.space()
		}
		if err := d.skip(depth + 1); err != nil {
			return err
		}
		if d.expect(',') {
			continue
		}
		if !d.expect(closing) {
			return errJSON
		}
		return nil
	}
}

// str parses a string at d.i (which is '"').
func (d *jsonScanner) str() (string, error) {
	d.i++
	start := d.i
	for d.i < len(d.b) { // fast path: no escapes
		c := d.b[d.i]
		if c == '"' {
			s := d.b[start:d.i]
			d.i++
			return validUTF8(s), nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", errJSON
		}
		d.i++
	}
	buf := append([]byte(nil), d.b[start:d.i]...)
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return validUTF8(buf), nil
		case c < 0x20:
			return "", errJSON
		case c != '\\':
			buf = append(buf, c)
			d.i++
			continue
		}
		if d.i+1 >= len(d.b) {
			return "", errJSON
		}
		e := d.b[d.i+1]
		d.i += 2
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := d.hex4()
			if !ok {
				return "", errJSON
			}
			if utf16.IsSurrogate(r) {
				r = d.lowSurrogate(r)
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", errJSON
		}
	}
	return "", errJSON
}

// lowSurrogate completes a UTF-16 pair; an unpaired half becomes U+FFFD
// and a following escape that does not pair is left for the caller.
func (d *jsonScanner) lowSurrogate(hi rune) rune {
	if d.i+1 < len(d.b) && d.b[d.i] == '\\' && d.b[d.i+1] == 'u' {
		save := d.i
		d.i += 2
		if lo, ok := d.hex4(); ok {
			if r := utf16.DecodeRune(hi, lo); r != unicode.ReplacementChar {
				return r
			}
		}
		d.i = save
	}
	return unicode.ReplacementChar
}

func (d *jsonScanner) hex4() (rune, bool) {
	if d.i+4 > len(d.b) {
		return 0, false
	}
	var r rune
	for _, c := range d.b[d.i : d.i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	d.i += 4
	return r, true
}

// validUTF8 returns s as a string with each invalid byte replaced by U+FFFD.
func validUTF8(s []byte) string {
	if utf8.Valid(s) {
		return string(s)
	}
	var sb strings.Builder
	for len(s) > 0 {
		r, n := utf8.DecodeRune(s)
		if r == utf8.RuneError && n == 1 {
			sb.WriteRune(utf8.RuneError)
		} else {
			sb.Write(s[:n])
		}
		s = s[n:]
	}
	return sb.String()
}
