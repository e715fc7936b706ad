package logql

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// logfmtPair is one decoded key/value of a logfmt line.
type logfmtPair struct {
	key, value string
	bare       bool // key without '='
}

// scanLogfmt decodes a logfmt line, calling fn per pair. In strict mode the
// first syntax error stops decoding and is returned; otherwise malformed
// fragments are skipped.
func scanLogfmt(line string, strict bool, fn func(logfmtPair)) error {
	i := 0
	n := len(line)
	for i < n {
		for i < n && line[i] <= ' ' {
			i++
		}
		if i >= n {
			break
		}
		ks := i
		for i < n && line[i] > ' ' && line[i] != '=' && line[i] != '"' {
			i++
		}
		key := line[ks:i]
		if key == "" {
			if strict {
				return fmt.Errorf("logfmt syntax error at pos %d : unexpected %q", i+1, line[i])
			}
			i = skipLogfmtGarbage(line, i)
			continue
		}
		if i >= n || line[i] <= ' ' {
			fn(logfmtPair{key: key, bare: true})
			continue
		}
		if line[i] == '"' {
			if strict {
				return fmt.Errorf("logfmt syntax error at pos %d : unexpected '\"'", i+1)
			}
			i = skipLogfmtGarbage(line, i)
			continue
		}
		i++ // '='
		if i >= n || line[i] <= ' ' {
			fn(logfmtPair{key: key})
			continue
		}
		if line[i] == '"' {
			j := i + 1
			esc := false
			for j < n && line[j] != '"' {
				if line[j] == '\\' {
					esc = true
					j++
				}
				j++
			}
			if j >= n {
				if strict {
					return fmt.Errorf("logfmt syntax error at pos %d : unterminated quoted value", i+1)
				}
				return nil
			}
			v := line[i+1 : j]
			if esc {
				uq, err := strconv.Unquote(line[i : j+1])
				if err != nil {
					if strict {
						return fmt.Errorf("logfmt syntax error at pos %d : invalid quoted value: %w", i+1, err)
					}
					i = j + 1
					continue
				}
				v = uq
			}
			i = j + 1
			if i < n && line[i] > ' ' {
				if strict {
					return fmt.Errorf("logfmt syntax error at pos %d : unexpected %q after quoted value", i+1, line[i])
				}
				i = skipLogfmtGarbage(line, i)
			}
			fn(logfmtPair{key: key, value: v})
			continue
		}
		vs := i
		bad := false
		for i < n && line[i] > ' ' {
			if line[i] == '"' || line[i] == '=' {
				bad = true
			}
			i++
		}
		if bad && strict {
			return fmt.Errorf("logfmt syntax error at pos %d : unexpected '=' or '\"' in value", vs+1)
		}
		if bad {
			continue
		}
		fn(logfmtPair{key: key, value: line[vs:i]})
	}
	return nil
}

func skipLogfmtGarbage(line string, i int) int {
	for i < len(line) && line[i] > ' ' {
		i++
	}
	return i
}

// logfmtParser extracts logfmt pairs as labels.
type logfmtParser struct {
	strict, keepEmpty bool
	params            map[string]string // key -> label; nil extracts all
	paramLabels       []string
	keyBuf            []byte
	names             nameCache
	b                 *labelsBuilder
	emit              func(logfmtPair)
}

func newLogfmtParser(st *ParserStage) *logfmtParser {
	lp := &logfmtParser{strict: st.Strict, keepEmpty: st.KeepEmpty}
	if len(st.Params) > 0 {
		lp.params = make(map[string]string, len(st.Params))
		for _, prm := range st.Params {
			lp.params[prm.Expr] = prm.Label
			lp.paramLabels = append(lp.paramLabels, prm.Label)
		}
	}
	lp.emit = lp.set
	return lp
}

func (lp *logfmtParser) set(kv logfmtPair) {
	if !utf8.ValidString(kv.value) {
		kv.value = "" // label values must be valid UTF-8
	}
	// Keys without a value ("k" or "k=") are kept only with --keep-empty
	// or when asked for by name, as Loki does.
	if kv.value == "" && !lp.keepEmpty && lp.params == nil {
		return
	}
	var name string
	if lp.params != nil {
		l, ok := lp.params[kv.key]
		if !ok {
			return
		}
		name = l
		if lp.b.baseHas(name) {
			name += extractedSuffix
		}
	} else {
		lp.keyBuf = appendSanitized(lp.keyBuf[:0], kv.key, true)
		name = lp.names.intern(lp.keyBuf)
		if lp.b.baseHas(name) {
			lp.keyBuf = append(lp.keyBuf, extractedSuffix...)
			name = lp.names.intern(lp.keyBuf)
		}
	}
	lp.b.addParsed(name, kv.value)
}

func (lp *logfmtParser) process(line string, b *labelsBuilder) {
	lp.b = b
	// Requested keys always yield a label, empty when absent from the line.
	for _, label := range lp.paramLabels {
		if !b.baseHas(label) {
			if _, ok := b.get(label); !ok {
				b.set(label, "", srcPlaceholder)
			}
		}
	}
	if err := scanLogfmt(line, lp.strict, lp.emit); err != nil {
		b.setErr(errLogfmt, err.Error())
	}
}

// patternPart is a literal or a capture of a pattern expression.
type patternPart struct {
	lit     string
	capture string // "" for literals; "_" for the placeholder
}

type patternMatcher struct {
	parts []patternPart
}

// compilePattern parses a pattern such as `<ip> - <_> "<method> <path>"`.
// Parsers need at least one named capture; line filters do not.
func compilePattern(s string, needCapture bool) (*patternMatcher, error) {
	var parts []patternPart
	var lit strings.Builder
	named := 0
	seen := map[string]bool{}
	for i := 0; i < len(s); {
		if s[i] == '<' {
			j := i + 1
			for j < len(s) && isIdentChar(s[j]) {
				j++
			}
			if j < len(s) && s[j] == '>' && j > i+1 && !isDigit(s[i+1]) {
				name := s[i+1 : j]
				if lit.Len() > 0 {
					parts = append(parts, patternPart{lit: lit.String()})
					lit.Reset()
				}
				if len(parts) > 0 && parts[len(parts)-1].capture != "" {
					return nil, fmt.Errorf("consecutive captures are not allowed at offset %d", i)
				}
				if name != "_" {
					if seen[name] {
						return nil, fmt.Errorf("duplicate capture %q", name)
					}
					seen[name] = true
					named++
				}
				parts = append(parts, patternPart{capture: name})
				i = j + 1
				continue
			}
		}
		lit.WriteByte(s[i])
		i++
	}
	if lit.Len() > 0 {
		parts = append(parts, patternPart{lit: lit.String()})
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("empty pattern")
	}
	if needCapture && named == 0 {
		return nil, fmt.Errorf("at least one named capture is needed")
	}
	return &patternMatcher{parts: parts}, nil
}

// match runs the pattern anchored at the start of line, calling fn for each
// named capture. It reports whether the whole pattern matched. As in Loki,
// when the literal after a capture is missing the capture takes the rest of
// the line and matching stops there (later captures stay unset).
func (m *patternMatcher) match(line string, fn func(name, value string)) bool {
	if line == "" {
		return false
	}
	pos := 0
	pending := "" // capture waiting for the next literal
	for k, p := range m.parts {
		if p.capture != "" {
			if k == len(m.parts)-1 {
				if fn != nil && p.capture != "_" {
					fn(p.capture, line[pos:])
				}
				return true
			}
			pending = p.capture
			continue
		}
		if k == 0 {
			if !strings.HasPrefix(line, p.lit) {
				return false
			}
			pos = len(p.lit)
			continue
		}
		idx := strings.Index(line[pos:], p.lit)
		if idx < 0 {
			if fn != nil && pending != "_" && pending != "" {
				fn(pending, line[pos:])
			}
			return false
		}
		if fn != nil && pending != "_" && pending != "" {
			fn(pending, line[pos:pos+idx])
		}
		pending = ""
		pos += idx + len(p.lit)
	}
	return true
}
