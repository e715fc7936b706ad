package logql

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// maxJSONDepth bounds object nesting so hostile lines cannot exhaust the stack.
const maxJSONDepth = 64

// maxInterned bounds the label-name cache of a parser.
const maxInterned = 4096

var errJSONDepth = errors.New("nesting too deep")

// nameCache interns label names built in a scratch buffer.
type nameCache struct {
	m map[string]string
}

func (c *nameCache) intern(b []byte) string {
	if s, ok := c.m[string(b)]; ok {
		return s
	}
	s := string(b)
	if c.m == nil {
		c.m = make(map[string]string)
	}
	if len(c.m) < maxInterned {
		c.m[s] = s
	}
	return s
}

// appendSanitized appends key to dst replacing characters that are invalid
// in label names with '_'.
var labelCharTable = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = isIdentChar(byte(c))
	}
	return t
}()

func appendSanitized(dst []byte, key string, first bool) []byte {
	if first && key != "" && isDigit(key[0]) {
		dst = append(dst, '_')
	}
	n := len(dst)
	dst = append(dst, key...)
	for i := n; i < len(dst); i++ {
		if !labelCharTable[dst[i]] {
			dst[i] = '_'
		}
	}
	return dst
}

// sanitizeLabelName returns key with invalid label-name characters replaced.
func sanitizeLabelName(key string) string {
	ok := key != "" && !isDigit(key[0])
	for i := 0; ok && i < len(key); i++ {
		ok = isIdentChar(key[i])
	}
	if ok {
		return key
	}
	return string(appendSanitized(nil, key, true))
}

func skipWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// scanString scans a JSON string starting at s[i]=='"'. It returns the raw
// content bounds, whether it holds escapes, and the index after the quote.
func scanString(s string, i int) (start, end int, esc bool, next int, err error) {
	if i >= len(s) || s[i] != '"' {
		return 0, 0, false, 0, fmt.Errorf("expected string at offset %d", i)
	}
	i++
	start = i
	// Fast path: no escape before the closing quote.
	if q := strings.IndexByte(s[i:], '"'); q >= 0 && strings.IndexByte(s[i:i+q], '\\') < 0 {
		return start, i + q, false, i + q + 1, nil
	}
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			return start, i, esc, i + 1, nil
		case c == '\\':
			esc = true
			i += 2
			continue
		case c < 0x20:
			return 0, 0, false, 0, fmt.Errorf("control character in string at offset %d", i)
		}
		i++
	}
	return 0, 0, false, 0, fmt.Errorf("unterminated string")
}

// unescapeJSON decodes the escapes of a raw JSON string body.
func unescapeJSON(raw string) (string, error) {
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(raw) {
			return "", errors.New("truncated escape")
		}
		switch raw[i] {
		case '"', '\\', '/':
			b.WriteByte(raw[i])
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			if i+5 > len(raw) {
				return "", errors.New("truncated \\u escape")
			}
			r, err := strconv.ParseUint(raw[i+1:i+5], 16, 32)
			if err != nil {
				return "", fmt.Errorf("invalid \\u escape: %w", err)
			}
			i += 4
			ru := rune(r)
			if utf16.IsSurrogate(ru) && i+7 <= len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
				if r2, err := strconv.ParseUint(raw[i+3:i+7], 16, 32); err == nil {
					if dec := utf16.DecodeRune(ru, rune(r2)); dec != utf8.RuneError {
						ru = dec
						i += 6
					}
				}
			}
			b.WriteRune(ru)
		default:
			return "", fmt.Errorf("invalid escape \\%c", raw[i])
		}
	}
	return b.String(), nil
}

// skipValue skips any JSON value starting at s[i] and returns the index after it.
func skipValue(s string, i, depth int) (int, error) {
	if depth > maxJSONDepth {
		return 0, errJSONDepth
	}
	i = skipWS(s, i)
	if i >= len(s) {
		return 0, errors.New("unexpected end of input")
	}
	switch c := s[i]; {
	case c == '"':
		_, _, _, next, err := scanString(s, i)
		return next, err
	case c == '{' || c == '[':
		closeCh := byte('}')
		if c == '[' {
			closeCh = ']'
		}
		i = skipWS(s, i+1)
		if i < len(s) && s[i] == closeCh {
			return i + 1, nil
		}
		for {
			if c == '{' {
				var err error
				i = skipWS(s, i)
				if _, _, _, i, err = scanString(s, i); err != nil {
					return 0, err
				}
				i = skipWS(s, i)
				if i >= len(s) || s[i] != ':' {
					return 0, fmt.Errorf("expected ':' at offset %d", i)
				}
				i++
			}
			var err error
			if i, err = skipValue(s, i, depth+1); err != nil {
				return 0, err
			}
			i = skipWS(s, i)
			if i >= len(s) {
				return 0, errors.New("unexpected end of input")
			}
			if s[i] == ',' {
				i++
				continue
			}
			if s[i] == closeCh {
				return i + 1, nil
			}
			return 0, fmt.Errorf("unexpected %q at offset %d", s[i], i)
		}
	default:
		return scanScalar(s, i)
	}
}

// scanScalar scans a number, true, false or null.
func scanScalar(s string, i int) (int, error) {
	start := i
	for i < len(s) {
		c := s[i]
		if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' || (c >= 'a' && c <= 'z') {
			i++
			continue
		}
		break
	}
	tok := s[start:i]
	switch tok {
	case "true", "false", "null":
		return i, nil
	case "":
		return 0, fmt.Errorf("unexpected %q at offset %d", s[start], start)
	}
	if _, err := strconv.ParseFloat(tok, 64); err != nil || tok[0] == '+' || tok[0] == '.' {
		return 0, fmt.Errorf("invalid literal %q at offset %d", tok, start)
	}
	return i, nil
}

// jsonFlattener extracts all scalar fields of a JSON object as labels,
// joining nested keys with '_'. Arrays are skipped.
type jsonFlattener struct {
	keyBuf []byte
	names  nameCache
	// seq caches the names of the previous line by position: lines of one
	// stream usually repeat their keys in the same order.
	seq []string
	k   int
}

func (j *jsonFlattener) parse(line string, b *labelsBuilder) error {
	i := skipWS(line, 0)
	if i >= len(line) || line[i] != '{' {
		return errors.New("expected a JSON object")
	}
	j.keyBuf = j.keyBuf[:0]
	j.k = 0
	// Data after the closing brace is ignored, as Loki's parser does.
	_, err := j.object(line, i, b, 0)
	return err
}

func (j *jsonFlattener) object(s string, i int, b *labelsBuilder, depth int) (int, error) {
	if depth > maxJSONDepth {
		return 0, errJSONDepth
	}
	prefixLen := len(j.keyBuf)
	i = skipWS(s, i+1)
	if i < len(s) && s[i] == '}' {
		return i + 1, nil
	}
	for {
		i = skipWS(s, i)
		ks, ke, kesc, next, err := scanString(s, i)
		if err != nil {
			return 0, err
		}
		key := s[ks:ke]
		if kesc {
			if key, err = unescapeJSON(key); err != nil {
				return 0, err
			}
		}
		i = skipWS(s, next)
		if i >= len(s) || s[i] != ':' {
			return 0, fmt.Errorf("expected ':' at offset %d", i)
		}
		i = skipWS(s, i+1)
		if i >= len(s) {
			return 0, errors.New("unexpected end of input")
		}
		j.keyBuf = j.keyBuf[:prefixLen]
		if prefixLen > 0 {
			j.keyBuf = append(j.keyBuf, '_')
		}
		j.keyBuf = appendSanitized(j.keyBuf, key, prefixLen == 0)
		switch c := s[i]; c {
		case '{':
			if i, err = j.object(s, i, b, depth+1); err != nil {
				return 0, err
			}
		case '[':
			if i, err = skipValue(s, i, depth+1); err != nil {
				return 0, err
			}
		case '"':
			vs, ve, vesc, next, err := scanString(s, i)
			if err != nil {
				return 0, err
			}
			v := s[vs:ve]
			if vesc {
				if v, err = unescapeJSON(v); err != nil {
					return 0, err
				}
			}
			j.set(b, v)
			i = next
		default:
			next, err := scanScalar(s, i)
			if err != nil {
				return 0, err
			}
			if tok := s[i:next]; tok != "null" {
				j.set(b, tok)
			}
			i = next
		}
		j.keyBuf = j.keyBuf[:prefixLen]
		i = skipWS(s, i)
		if i >= len(s) {
			return 0, errors.New("unexpected end of input")
		}
		if s[i] == ',' {
			i++
			continue
		}
		if s[i] == '}' {
			return i + 1, nil
		}
		return 0, fmt.Errorf("unexpected %q at offset %d", s[i], i)
	}
}

const extractedSuffix = "_extracted"

func (j *jsonFlattener) set(b *labelsBuilder, v string) {
	if !utf8.ValidString(v) {
		v = "" // label values must be valid UTF-8
	}
	var name string
	if j.k < len(j.seq) && j.seq[j.k] == string(j.keyBuf) {
		name = j.seq[j.k]
	} else {
		name = j.names.intern(j.keyBuf)
		if j.k < len(j.seq) {
			j.seq[j.k] = name
		} else if j.k < 256 {
			j.seq = append(j.seq, name)
		}
	}
	j.k++
	if b.baseHas(name) {
		n := len(j.keyBuf)
		j.keyBuf = append(j.keyBuf, extractedSuffix...)
		name = j.names.intern(j.keyBuf)
		j.keyBuf = j.keyBuf[:n]
	}
	b.addParsed(name, v)
}

// pathElem is one step of a json extraction path: a key or an index.
type pathElem struct {
	key   string
	index int
	isIdx bool
}

// parseJSONPath parses paths such as a.b, a[0].c and a["key with.dots"].
func parseJSONPath(p string) ([]pathElem, error) {
	var out []pathElem
	i := 0
	for i < len(p) {
		switch c := p[i]; {
		case c == '.':
			if i == 0 || i+1 >= len(p) || p[i+1] == '.' || p[i+1] == '[' {
				return nil, fmt.Errorf("misplaced '.' at offset %d in %q", i, p)
			}
			i++
		case c == '[':
			end := strings.IndexByte(p[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("unterminated '[' in %q", p)
			}
			inner := p[i+1 : i+end]
			if len(inner) >= 2 && inner[0] == '"' {
				// The key may contain ']' only when quoted; find the closing quote.
				q := strings.IndexByte(p[i+2:], '"')
				if q < 0 {
					return nil, fmt.Errorf("unterminated quoted key in %q", p)
				}
				key := p[i+2 : i+2+q]
				rest := i + 2 + q + 1
				if rest >= len(p) || p[rest] != ']' {
					return nil, fmt.Errorf("expected ']' after quoted key in %q", p)
				}
				out = append(out, pathElem{key: key})
				i = rest + 1
				continue
			}
			n, err := strconv.Atoi(inner)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("invalid index %q in %q", inner, p)
			}
			out = append(out, pathElem{index: n, isIdx: true})
			i += end + 1
		default:
			j := i
			for j < len(p) && p[j] != '.' && p[j] != '[' {
				j++
			}
			out = append(out, pathElem{key: p[i:j]})
			i = j
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty path")
	}
	return out, nil
}

// jsonExtract returns the value at path in the JSON document s. Strings are
// unescaped; objects and arrays are returned as raw JSON.
func jsonExtract(s string, path []pathElem) (string, bool, error) {
	i := skipWS(s, 0)
	for _, el := range path {
		if i >= len(s) {
			return "", false, errors.New("unexpected end of input")
		}
		if el.isIdx {
			if s[i] != '[' {
				return "", false, nil
			}
			i = skipWS(s, i+1)
			found := false
			for n := 0; i < len(s) && s[i] != ']'; n++ {
				if n == el.index {
					found = true
					break
				}
				var err error
				if i, err = skipValue(s, i, 0); err != nil {
					return "", false, err
				}
				i = skipWS(s, i)
				if i < len(s) && s[i] == ',' {
					i = skipWS(s, i+1)
				}
			}
			if !found {
				return "", false, nil
			}
			continue
		}
		if s[i] != '{' {
			return "", false, nil
		}
		i = skipWS(s, i+1)
		found := false
		for i < len(s) && s[i] != '}' {
			ks, ke, kesc, next, err := scanString(s, i)
			if err != nil {
				return "", false, err
			}
			key := s[ks:ke]
			if kesc {
				if key, err = unescapeJSON(key); err != nil {
					return "", false, err
				}
			}
			i = skipWS(s, next)
			if i >= len(s) || s[i] != ':' {
				return "", false, fmt.Errorf("expected ':' at offset %d", i)
			}
			i = skipWS(s, i+1)
			if key == el.key {
				found = true
				break
			}
			if i, err = skipValue(s, i, 0); err != nil {
				return "", false, err
			}
			i = skipWS(s, i)
			if i < len(s) && s[i] == ',' {
				i = skipWS(s, i+1)
			}
		}
		if !found {
			return "", false, nil
		}
	}
	if i >= len(s) {
		return "", false, errors.New("unexpected end of input")
	}
	end, err := skipValue(s, i, 0)
	if err != nil {
		return "", false, err
	}
	v := s[i:end]
	switch {
	case v[0] == '"':
		v = v[1 : len(v)-1]
		if strings.IndexByte(v, '\\') >= 0 {
			if v, err = unescapeJSON(v); err != nil {
				return "", false, err
			}
		}
	case v == "null":
		v = ""
	}
	return v, true, nil
}
