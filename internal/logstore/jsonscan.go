package logstore

import (
	"encoding/json"
	"fmt"
	"math/bits"
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
	// rec builds the row; last is the stream of the previous row.
	rec  Record
	last lastStream
	// slab[slabOff:] is free room for rows' attributes (AppendJSONLines).
	slab    []model.Attr
	slabOff int
	// shapes are recent top-level key sequences (sortRoot).
	shapes    []rootShape
	nextShape int
	perm      []int32
}

const maxScanDepth = 1000 // deeper documents take the encoding/json path

var scannerPool = sync.Pool{New: func() any { return new(jsonScanner) }}

// FromJSONBytes parses one JSON object and builds its row, like
// ParseJSONObject followed by FromJSON (same row, same errors), without
// building a map. data is not retained. Safe for concurrent use.
func (s *Schema) FromJSONBytes(tenant string, data []byte, jm JSONMapping, now int64) (model.Event, error) {
	return s.FromJSONString(tenant, string(data), jm, now)
}

// FromJSONString is FromJSONBytes over a string, which the row's strings
// may alias. Safe for concurrent use.
func (s *Schema) FromJSONString(tenant, doc string, jm JSONMapping, now int64) (model.Event, error) {
	p := scannerPool.Get().(*jsonScanner)
	defer p.release()
	return s.fromString(p, tenant, doc, jm, now)
}

func (s *Schema) fromString(p *jsonScanner, tenant, doc string, jm JSONMapping, now int64) (model.Event, error) {
	if !p.parse(doc) {
		m, err := ParseJSONObject([]byte(doc))
		if err != nil {
			return model.Event{}, err
		}
		return s.FromJSON(tenant, m, jm, now)
	}
	return s.fromScan(p, tenant, jm, now)
}

// AppendJSONLines appends the rows of body's newline-delimited JSON
// objects (blank lines skipped) to rows, as FromJSONString would build
// each; an error names its 1-based line. The rows' strings alias body, and
// their attributes share a few large allocations (one body is usually one
// request's rows, which live and die together). Safe for concurrent use.
func (s *Schema) AppendJSONLines(rows []model.Event, tenant, body string, jm JSONMapping, now int64) ([]model.Event, error) {
	p := scannerPool.Get().(*jsonScanner)
	defer p.release()
	line := 0
	for len(body) > 0 {
		line++
		var l string
		if i := strings.IndexByte(body, '\n'); i >= 0 {
			l, body = body[:i], body[i+1:]
		} else {
			l, body = body, ""
		}
		l = strings.TrimSpace(l)
		if len(l) == 0 {
			continue
		}
		if len(p.slab)-p.slabOff < minSlabRoom {
			p.slab, p.slabOff = make([]model.Attr, slabAttrs), 0
		}
		p.rec.ev.Attrs = p.slab[p.slabOff:p.slabOff:len(p.slab)]
		ev, err := s.fromString(p, tenant, l, jm, now)
		if err != nil {
			return rows, fmt.Errorf("line %d: %w", line, err)
		}
		// The row's attributes were appended in place into the slab unless
		// they outgrew it (or the document took the encoding/json path).
		switch n := len(ev.Attrs); {
		case n == 0:
			ev.Attrs = nil // no spare capacity into the slab
		case &ev.Attrs[0] == &p.slab[p.slabOff]:
			ev.Attrs = ev.Attrs[:n:n]
			p.slabOff += n
		}
		rows = append(rows, ev)
	}
	return rows, nil
}

// Attribute slabs: rows of AppendJSONLines take their attributes from
// slabs of slabAttrs, a new one when fewer than minSlabRoom are left.
const (
	slabAttrs   = 2048
	minSlabRoom = 64
)

func (p *jsonScanner) release() {
	if cap(p.nodes) > 1<<14 || cap(p.kids) > 1<<14 {
		return
	}
	// Until the next parse the nodes' strings still point into the last
	// document (a pooled scanner may keep one request body alive until the
	// pool is emptied at a garbage collection).
	p.s = ""
	p.rec.ev, p.rec.seen = model.Event{}, nil
	clear(p.rec.lpairs)
	// The slab's filled part belongs to rows the caller holds.
	p.slab, p.slabOff = nil, 0
	scannerPool.Put(p)
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *jsonScanner) ws(i int) int {
	for i < len(p.s) && isWS(p.s[i]) {
		i++
	}
	return i
}

// parse scans doc; false means "not handled here" (invalid or unusual).
func (p *jsonScanner) parse(doc string) bool {
	p.s = doc
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
		j = plainRun(s, j)
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

// plainRun returns the index of the first byte at or after j that is a
// quote, a backslash, a control or a non-ASCII byte (len(s) if none),
// testing eight bytes at a time.
func plainRun(s string, j int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for j+8 <= len(s) {
		w := uint64(s[j]) | uint64(s[j+1])<<8 | uint64(s[j+2])<<16 | uint64(s[j+3])<<24 |
			uint64(s[j+4])<<32 | uint64(s[j+5])<<40 | uint64(s[j+6])<<48 | uint64(s[j+7])<<56
		q := w ^ (ones * '"')
		b := w ^ (ones * '\\')
		// A byte is flagged when it is zero in q or b, below 0x20, or has its
		// high bit set. The lowest flagged byte is exact (borrows only run
		// upwards from a true hit).
		m := ((q - ones) &^ q) | ((b - ones) &^ b) | ((w - ones*0x20) &^ w) | w
		if m &= highs; m != 0 {
			return j + bits.TrailingZeros64(m)/8
		}
		j += 8
	}
	for j < len(s) {
		if c := s[j]; c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
			return j
		}
		j++
	}
	return j
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
	if idx == 0 {
		p.sortRoot(members)
	} else {
		slices.SortStableFunc(members, func(a, b int32) int { return strings.Compare(nodes[a].key, nodes[b].key) })
	}
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

// sortRoot sorts the root object's members by key (stable). Lines of one
// source mostly come in a few shapes (the same keys in the same order), so
// the order found for a shape is kept and reused for the next document of
// that shape (the scanner keeps up to maxShapes).
func (p *jsonScanner) sortRoot(members []int32) {
	nodes := p.nodes
	var sh *rootShape
	for k := range p.shapes {
		c := &p.shapes[k]
		if len(c.keys) != len(members) {
			continue
		}
		same := true
		for m, key := range c.keys {
			if nodes[members[m]].key != key {
				same = false
				break
			}
		}
		if same {
			sh = c
			break
		}
	}
	if sh == nil {
		if len(p.shapes) < maxShapes {
			p.shapes = append(p.shapes, rootShape{})
			sh = &p.shapes[len(p.shapes)-1]
		} else {
			sh = &p.shapes[p.nextShape]
			p.nextShape = (p.nextShape + 1) % maxShapes
		}
		// The keys are cloned: the document must not be kept.
		sh.keys, sh.perm = sh.keys[:0], sh.perm[:0]
		for k, m := range members {
			sh.keys = append(sh.keys, strings.Clone(nodes[m].key))
			sh.perm = append(sh.perm, int32(k))
		}
		slices.SortStableFunc(sh.perm, func(a, b int32) int { return strings.Compare(sh.keys[a], sh.keys[b]) })
	}
	// Members are node indexes in document order; apply the permutation.
	p.perm = append(p.perm[:0], members...)
	for k, from := range sh.perm {
		members[k] = p.perm[from]
	}
}

// rootShape is a top-level key sequence and the permutation sorting it.
type rootShape struct {
	keys []string
	perm []int32
}

const maxShapes = 8

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
	// The scanner's record is reused; its string values come from the
	// scanner, which has checked they are valid UTF-8.
	r := &p.rec
	r.valid, r.last = true, &p.last
	attrs := r.ev.Attrs // a slab's free room, set by AppendJSONLines
	r.reset(s, tenant, now)
	r.ev.Attrs = attrs[:0]
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
