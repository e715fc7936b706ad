package logstore

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/sightline/sightline/internal/model"
)

// This file is the fast path of JSON document ingest: one pass over the
// bytes builds a flat arena of nodes (no map[string]any, no interface per
// field), then the same time/message/stream lookups and the same sorted
// flattening as FromJSON run over the arena. Anything the scanner does not
// accept goes through ParseJSONObject and FromJSON, so errors and rare
// inputs behave exactly as before.

type jkind uint8

const (
	jNull jkind = iota
	jBool
	jNum
	jStr
	jObj
	jArr
)

// jnode is one value of the document. For objects, kids[first:first+n] are
// the member nodes sorted by key with duplicate keys removed (the last one
// wins, as when decoding into a map).
type jnode struct {
	key   string
	str   string // string value, number text, raw text of an array
	kind  jkind
	b     bool
	dead  bool // removed by a time/message/stream lookup
	first int32
	n     int32
}

// jsonScanner holds one parsed document; scanners are pooled and are not
// safe for concurrent use.
type jsonScanner struct {
	s     string
	nodes []jnode
	kids  []int32
	stack []int32
	depth int
}

const maxScanDepth = 1000 // deeper documents take the encoding/json path

var scannerPool = sync.Pool{New: func() any { return new(jsonScanner) }}

// FromJSONBytes parses one JSON object and builds its row, like
// ParseJSONObject followed by FromJSON (same row, same errors), without
// building a map. data is not retained. Safe for concurrent use.
func (s *Schema) FromJSONBytes(tenant string, data []byte, jm JSONMapping, now int64) (model.Event, error) {
	p := scannerPool.Get().(*jsonScanner)
	defer p.release()
	if !p.parse(data) {
		m, err := ParseJSONObject(data)
		if err != nil {
			return model.Event{}, err
		}
		return s.FromJSON(tenant, m, jm, now)
	}
	return s.fromScan(p, tenant, jm, now)
}

func (p *jsonScanner) release() {
	if cap(p.nodes) > 1<<14 || cap(p.kids) > 1<<14 {
		return
	}
	p.s = ""
	scannerPool.Put(p)
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *jsonScanner) ws(i int) int {
	for i < len(p.s) && isWS(p.s[i]) {
		i++
	}
	return i
}

// parse scans data; false means "not handled here" (invalid or unusual).
func (p *jsonScanner) parse(data []byte) bool {
	p.s = string(data)
	p.nodes, p.kids, p.stack, p.depth = p.nodes[:0], p.kids[:0], p.stack[:0], 0
	i := p.ws(0)
	if i >= len(p.s) || p.s[i] != '{' {
		return false
	}
	i, ok := p.value(i, "")
	if !ok {
		return false
	}
	// Like json.Decoder.More: trailing '}' or ']' is not "more data".
	i = p.ws(i)
	return i == len(p.s) || p.s[i] == '}' || p.s[i] == ']'
}

// value scans the value at i (no leading space) into a new node.
func (p *jsonScanner) value(i int, key string) (int, bool) {
	s := p.s
	if i >= len(s) {
		return i, false
	}
	idx := len(p.nodes)
	p.nodes = append(p.nodes, jnode{key: key})
	switch c := s[i]; {
	case c == '"':
		str, j, ok := p.str(i)
		if !ok {
			return j, false
		}
		p.nodes[idx].kind, p.nodes[idx].str = jStr, str
		return j, true
	case c == '{':
		return p.object(i, idx)
	case c == '[':
		return p.array(i, idx)
	case c == 't':
		if strings.HasPrefix(s[i:], "true") {
			p.nodes[idx].kind, p.nodes[idx].b = jBool, true
			return i + 4, true
		}
	case c == 'f':
		if strings.HasPrefix(s[i:], "false") {
			p.nodes[idx].kind = jBool
			return i + 5, true
		}
	case c == 'n':
		if strings.HasPrefix(s[i:], "null") {
			return i + 4, true
		}
	case c == '-' || c >= '0' && c <= '9':
		j, ok := p.number(i)
		if !ok {
			return j, false
		}
		p.nodes[idx].kind, p.nodes[idx].str = jNum, s[i:j]
		return j, true
	}
	return i, false
}

// number checks the JSON number grammar from i and returns its end.
func (p *jsonScanner) number(i int) (int, bool) {
	s := p.s
	digits := func(i int) (int, bool) {
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		return j, j > i
	}
	if s[i] == '-' {
		i++
	}
	if i >= len(s) {
		return i, false
	}
	if s[i] == '0' {
		i++
	} else if j, ok := digits(i); ok {
		i = j
	} else {
		return i, false
	}
	if i < len(s) && s[i] == '.' {
		j, ok := digits(i + 1)
		if !ok {
			return j, false
		}
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j, ok := digits(i)
		if !ok {
			return j, false
		}
		i = j
	}
	return i, true
}

// str scans the string starting at the quote at i. Plain strings are
// substrings of the document; strings with escapes or non-UTF-8 bytes are
// decoded by encoding/json so that they come out exactly as before.
func (p *jsonScanner) str(i int) (string, int, bool) {
	s := p.s
	j := i + 1
	esc, high := false, false
	for {
		if j >= len(s) {
			return "", j, false
		}
		c := s[j]
		switch {
		case c == '"':
			raw := s[i+1 : j]
			if !esc && (!high || utf8.ValidString(raw)) {
				return raw, j + 1, true
			}
			var out string
			if err := json.Unmarshal([]byte(s[i:j+1]), &out); err != nil {
				return "", j, false
			}
			return out, j + 1, true
		case c == '\\':
			esc = true
			j += 2
			continue
		case c < 0x20:
			return "", j, false
		case c >= 0x80:
			high = true
		}
		j++
	}
}

func (p *jsonScanner) object(i, idx int) (int, bool) {
	if p.depth++; p.depth > maxScanDepth {
		return i, false
	}
	s := p.s
	base := len(p.stack)
	i = p.ws(i + 1)
	if i < len(s) && s[i] == '}' {
		i++
	} else {
		for {
			if i >= len(s) || s[i] != '"' {
				return i, false
			}
			key, j, ok := p.str(i)
			if !ok {
				return j, false
			}
			j = p.ws(j)
			if j >= len(s) || s[j] != ':' {
				return j, false
			}
			child := len(p.nodes)
			if j, ok = p.value(p.ws(j+1), key); !ok {
				return j, false
			}
			p.stack = append(p.stack, int32(child))
			j = p.ws(j)
			if j >= len(s) {
				return j, false
			}
			if s[j] == ',' {
				i = p.ws(j + 1)
				continue
			}
			if s[j] != '}' {
				return j, false
			}
			i = j + 1
			break
		}
	}
	members := p.stack[base:]
	nodes := p.nodes
	slices.SortStableFunc(members, func(a, b int32) int { return strings.Compare(nodes[a].key, nodes[b].key) })
	first := len(p.kids)
	for k, m := range members {
		if k+1 < len(members) && nodes[members[k+1]].key == nodes[m].key {
			continue // a later duplicate key wins
		}
		p.kids = append(p.kids, m)
	}
	p.stack = p.stack[:base]
	p.nodes[idx].kind, p.nodes[idx].first, p.nodes[idx].n = jObj, int32(first), int32(len(p.kids)-first)
	p.depth--
	return i, true
}

// array checks the array at i and keeps it as raw text; its elements'
// nodes are dropped again.
func (p *jsonScanner) array(i, idx int) (int, bool) {
	if p.depth++; p.depth > maxScanDepth {
		return i, false
	}
	s := p.s
	start, nn, nk := i, len(p.nodes), len(p.kids)
	i = p.ws(i + 1)
	if i < len(s) && s[i] == ']' {
		i++
	} else {
		for {
			j, ok := p.value(i, "")
			if !ok {
				return j, false
			}
			j = p.ws(j)
			if j >= len(s) {
				return j, false
			}
			if s[j] == ',' {
				i = p.ws(j + 1)
				continue
			}
			if s[j] != ']' {
				return j, false
			}
			i = j + 1
			break
		}
	}
	p.nodes, p.kids = p.nodes[:nn], p.kids[:nk]
	p.nodes[idx].kind, p.nodes[idx].str = jArr, s[start:i]
	p.depth--
	return i, true
}

// child returns the live member key of object obj.
func (p *jsonScanner) child(obj int32, key string) (int32, bool) {
	o := &p.nodes[obj]
	kids := p.kids[o.first : o.first+o.n]
	k, ok := slices.BinarySearchFunc(kids, key, func(n int32, key string) int { return strings.Compare(p.nodes[n].key, key) })
	if !ok || p.nodes[kids[k]].dead {
		return 0, false
	}
	return kids[k], true
}

// lookup is the arena form of lookup in jsondoc.go.
func (p *jsonScanner) lookup(obj int32, key string) (int32, bool) {
	if n, ok := p.child(obj, key); ok {
		return n, true
	}
	// Try every split of key at a dot, shortest head first.
	for i := 0; i < len(key); i++ {
		if key[i] != '.' {
			continue
		}
		if sub, found := p.child(obj, key[:i]); found && p.nodes[sub].kind == jObj {
			if n, found := p.lookup(sub, key[i+1:]); found {
				return n, true
			}
		}
	}
	return 0, false
}

// timeArg returns the value ParseTimeValue would have been given (used
// for its error on values that are neither strings nor numbers).
func (p *jsonScanner) timeArg(n int32) any {
	switch nd := &p.nodes[n]; nd.kind {
	case jStr:
		return nd.str
	case jNum:
		return json.Number(nd.str)
	case jBool:
		return nd.b
	case jObj:
		return map[string]any(nil)
	case jArr:
		return []any(nil)
	}
	return nil
}

// marshal appends node n as json.Marshal would write its decoded value.
func (p *jsonScanner) marshal(b []byte, n int32) []byte {
	nd := &p.nodes[n]
	switch nd.kind {
	case jNull:
		return append(b, "null"...)
	case jBool:
		if nd.b {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case jNum:
		return append(b, nd.str...)
	case jStr:
		q, _ := json.Marshal(nd.str)
		return append(b, q...)
	case jArr:
		d := json.NewDecoder(strings.NewReader(nd.str))
		d.UseNumber()
		var v any
		_ = d.Decode(&v) // the scanner has checked the text
		q, _ := json.Marshal(v)
		return append(b, q...)
	}
	b = append(b, '{')
	first := true
	for _, k := range p.kids[nd.first : nd.first+nd.n] {
		if p.nodes[k].dead {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		q, _ := json.Marshal(p.nodes[k].key)
		b = append(b, q...)
		b = append(b, ':')
		b = p.marshal(b, k)
	}
	return append(b, '}')
}

func (p *jsonScanner) marshalString(n int32) string { return string(p.marshal(nil, n)) }

// fromScan is FromJSON over a scanned document (root node 0).
func (s *Schema) fromScan(p *jsonScanner, tenant string, jm JSONMapping, now int64) (model.Event, error) {
	r := s.NewRecord(tenant, now)
	for _, f := range jm.TimeFields {
		n, ok := p.lookup(0, f)
		if !ok {
			continue
		}
		var t int64
		var err error
		if nd := &p.nodes[n]; nd.kind == jStr || nd.kind == jNum {
			t, err = parseTimeText(nd.str)
		} else {
			t, err = ParseTimeValue(p.timeArg(n))
		}
		if err != nil {
			return model.Event{}, fmt.Errorf("field %q: %w", f, err)
		}
		r.SetTime(t)
		p.nodes[n].dead = true
		break
	}
	for _, f := range jm.MessageFields {
		n, ok := p.lookup(0, f)
		if !ok {
			continue
		}
		switch nd := &p.nodes[n]; nd.kind {
		case jStr:
			r.SetBody(nd.str)
		case jNull:
		default:
			r.SetBody(p.marshalString(n))
		}
		p.nodes[n].dead = true
		break
	}
	if jm.StreamFields != nil {
		for _, sf := range jm.StreamFields {
			n, ok := p.lookup(0, sf.From)
			if !ok {
				continue
			}
			if nd := &p.nodes[n]; nd.kind == jStr || nd.kind == jNum {
				r.addStreamOnce(sf.To, nd.str)
				nd.dead = true
			}
		}
	} else {
		for _, sl := range s.opts.StreamLabels {
			if !strings.Contains(sl.From, ".") {
				continue
			}
			if n, ok := p.lookup(0, sl.From); ok && p.nodes[n].kind == jStr {
				r.addStreamOnce(s.stream[sl.From], p.nodes[n].str)
				p.nodes[n].dead = true
			}
		}
	}
	p.addFields(r, "", 0, 0)
	return r.Event(), nil
}

func (p *jsonScanner) addFields(r *Record, prefix string, obj int32, depth int) {
	o := p.nodes[obj]
	for _, k := range p.kids[o.first : o.first+o.n] {
		nd := &p.nodes[k]
		if nd.dead {
			continue
		}
		key := nd.key
		if prefix != "" {
			key = prefix + "_" + key
		}
		switch nd.kind {
		case jStr:
			r.Add(key, model.StringValue(nd.str))
		case jBool:
			r.Add(key, model.BoolValue(nd.b))
		case jNum:
			r.Add(key, NumberValue(nd.str))
		case jArr:
			r.Add(key, model.StringValue(p.marshalString(k)))
		case jObj:
			if depth+1 >= r.s.opts.MaxDepth {
				r.Add(key, model.StringValue(p.marshalString(k)))
				continue
			}
			p.addFields(r, key, k, depth+1)
		}
	}
}
