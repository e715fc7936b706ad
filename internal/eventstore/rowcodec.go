package eventstore

import (
	"encoding/binary"
	"fmt"

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
	tenant := skey[:i] // shares the key's memory
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
	return &stream{key: skey, tenant: tenant, signal: sig, labels: b.Labels()}, nil
}

// decodeBatch decodes a payload into events whose strings alias payload
// (which must stay unmodified while they live). Attribute slices share one
// allocation.
func decodeBatch(payload []byte, res streamResolver, dst []model.Event) ([]model.Event, []*stream, error) {
	d := &decBuf{b: payload}
	n := d.count(8, "row count")
	if d.err != nil {
		return nil, nil, d.err
	}
	if dst == nil {
		dst = make([]model.Event, 0, n)
	}
	dst = dst[:0]
	streams := make([]*stream, 0, n)
	var attrs []model.Attr
	strv := func(what string) string {
		l := d.uvarint(what)
		if l > uint64(len(d.b)) {
			d.fail(what)
			return ""
		}
		return bytesToString(d.bytes(int(l), what))
	}
	for range n {
		kl := d.uvarint("stream key")
		key := d.bytes(int(min(kl, uint64(len(d.b)+1))), "stream key")
		if d.err != nil {
			return nil, nil, d.err
		}
		st, err := res.resolve(key)
		if err != nil {
			return nil, nil, err
		}
		e := model.Event{Tenant: st.tenant, Signal: st.signal, Stream: st.labels}
		e.Time = d.varint("time")
		e.Body = strv("body")
		e.Severity = strv("severity")
		fl := d.byte1("id flags")
		if fl&idTrace != 0 {
			copy(e.TraceID[:], d.bytes(16, "trace id"))
		}
		if fl&idSpan != 0 {
			copy(e.SpanID[:], d.bytes(8, "span id"))
		}
		if fl&idParent != 0 {
			copy(e.ParentSpanID[:], d.bytes(8, "parent span id"))
		}
		e.Name = strv("name")
		e.Kind = model.SpanKind(d.byte1("kind"))
		e.StatusCode = model.StatusCode(d.byte1("status code"))
		e.StatusMessage = strv("status message")
		e.Duration = d.varint("duration")
		na := d.count(2, "attr count")
		if attrs == nil && na > 0 {
			// Rows of a batch tend to have similar attribute counts.
			attrs = make([]model.Attr, 0, min(n*na+na, len(payload)/4))
		}
		start := len(attrs)
		for range na {
			var a model.Attr
			a.Key = strv("attr key")
			a.Value.Type = model.ValueType(d.byte1("attr type"))
			switch a.Value.Type {
			case model.TypeString:
				a.Value.Str = strv("attr value")
			case model.TypeInt:
				a.Value.Num = uint64(d.varint("attr value"))
			case model.TypeFloat:
				a.Value.Num = d.u64("attr value")
			case model.TypeBool:
				a.Value.Num = uint64(d.byte1("attr value") & 1)
			default:
				if d.err == nil {
					d.err = fmt.Errorf("decode row: attribute type %d", a.Value.Type)
				}
			}
			attrs = append(attrs, a)
		}
		if d.err != nil {
			return nil, nil, d.err
		}
		if na > 0 {
			e.Attrs = attrs[start:len(attrs):len(attrs)]
		}
		dst = append(dst, e)
		streams = append(streams, st)
	}
	if len(d.b) != 0 {
		return nil, nil, fmt.Errorf("decode batch: %d trailing bytes", len(d.b))
	}
	return dst, streams, nil
}
