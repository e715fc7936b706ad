package eventstore

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/model"
)

// WAL record payload: a batch of rows (docs/format/wal.md).
//
//	uvarint rowCount, then per row:
//	  str streamKey        tenant 0xff signal (name 0xfe value 0xff)*
//	  varint time
//	  str body, str severity
//	  byte idFlags (1 trace, 2 span, 4 parent) + the present ids
//	  str name, byte kind, byte statusCode, str statusMessage, varint duration
//	  uvarint attrCount, per attr: str key, byte type, str | varint | u64 | byte

const (
	idTrace  = 1
	idSpan   = 2
	idParent = 4
)

func appendRow(dst []byte, e *model.Event, keyBuf []byte) ([]byte, []byte) {
	keyBuf = appendStreamKey(keyBuf[:0], e.Tenant, e.Signal, e.Stream)
	dst = binary.AppendUvarint(dst, uint64(len(keyBuf)))
	dst = append(dst, keyBuf...)
	dst = binary.AppendVarint(dst, e.Time)
	dst = appendStr(dst, e.Body)
	dst = appendStr(dst, e.Severity)
	var fl byte
	if !e.TraceID.IsZero() {
		fl |= idTrace
	}
	if !e.SpanID.IsZero() {
		fl |= idSpan
	}
	if !e.ParentSpanID.IsZero() {
		fl |= idParent
	}
	dst = append(dst, fl)
	if fl&idTrace != 0 {
		dst = append(dst, e.TraceID[:]...)
	}
	if fl&idSpan != 0 {
		dst = append(dst, e.SpanID[:]...)
	}
	if fl&idParent != 0 {
		dst = append(dst, e.ParentSpanID[:]...)
	}
	dst = appendStr(dst, e.Name)
	dst = append(dst, byte(e.Kind), byte(e.StatusCode))
	dst = appendStr(dst, e.StatusMessage)
	dst = binary.AppendVarint(dst, e.Duration)
	dst = binary.AppendUvarint(dst, uint64(len(e.Attrs)))
	for i := range e.Attrs {
		a := &e.Attrs[i]
		dst = appendStr(dst, a.Key)
		dst = append(dst, byte(a.Value.Type))
		switch a.Value.Type {
		case model.TypeString:
			dst = appendStr(dst, a.Value.Str)
		case model.TypeInt:
			dst = binary.AppendVarint(dst, a.Value.Int())
		case model.TypeFloat:
			dst = binary.LittleEndian.AppendUint64(dst, a.Value.Num)
		case model.TypeBool:
			dst = append(dst, byte(a.Value.Num))
		}
	}
	return dst, keyBuf
}

// encodeBatch encodes rows as one WAL payload.
func encodeBatch(dst []byte, rows []model.Event) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(rows)))
	var key []byte
	for i := range rows {
		dst, key = appendRow(dst, &rows[i], key)
	}
	return dst
}

// streamResolver maps a stream key to its shared *stream.
type streamResolver interface {
	resolve(key []byte) (*stream, error)
}

// parseStreamKey decodes a stream key.
func parseStreamKey(key []byte) (*stream, error) {
	i := 0
	for i < len(key) && key[i] != 0xff {
		i++
	}
	if i+2 > len(key) {
		return nil, fmt.Errorf("decode stream key: no signal")
	}
	skey := string(key)
	sig := model.Signal(key[i+1])
	if !sig.Valid() {
		return nil, fmt.Errorf("decode stream key: invalid signal %d", sig)
	}
	rest := key[i+2:]
	var b labels.ScratchBuilder
	for len(rest) > 0 {
		j := 0
		for j < len(rest) && rest[j] != 0xfe {
			j++
		}
		k := j + 1
		for k < len(rest) && rest[k] != 0xff {
			k++
		}
		if j >= len(rest) || k >= len(rest) {
			return nil, fmt.Errorf("decode stream key: truncated label")
		}
		b.Add(string(rest[:j]), string(rest[j+1:k]))
		rest = rest[k+1:]
	}
	b.Sort()
	return &stream{key: skey, labels: b.Labels()}, nil
}

// decodeBatch decodes a payload into events whose strings alias payload
// (which must stay unmodified while they live). Attribute slices of many
// rows share one allocation; streams[i] is the stream of events[i].
func decodeBatch(payload []byte, res streamResolver) ([]model.Event, []*stream, error) {
	r := rowReader{b: payload}
	n, err := r.rowCount()
	if err != nil {
		return nil, nil, err
	}
	sc := streamCache{res: res}
	dst := make([]model.Event, n)
	streams := make([]*stream, n)
	var slab []model.Attr
	attrsSeen := 0
	for i := range n {
		st, err := sc.read(&r)
		if err != nil {
			return nil, nil, err
		}
		e := &dst[i]
		e.Tenant, e.Signal, e.Stream = st.tenant(), st.signal(), st.labels
		streams[i] = st
		if err := r.fields(e, func(na int) []model.Attr {
			attrsSeen += na
			if cap(slab)-len(slab) < na {
				// A new slab, sized for the rest of this payload at the
				// average so far; earlier rows keep pointing into the old one.
				slab = make([]model.Attr, 0, max(na, min(attrSlab, attrsSeen*(n-i)/(i+1)+8)))
			}
			start := len(slab)
			slab = slab[:start+na]
			return slab[start : start+na : start+na]
		}); err != nil {
			return nil, nil, err
		}
	}
	if err := r.end(); err != nil {
		return nil, nil, err
	}
	return dst, streams, nil
}

// attrSlab is the most attributes decodeBatch allocates at once (24 KiB).
const attrSlab = 512

// rowCount reads a payload's row count. A row takes at least 13 bytes (see
// the layout above), which bounds the allocation a corrupt count can ask
// for.
func (r *rowReader) rowCount() (int, error) {
	n := r.uvarint()
	if r.bad || n > uint64(len(r.b)/13) {
		return 0, fmt.Errorf("decode row count: count %d exceeds input", n)
	}
	return int(n), nil
}

// end checks that a payload's rows used all of it.
func (r *rowReader) end() error {
	if r.bad {
		return r.fail("row")
	}
	if r.left() != 0 {
		return fmt.Errorf("decode batch: %d trailing bytes", r.left())
	}
	return nil
}

// streamCache resolves the stream keys of a payload's rows. Rows mostly
// repeat the previous row's key, and batches cycle through a few streams, so
// the previous key and a small table by key hash answer most rows without
// asking res. A streamCache is not safe for concurrent use, and must not
// outlive its store: it holds that store's *stream values.
type streamCache struct {
	res     streamResolver
	last    *stream
	lastKey []byte
	slots   [streamCacheSize]*stream
}

const streamCacheSize = 256

// read reads a row's stream key and returns its stream.
func (c *streamCache) read(r *rowReader) (*stream, error) {
	key := r.bytesN(r.uvarint())
	if r.bad {
		return nil, r.fail("stream key")
	}
	if c.last != nil && string(key) == string(c.lastKey) {
		return c.last, nil
	}
	slot := &c.slots[xxhash.Sum64(key)&(streamCacheSize-1)]
	st := *slot
	if st == nil || st.key != string(key) {
		var err error
		if st, err = c.res.resolve(key); err != nil {
			return nil, err
		}
		*slot = st
	}
	c.last, c.lastKey = st, key
	return st, nil
}

// fields decodes a row's fields after its stream key into e, which must be
// zeroed apart from its stream fields; attrs returns room for n attributes.
// It accepts exactly the rows skipFields accepts.
func (r *rowReader) fields(e *model.Event, attrs func(n int) []model.Attr) error {
	e.Time = r.varint()
	var l rowLead
	r.lead(&l)
	// Empty strings are left as zeroed: a pointer store costs a write
	// barrier while the GC marks.
	if l.body != "" {
		e.Body = l.body
	}
	if l.severity != "" {
		e.Severity = l.severity
	}
	e.TraceID, e.SpanID, e.ParentSpanID = l.traceID, l.spanID, l.parentID
	if l.name != "" {
		e.Name = l.name
	}
	e.Kind = model.SpanKind(r.byte1())
	e.StatusCode = model.StatusCode(r.byte1())
	if v := r.str(); v != "" {
		e.StatusMessage = v
	}
	e.Duration = r.varint()
	na, err := r.attrCount()
	if err != nil || na == 0 {
		return err
	}
	as := attrs(na)
	for j := range as {
		a := &as[j]
		a.Key = r.str()
		a.Value.Type = model.ValueType(r.byte1())
		switch a.Value.Type {
		case model.TypeString:
			if v := r.str(); v != "" {
				a.Value.Str = v
			}
		case model.TypeInt:
			a.Value.Num = uint64(r.varint())
		case model.TypeFloat:
			a.Value.Num = r.u64()
		case model.TypeBool:
			a.Value.Num = uint64(r.byte1() & 1)
		default:
			if !r.bad {
				return fmt.Errorf("decode row: attribute type %d", a.Value.Type)
			}
		}
	}
	if r.bad {
		return r.fail("attribute")
	}
	e.Attrs = as
	return nil
}

// rowLead is a row's leading fields, from its body to its name: what trace
// lookups, tiebreaks and level counts read without decoding the rest of a
// head row. Strings alias the payload.
type rowLead struct {
	body, severity, name string
	traceID              model.TraceID
	spanID, parentID     model.SpanID
}

// lead reads a row's leading fields; the reader stands after the row's time.
func (r *rowReader) lead(l *rowLead) {
	l.body = r.str()
	l.severity = r.str()
	fl := r.byte1()
	if fl&idTrace != 0 {
		copy(l.traceID[:], r.bytesN(16))
	}
	if fl&idSpan != 0 {
		copy(l.spanID[:], r.bytesN(8))
	}
	if fl&idParent != 0 {
		copy(l.parentID[:], r.bytesN(8))
	}
	l.name = r.str()
}

// attrCount reads a row's attribute count, bounded by the bytes left.
func (r *rowReader) attrCount() (int, error) {
	na := r.uvarint()
	if r.bad {
		return 0, r.fail("row")
	}
	if na > uint64(r.left()/2) {
		return 0, fmt.Errorf("decode attr count: count %d exceeds input", na)
	}
	return int(na), nil
}

// skipFields checks a row's fields after its stream key without decoding
// them and returns the row's time. It accepts exactly the rows fields
// accepts.
func (r *rowReader) skipFields() (int64, error) {
	t := r.varint()
	r.skipStr()
	r.skipStr()
	fl := r.byte1()
	ids := 0
	if fl&idTrace != 0 {
		ids += 16
	}
	if fl&idSpan != 0 {
		ids += 8
	}
	if fl&idParent != 0 {
		ids += 8
	}
	r.bytesN(uint64(ids))
	r.skipStr()
	r.byte1()
	r.byte1()
	r.skipStr()
	r.varint()
	na, err := r.attrCount()
	if err != nil {
		return 0, err
	}
	for range na {
		r.skipStr()
		switch typ := model.ValueType(r.byte1()); typ {
		case model.TypeString:
			r.skipStr()
		case model.TypeInt:
			r.varint()
		case model.TypeFloat:
			r.u64()
		case model.TypeBool:
			r.byte1()
		default:
			if !r.bad {
				return 0, fmt.Errorf("decode row: attribute type %d", typ)
			}
		}
	}
	if r.bad {
		return 0, r.fail("attribute")
	}
	return t, nil
}

// rowReader reads WAL row payloads. Reads past the end or malformed varints
// set bad and return zero values; callers check bad once per row.
type rowReader struct {
	b   []byte
	off int
	bad bool
}

func (r *rowReader) left() int { return len(r.b) - r.off }

func (r *rowReader) fail(what string) error {
	return fmt.Errorf("decode %s at offset %d: %w", what, r.off, errShort)
}

func (r *rowReader) uvarint() uint64 {
	if r.off < len(r.b) && r.b[r.off] < 0x80 {
		v := uint64(r.b[r.off])
		r.off++
		return v
	}
	return r.uvarintSlow()
}

func (r *rowReader) uvarintSlow() uint64 {
	if r.off > len(r.b) {
		r.bad = true
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.bad = true
		r.off = len(r.b)
		return 0
	}
	r.off += n
	return v
}

func (r *rowReader) varint() int64 {
	u := r.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

func (r *rowReader) byte1() byte {
	if r.off >= len(r.b) {
		r.bad = true
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *rowReader) u64() uint64 {
	if len(r.b)-r.off < 8 {
		r.bad = true
		r.off = len(r.b)
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v
}

// bytesN returns n bytes aliasing the payload.
func (r *rowReader) bytesN(n uint64) []byte {
	if n > uint64(len(r.b)-r.off) {
		r.bad = true
		r.off = len(r.b)
		return nil
	}
	v := r.b[r.off : r.off+int(n) : r.off+int(n)]
	r.off += int(n)
	return v
}

// skipStr steps over a length-prefixed string.
func (r *rowReader) skipStr() { r.bytesN(r.uvarint()) }

// str returns a length-prefixed string aliasing the payload.
func (r *rowReader) str() string {
	n := r.uvarint()
	if n == 0 {
		return ""
	}
	return bytesToString(r.bytesN(n))
}
