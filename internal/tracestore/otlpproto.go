package tracestore

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strconv"
	"unsafe"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/model"
)

// ErrFallback is returned by DecodeProto for requests the fast decoder
// leaves to pdata: malformed protobuf, fields it does not know, repeated
// singular messages, and attribute values that are arrays, maps or string
// table references. The caller decodes such a request with pdata and
// AppendRows, which either produces the same rows or reports the error.
var ErrFallback = errors.New("OTLP trace request needs the pdata decoder")

// Wire types.
const (
	wtVarint = 0
	wtI64    = 1
	wtLen    = 2
	wtI32    = 5
)

// pb is a cursor over protobuf bytes. Every read reports failure through
// ok instead of an error value, so the hot path stays allocation free.
type pb struct {
	b   []byte
	pos int
}

func (p *pb) more() bool { return p.pos < len(p.b) }

func (p *pb) varint() (uint64, bool) {
	// Tags and most lengths fit one byte.
	if p.pos < len(p.b) && p.b[p.pos] < 0x80 {
		v := uint64(p.b[p.pos])
		p.pos++
		return v, true
	}
	return p.varintSlow()
}

func (p *pb) varintSlow() (uint64, bool) {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if p.pos >= len(p.b) {
			return 0, false
		}
		c := p.b[p.pos]
		p.pos++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, true
		}
	}
	return 0, false
}

// tag reads a field tag; the field number is positive.
func (p *pb) tag() (field uint64, wt int, ok bool) {
	t, ok := p.varint()
	if !ok || t>>3 == 0 || t>>3 > 1<<29 {
		return 0, 0, false
	}
	return t >> 3, int(t & 7), true
}

func (p *pb) bytes() ([]byte, bool) {
	n, ok := p.varint()
	if !ok || n > uint64(len(p.b)-p.pos) {
		return nil, false
	}
	s := p.b[p.pos : p.pos+int(n)]
	p.pos += int(n)
	return s, true
}

func (p *pb) fixed64() (uint64, bool) {
	if len(p.b)-p.pos < 8 {
		return 0, false
	}
	v := binary.LittleEndian.Uint64(p.b[p.pos:])
	p.pos += 8
	return v, true
}

func (p *pb) fixed32() (uint32, bool) {
	if len(p.b)-p.pos < 4 {
		return 0, false
	}
	v := binary.LittleEndian.Uint32(p.b[p.pos:])
	p.pos += 4
	return v, true
}

// skip passes over a field of wire type wt (groups are refused).
func (p *pb) skip(wt int) bool {
	var ok bool
	switch wt {
	case wtVarint:
		_, ok = p.varint()
	case wtI64:
		_, ok = p.fixed64()
	case wtLen:
		_, ok = p.bytes()
	case wtI32:
		_, ok = p.fixed32()
	}
	return ok
}

// str returns b as a string sharing its memory. Callers own the contract
// that b is not modified while the string is in use (see DecodeProto).
func str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// DecodeProto decodes an OTLP ExportTraceServiceRequest in protobuf form
// straight into rows of tenant, the same rows AppendRows makes from the
// pdata form of the same bytes, without building pdata. The rows' strings
// share body's memory: body must not change while they are in use (the
// event store copies what it keeps; anything holding rows longer, such as
// a sampler buffer, needs a body nobody reuses). The rows are valid until
// the next call. On ErrFallback the buffer's content is unspecified.
func (b *RowBuffer) DecodeProto(tenant string, body []byte) ([]model.Event, error) {
	b.ar.reset()
	clear(b.rows)
	rows, ok := decodeRequest(b.rows[:0], &b.ar, tenant, body)
	b.rows = rows
	if !ok {
		return nil, ErrFallback
	}
	return rows, nil
}

// SpanCount returns the span rows among rows.
func SpanCount(rows []model.Event) int {
	n := 0
	for i := range rows {
		if rows[i].Signal == model.SignalSpan {
			n++
		}
	}
	return n
}

func decodeRequest(dst []model.Event, ar *arena, tenant string, body []byte) ([]model.Event, bool) {
	p := pb{b: body}
	for p.more() {
		f, wt, ok := p.tag()
		if !ok || f != 1 || wt != wtLen {
			return dst, false
		}
		rs, ok := p.bytes()
		if !ok {
			return dst, false
		}
		if dst, ok = decodeResourceSpans(dst, ar, tenant, rs); !ok {
			return dst, false
		}
	}
	return dst, true
}

// kv is a decoded attribute.
type kv struct {
	key string
	val model.Value
	// text is the value as pdata's AsString gives it; ok false when the
	// fast path cannot produce it (doubles).
	textOK bool
}

// decodeKV decodes a KeyValue.
func decodeKV(b []byte) (kv, bool) {
	var out kv
	p := pb{b: b}
	seenValue := false
	out.val = model.StringValue("")
	out.textOK = true
	for p.more() {
		f, wt, ok := p.tag()
		if !ok || wt != wtLen {
			return out, false
		}
		s, ok := p.bytes()
		if !ok {
			return out, false
		}
		switch f {
		case 1:
			out.key = str(s)
		case 2:
			if seenValue {
				return out, false
			}
			seenValue = true
			if out.val, out.textOK, ok = decodeAnyValue(s); !ok {
				return out, false
			}
		default:
			return out, false
		}
	}
	return out, true
}

// decodeAnyValue decodes the scalar kinds of an AnyValue as toValue
// converts them; arrays, maps and string-table references are refused.
func decodeAnyValue(b []byte) (v model.Value, textOK bool, ok bool) {
	p := pb{b: b}
	v, textOK = model.StringValue(""), true
	for p.more() {
		f, wt, ok := p.tag()
		if !ok {
			return v, false, false
		}
		switch {
		case f == 1 && wt == wtLen:
			s, ok := p.bytes()
			if !ok {
				return v, false, false
			}
			v, textOK = model.StringValue(str(s)), true
		case f == 2 && wt == wtVarint:
			n, ok := p.varint()
			if !ok {
				return v, false, false
			}
			v, textOK = model.BoolValue(n != 0), true
		case f == 3 && wt == wtVarint:
			n, ok := p.varint()
			if !ok {
				return v, false, false
			}
			v, textOK = model.IntValue(int64(n)), true
		case f == 4 && wt == wtI64:
			n, ok := p.fixed64()
			if !ok {
				return v, false, false
			}
			v, textOK = model.Value{Type: model.TypeFloat, Num: n}, false
		case f == 7 && wt == wtLen:
			s, ok := p.bytes()
			if !ok {
				return v, false, false
			}
			v, textOK = model.StringValue(base64.StdEncoding.EncodeToString(s)), true
		default:
			return v, false, false
		}
	}
	return v, textOK, true
}

// text returns what pdata's AsString gives for a decoded value.
func (a *kv) text() (string, bool) {
	if !a.textOK {
		return "", false
	}
	switch a.val.Type {
	case model.TypeInt:
		return strconv.FormatInt(a.val.Int(), 10), true
	case model.TypeBool:
		return strconv.FormatBool(a.val.Bool()), true
	}
	return a.val.Str, true
}

// countField counts the occurrences of field f (wire type LEN) in b,
// checking the framing of every field on the way.
func countField(b []byte, f uint64) (int, bool) {
	p := pb{b: b}
	n := 0
	for p.more() {
		g, wt, ok := p.tag()
		if !ok || !p.skip(wt) {
			return 0, false
		}
		if g == f {
			if wt != wtLen {
				return 0, false
			}
			n++
		}
	}
	return n, true
}

// headerField checks that b (a ResourceSpans or ScopeSpans message) holds
// only length-delimited fields 1, 2 and 3, with field 1 at most once, and
// returns field 1 (nil when absent).
func headerField(b []byte) ([]byte, bool) {
	var h []byte
	n := 0
	p := pb{b: b}
	for p.more() {
		f, wt, ok := p.tag()
		if !ok || wt != wtLen {
			return nil, false
		}
		s, ok := p.bytes()
		if !ok {
			return nil, false
		}
		switch f {
		case 1:
			h = s
			n++
		case 2, 3:
		default:
			return nil, false
		}
	}
	return h, n <= 1
}

func decodeResourceSpans(dst []model.Event, ar *arena, tenant string, b []byte) ([]model.Event, bool) {
	// Field 1 is the resource; 2 the scope spans (below); 3 the schema URL.
	res, ok := headerField(b)
	if !ok {
		return dst, false
	}
	// Resource: attributes and dropped count.
	nattr, ok := countField(res, 1)
	if !ok {
		return dst, false
	}
	resAttrs := ar.alloc(nattr + 1)
	var dropped uint64
	svc, ns := "", ""
	svcSeen, nsSeen := false, false
	p := pb{b: res}
	for p.more() {
		f, wt, _ := p.tag()
		switch {
		case f == 1 && wt == wtLen:
			s, _ := p.bytes()
			a, ok := decodeKV(s)
			if !ok {
				return dst, false
			}
			if a.key == "service.name" && !svcSeen {
				svcSeen = true
				if svc, ok = a.text(); !ok {
					return dst, false
				}
			}
			if a.key == "service.namespace" && !nsSeen {
				nsSeen = true
				if ns, ok = a.text(); !ok {
					return dst, false
				}
			}
			resAttrs = append(resAttrs, model.Attr{Key: PrefixResource + a.key, Value: a.val})
		case f == 2 && wt == wtVarint:
			dropped, _ = p.varint()
		default:
			return dst, false
		}
	}
	if n := uint32(dropped); n > 0 {
		resAttrs = append(resAttrs, model.Attr{Key: "resource.dropped_attributes_count", Value: model.IntValue(int64(n))})
	}
	if svc == "" {
		svc = UnknownService
	}
	var stream labels.Labels
	if ns != "" {
		stream = labels.FromStrings(LabelService, svc, LabelNamespace, ns)
	} else {
		stream = labels.FromStrings(LabelService, svc)
	}
	p = pb{b: b}
	for p.more() {
		f, _, _ := p.tag()
		s, _ := p.bytes()
		if f == 2 {
			if dst, ok = decodeScopeSpans(dst, ar, tenant, stream, resAttrs, s); !ok {
				return dst, false
			}
		}
	}
	return dst, true
}

func decodeScopeSpans(dst []model.Event, ar *arena, tenant string, stream labels.Labels, resAttrs []model.Attr, b []byte) ([]model.Event, bool) {
	// Field 1 is the scope; 2 the spans (below); 3 the schema URL.
	scope, ok := headerField(b)
	if !ok {
		return dst, false
	}
	nattr, ok := countField(scope, 3)
	if !ok {
		return dst, false
	}
	var name, version string
	p := pb{b: scope}
	for p.more() {
		f, wt, _ := p.tag()
		switch {
		case f == 1 && wt == wtLen:
			s, _ := p.bytes()
			name = str(s)
		case f == 2 && wt == wtLen:
			s, _ := p.bytes()
			version = str(s)
		case f == 3 && wt == wtLen:
			p.bytes()
		case f == 4 && wt == wtVarint:
			p.varint()
		default:
			return dst, false
		}
	}
	common := ar.alloc(len(resAttrs) + 2 + nattr)
	common = append(common, resAttrs...)
	if name != "" {
		common = append(common, model.Attr{Key: FieldScopeName, Value: model.StringValue(name)})
	}
	if version != "" {
		common = append(common, model.Attr{Key: FieldScopeVersion, Value: model.StringValue(version)})
	}
	p = pb{b: scope}
	for p.more() {
		f, wt, _ := p.tag()
		if f == 3 {
			s, _ := p.bytes()
			a, ok := decodeKV(s)
			if !ok {
				return dst, false
			}
			common = append(common, model.Attr{Key: PrefixScopeAttr + a.key, Value: a.val})
			continue
		}
		p.skip(wt)
	}
	p = pb{b: b}
	for p.more() {
		f, _, _ := p.tag()
		s, _ := p.bytes()
		if f == 2 {
			if dst, ok = decodeSpan(dst, ar, tenant, stream, common, s); !ok {
				return dst, false
			}
		}
	}
	return dst, true
}

// spanFields are a span's scalar fields, read in a first pass.
type spanFields struct {
	traceID                       model.TraceID
	spanID, parentID              model.SpanID
	traceState, name, statusMsg   string
	kind, statusCode              int32
	start, end                    uint64
	flags                         uint32
	droppedAttrs, droppedEvents   uint32
	droppedLinks                  uint32
	nattrs, nevents, nlinks, nsts int
}

// fixedID copies an id of exactly len(dst) bytes (or none) into dst.
func fixedID(dst, s []byte) bool {
	switch len(s) {
	case 0:
		clear(dst)
		return true
	case len(dst):
		copy(dst, s)
		return true
	}
	return false
}

func readSpanFields(b []byte, sf *spanFields) bool {
	p := pb{b: b}
	for p.more() {
		f, wt, ok := p.tag()
		if !ok {
			return false
		}
		switch {
		case wt == wtLen && f <= 15 && f != 6 && f != 7 && f != 8 && f != 10 && f != 12 && f != 14:
			s, ok := p.bytes()
			if !ok {
				return false
			}
			switch f {
			case 1:
				ok = fixedID(sf.traceID[:], s)
			case 2:
				ok = fixedID(sf.spanID[:], s)
			case 3:
				sf.traceState = str(s)
			case 4:
				ok = fixedID(sf.parentID[:], s)
			case 5:
				sf.name = str(s)
			case 9:
				sf.nattrs++
			case 11:
				sf.nevents++
			case 13:
				sf.nlinks++
			case 15:
				sf.nsts++
				ok = sf.nsts == 1 && readStatus(s, sf)
			}
			if !ok {
				return false
			}
		case wt == wtVarint && (f == 6 || f == 10 || f == 12 || f == 14):
			n, ok := p.varint()
			if !ok {
				return false
			}
			switch f {
			case 6:
				sf.kind = int32(n)
			case 10:
				sf.droppedAttrs = uint32(n)
			case 12:
				sf.droppedEvents = uint32(n)
			case 14:
				sf.droppedLinks = uint32(n)
			}
		case wt == wtI64 && (f == 7 || f == 8):
			n, ok := p.fixed64()
			if !ok {
				return false
			}
			if f == 7 {
				sf.start = n
			} else {
				sf.end = n
			}
		case wt == wtI32 && f == 16:
			n, ok := p.fixed32()
			if !ok {
				return false
			}
			sf.flags = n
		default:
			return false
		}
	}
	return true
}

func readStatus(b []byte, sf *spanFields) bool {
	p := pb{b: b}
	for p.more() {
		f, wt, ok := p.tag()
		if !ok {
			return false
		}
		switch {
		case f == 2 && wt == wtLen:
			s, ok := p.bytes()
			if !ok {
				return false
			}
			sf.statusMsg = str(s)
		case f == 3 && wt == wtVarint:
			n, ok := p.varint()
			if !ok {
				return false
			}
			sf.statusCode = int32(n)
		default:
			return false
		}
	}
	return true
}

func decodeSpan(dst []model.Event, ar *arena, tenant string, stream labels.Labels, common []model.Attr, b []byte) ([]model.Event, bool) {
	var sf spanFields
	if !readSpanFields(b, &sf) {
		return dst, false
	}
	start, end := int64(sf.start), int64(sf.end)
	dur := max(end-start, 0)
	extra := 0
	if sf.nlinks > 0 {
		extra++
	}
	if sf.traceState != "" {
		extra++
	}
	if sf.flags != 0 {
		extra++
	}
	if sf.droppedAttrs > 0 || sf.droppedEvents > 0 || sf.droppedLinks > 0 {
		extra += 3
	}
	attrs := ar.alloc(len(common) + sf.nattrs + extra)
	attrs = append(attrs, common...)
	if sf.nattrs > 0 {
		p := pb{b: b}
		for p.more() {
			f, wt, _ := p.tag()
			if f != 9 || wt != wtLen {
				p.skip(wt)
				continue
			}
			s, _ := p.bytes()
			a, ok := decodeKV(s)
			if !ok {
				return dst, false
			}
			attrs = append(attrs, model.Attr{Key: SpanAttrKey(a.key), Value: a.val})
		}
	}
	if sf.traceState != "" {
		attrs = append(attrs, model.Attr{Key: FieldTraceState, Value: model.StringValue(sf.traceState)})
	}
	if sf.flags != 0 {
		attrs = append(attrs, model.Attr{Key: FieldFlags, Value: model.IntValue(int64(sf.flags))})
	}
	if sf.droppedAttrs > 0 {
		attrs = append(attrs, model.Attr{Key: FieldDroppedAttrs, Value: model.IntValue(int64(sf.droppedAttrs))})
	}
	if sf.droppedEvents > 0 {
		attrs = append(attrs, model.Attr{Key: FieldDroppedEvents, Value: model.IntValue(int64(sf.droppedEvents))})
	}
	if sf.droppedLinks > 0 {
		attrs = append(attrs, model.Attr{Key: FieldDroppedLinks, Value: model.IntValue(int64(sf.droppedLinks))})
	}
	if sf.nlinks > 0 {
		links, ok := decodeProtoLinks(b, sf.nlinks)
		if !ok {
			return dst, false
		}
		attrs = append(attrs, model.Attr{Key: FieldLinks, Value: model.StringValue(links)})
	}
	row := model.Event{
		Tenant:        tenant,
		Signal:        model.SignalSpan,
		Stream:        stream,
		Time:          start,
		TraceID:       sf.traceID,
		SpanID:        sf.spanID,
		ParentSpanID:  sf.parentID,
		Name:          sf.name,
		Kind:          model.SpanKind(sf.kind),
		StatusCode:    model.StatusCode(sf.statusCode),
		StatusMessage: sf.statusMsg,
		Duration:      dur,
		Attrs:         attrs,
	}
	if row.Kind > model.SpanKindConsumer {
		row.Kind = model.SpanKindUnspecified
	}
	if row.StatusCode > model.StatusError {
		row.StatusCode = model.StatusUnset
	}
	dst = append(dst, row)
	if sf.nevents == 0 {
		return dst, true
	}
	p := pb{b: b}
	for p.more() {
		f, wt, _ := p.tag()
		if f != 11 || wt != wtLen {
			p.skip(wt)
			continue
		}
		s, _ := p.bytes()
		var ok bool
		if dst, ok = decodeEvent(dst, ar, &row, s); !ok {
			return dst, false
		}
	}
	return dst, true
}

func decodeEvent(dst []model.Event, ar *arena, span *model.Event, b []byte) ([]model.Event, bool) {
	var t uint64
	var name string
	var dropped uint32
	nattr := 0
	p := pb{b: b}
	for p.more() {
		f, wt, ok := p.tag()
		if !ok {
			return dst, false
		}
		switch {
		case f == 1 && wt == wtI64:
			t, ok = p.fixed64()
		case f == 2 && wt == wtLen:
			var s []byte
			s, ok = p.bytes()
			name = str(s)
		case f == 3 && wt == wtLen:
			_, ok = p.bytes()
			nattr++
		case f == 4 && wt == wtVarint:
			var n uint64
			n, ok = p.varint()
			dropped = uint32(n)
		default:
			return dst, false
		}
		if !ok {
			return dst, false
		}
	}
	eattrs := ar.alloc(nattr + 1)
	if nattr > 0 {
		p = pb{b: b}
		for p.more() {
			f, wt, _ := p.tag()
			if f != 3 {
				p.skip(wt)
				continue
			}
			s, _ := p.bytes()
			a, ok := decodeKV(s)
			if !ok {
				return dst, false
			}
			eattrs = append(eattrs, model.Attr{Key: SpanAttrKey(a.key), Value: a.val})
		}
	}
	if dropped > 0 {
		eattrs = append(eattrs, model.Attr{Key: FieldDroppedAttrs, Value: model.IntValue(int64(dropped))})
	}
	ts := int64(t)
	if ts == 0 {
		ts = span.Time
	}
	return append(dst, model.Event{
		Tenant:  span.Tenant,
		Signal:  model.SignalSpanEvent,
		Stream:  span.Stream,
		Time:    ts,
		TraceID: span.TraceID,
		SpanID:  span.SpanID,
		Name:    name,
		Attrs:   eattrs,
	}), true
}

// decodeProtoLinks renders a span's links (field 13 of span b) as encodeLinks
// does. Links are rare, so this path may allocate.
func decodeProtoLinks(b []byte, n int) (string, bool) {
	out := make([]Link, 0, n)
	p := pb{b: b}
	for p.more() {
		f, wt, _ := p.tag()
		if f != 13 || wt != wtLen {
			p.skip(wt)
			continue
		}
		s, _ := p.bytes()
		var l Link
		var tid model.TraceID
		var sid model.SpanID
		q := pb{b: s}
		for q.more() {
			g, wt, ok := q.tag()
			if !ok {
				return "", false
			}
			switch {
			case g == 1 && wt == wtLen:
				var v []byte
				v, ok = q.bytes()
				ok = ok && fixedID(tid[:], v)
			case g == 2 && wt == wtLen:
				var v []byte
				v, ok = q.bytes()
				ok = ok && fixedID(sid[:], v)
			case g == 3 && wt == wtLen:
				var v []byte
				v, ok = q.bytes()
				l.TraceState = string(v)
			case g == 4 && wt == wtLen:
				var v []byte
				if v, ok = q.bytes(); ok {
					var a kv
					if a, ok = decodeKV(v); ok {
						l.AttrsJSON = append(l.AttrsJSON, jsonAttr{Key: a.key, Type: a.val.Type.String(), Value: a.val.Text()})
					}
				}
			case g == 5 && wt == wtVarint:
				var v uint64
				v, ok = q.varint()
				l.DroppedAttrs = uint32(v)
			case g == 6 && wt == wtI32:
				l.Flags, ok = q.fixed32()
			default:
				ok = false
			}
			if !ok {
				return "", false
			}
		}
		l.TraceID, l.SpanID = tid.String(), sid.String()
		out = append(out, l)
	}
	enc, err := json.Marshal(out)
	if err != nil {
		return "", false
	}
	return string(enc), true
}
