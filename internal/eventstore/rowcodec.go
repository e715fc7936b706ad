package eventstore

import (
	"encoding/binary"
	"fmt"
	"slices"

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
	d := rowDecoder{res: res}
	return d.decode(payload, false)
}

// rowDecoder decodes WAL row payloads. It runs for every appended batch and
// every replayed WAL record, so it reads with inlined fast paths (one-byte
// varints) instead of decBuf, resolves repeated stream keys through a small
// cache instead of the registry, and allocates only slabs: events and
// attributes of many rows share allocations, and with shared set (replay,
// where every row lives until the same flush) the slabs carry over from one
// payload to the next. A rowDecoder is not safe for concurrent use.
type rowDecoder struct {
	res    streamResolver
	events []model.Event // unused rest of the shared event slab
	attrs  []model.Attr  // unused rest of the current attribute slab
	// cache holds resolved streams by a hash of their key; a miss (or a
	// collision) asks res.
	cache [streamCacheSize]*stream
	// streams is the per-row stream scratch reused by shared decoding.
	streams []*stream
}

const (
	streamCacheSize = 256
	// eventSlab and attrSlab are how many events and attributes are
	// allocated at once when slabs are shared (94 KiB and 24 KiB).
	eventSlab = 512
	attrSlab  = 512
)

// decode decodes payload. With shared false the events are a fresh slice of
// their own and streams is too; with shared true both come from the
// decoder's slabs and scratch, so streams is valid only until the next call.
func (d *rowDecoder) decode(payload []byte, shared bool) ([]model.Event, []*stream, error) {
	r := rowReader{b: payload}
	n64 := r.uvarint()
	// A row takes at least 13 bytes (see the layout above), which bounds the
	// allocation a corrupt count can ask for.
	if r.bad || n64 > uint64(len(payload)/13) {
		return nil, nil, fmt.Errorf("decode row count: count %d exceeds input", n64)
	}
	n := int(n64)
	// Fresh, zeroed rows: only the fields present are stored below.
	var dst []model.Event
	var streams []*stream
	if shared {
		if len(d.events) < n {
			d.events = make([]model.Event, max(n, eventSlab))
		}
		dst, d.events = d.events[:n:n], d.events[n:]
		d.streams = slices.Grow(d.streams[:0], n)[:n]
		streams = d.streams
	} else {
		dst = make([]model.Event, n)
		streams = make([]*stream, n)
		d.attrs = nil
	}
	var lastKey []byte
	var lastSt *stream
	var tenant string // lastSt's, read from its key once
	var sig model.Signal
	attrsSeen := 0
	for i := range n {
		key := r.bytesN(r.uvarint())
		if r.bad {
			return nil, nil, r.fail("stream key")
		}
		st := lastSt
		if st == nil || string(key) != string(lastKey) {
			slot := &d.cache[xxhash.Sum64(key)&(streamCacheSize-1)]
			if st = *slot; st == nil || st.key != string(key) {
				var err error
				if st, err = d.res.resolve(key); err != nil {
					return nil, nil, err
				}
				*slot = st
			}
			lastSt, lastKey = st, key
			tenant, sig = st.tenant(), st.signal()
		}
		e := &dst[i]
		e.Tenant, e.Signal, e.Stream = tenant, sig, st.labels
		streams[i] = st
		e.Time = r.varint()
		// Empty strings are left as zeroed: a pointer store costs a write
		// barrier while the GC marks, which replay makes it do often.
		if v := r.str(); v != "" {
			e.Body = v
		}
		if v := r.str(); v != "" {
			e.Severity = v
		}
		fl := r.byte1()
		if fl&idTrace != 0 {
			copy(e.TraceID[:], r.bytesN(16))
		}
		if fl&idSpan != 0 {
			copy(e.SpanID[:], r.bytesN(8))
		}
		if fl&idParent != 0 {
			copy(e.ParentSpanID[:], r.bytesN(8))
		}
		if v := r.str(); v != "" {
			e.Name = v
		}
		e.Kind = model.SpanKind(r.byte1())
		e.StatusCode = model.StatusCode(r.byte1())
		if v := r.str(); v != "" {
			e.StatusMessage = v
		}
		e.Duration = r.varint()
		na64 := r.uvarint()
		if r.bad {
			return nil, nil, r.fail("row")
		}
		if na64 > uint64(r.left()/2) {
			return nil, nil, fmt.Errorf("decode attr count: count %d exceeds input", na64)
		}
		na := int(na64)
		if na == 0 {
			continue
		}
		attrsSeen += na
		if cap(d.attrs)-len(d.attrs) < na {
			// A new slab; earlier rows keep pointing into the old one.
			// Unshared, it is sized for the rest of this payload at the
			// average so far (small batches would otherwise hold most of a
			// slab unused until they are flushed).
			size := attrSlab
			if !shared {
				size = min(size, attrsSeen*(n-i)/(i+1)+8)
			}
			d.attrs = make([]model.Attr, 0, max(na, size))
		}
		start := len(d.attrs)
		d.attrs = d.attrs[:start+na]
		attrs := d.attrs[start : start+na : start+na]
		for j := range attrs {
			a := &attrs[j]
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
					return nil, nil, fmt.Errorf("decode row: attribute type %d", a.Value.Type)
				}
			}
		}
		if r.bad {
			return nil, nil, r.fail("attribute")
		}
		e.Attrs = attrs
	}
	if r.bad {
		return nil, nil, r.fail("row")
	}
	if r.left() != 0 {
		return nil, nil, fmt.Errorf("decode batch: %d trailing bytes", r.left())
	}
	return dst, streams, nil
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

// str returns a length-prefixed string aliasing the payload.
func (r *rowReader) str() string {
	n := r.uvarint()
	if n == 0 {
		return ""
	}
	return bytesToString(r.bytesN(n))
}
