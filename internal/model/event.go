// Package model holds the value types shared by ingest, storage and query for
// logs, spans and span events: one row type, Event, and its typed attribute
// values. It performs no I/O. Values are plain data; an Event is safe for
// concurrent reads but not for concurrent mutation.
package model

import (
	"encoding/hex"
	"fmt"
	"math"
	"strconv"

	"github.com/prometheus/prometheus/model/labels"
)

// Signal says what kind of row an Event is.
type Signal uint8

// Signals. The zero value is invalid so a forgotten field is caught.
const (
	SignalLog       Signal = 1
	SignalSpan      Signal = 2
	SignalSpanEvent Signal = 3
)

// String returns "log", "span" or "span_event".
func (s Signal) String() string {
	switch s {
	case SignalLog:
		return "log"
	case SignalSpan:
		return "span"
	case SignalSpanEvent:
		return "span_event"
	}
	return "signal(" + strconv.Itoa(int(s)) + ")"
}

// Valid reports whether s is one of the defined signals.
func (s Signal) Valid() bool { return s >= SignalLog && s <= SignalSpanEvent }

// ValueType is the type of an attribute value.
type ValueType uint8

// Value types. The zero value means "no value".
const (
	TypeNone   ValueType = 0
	TypeString ValueType = 1
	TypeInt    ValueType = 2
	TypeFloat  ValueType = 3
	TypeBool   ValueType = 4
)

// String returns the type name.
func (t ValueType) String() string {
	switch t {
	case TypeNone:
		return "none"
	case TypeString:
		return "string"
	case TypeInt:
		return "int"
	case TypeFloat:
		return "float"
	case TypeBool:
		return "bool"
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// Value is a typed attribute value. Str holds strings; Num holds the bits of
// an int (int64), a float (math.Float64bits) or a bool (0 or 1).
type Value struct {
	Type ValueType
	Str  string
	Num  uint64
}

// StringValue, IntValue, FloatValue and BoolValue build Values.
func StringValue(s string) Value { return Value{Type: TypeString, Str: s} }

// IntValue returns an int Value.
func IntValue(i int64) Value { return Value{Type: TypeInt, Num: uint64(i)} }

// FloatValue returns a float Value.
func FloatValue(f float64) Value { return Value{Type: TypeFloat, Num: math.Float64bits(f)} }

// BoolValue returns a bool Value.
func BoolValue(b bool) Value {
	v := Value{Type: TypeBool}
	if b {
		v.Num = 1
	}
	return v
}

// Int returns the value as int64 (valid for TypeInt).
func (v Value) Int() int64 { return int64(v.Num) }

// Float returns the value as float64 (valid for TypeFloat).
func (v Value) Float() float64 { return math.Float64frombits(v.Num) }

// Bool returns the value as bool (valid for TypeBool).
func (v Value) Bool() bool { return v.Num != 0 }

// Number returns the value as a float64 for numeric comparisons; strings are
// parsed. ok is false when the value is not a number.
func (v Value) Number() (f float64, ok bool) {
	switch v.Type {
	case TypeInt:
		return float64(v.Int()), true
	case TypeFloat:
		return v.Float(), true
	case TypeBool:
		return float64(v.Num), true
	case TypeString:
		f, err := strconv.ParseFloat(v.Str, 64)
		return f, err == nil
	}
	return 0, false
}

// AppendText appends the value's text form to dst.
func (v Value) AppendText(dst []byte) []byte {
	switch v.Type {
	case TypeString:
		return append(dst, v.Str...)
	case TypeInt:
		return strconv.AppendInt(dst, v.Int(), 10)
	case TypeFloat:
		return strconv.AppendFloat(dst, v.Float(), 'g', -1, 64)
	case TypeBool:
		return strconv.AppendBool(dst, v.Bool())
	}
	return dst
}

// Text returns the value's text form ("" for TypeNone).
func (v Value) Text() string {
	if v.Type == TypeString {
		return v.Str
	}
	return string(v.AppendText(nil))
}

// Attr is one attribute: a key (flattened JSON paths use dots, e.g.
// "http.status") and a typed value.
type Attr struct {
	Key   string
	Value Value
}

// TraceID is a 16-byte trace identifier; all zeros means "none".
type TraceID [16]byte

// SpanID is an 8-byte span identifier; all zeros means "none".
type SpanID [8]byte

// IsZero reports whether the id is absent.
func (t TraceID) IsZero() bool { return t == TraceID{} }

// String returns the lowercase hex form.
func (t TraceID) String() string { return hex.EncodeToString(t[:]) }

// IsZero reports whether the id is absent.
func (s SpanID) IsZero() bool { return s == SpanID{} }

// String returns the lowercase hex form.
func (s SpanID) String() string { return hex.EncodeToString(s[:]) }

// ParseTraceID parses 32 hex digits (shorter inputs are left-padded with
// zeros, as some protocols send 64-bit trace ids as 16 digits).
func ParseTraceID(s string) (TraceID, error) {
	var id TraceID
	if len(s) == 0 || len(s) > 32 || len(s)%2 != 0 {
		return id, fmt.Errorf("parse trace id %q: want 2 to 32 hex digits", s)
	}
	if _, err := hex.Decode(id[16-len(s)/2:], []byte(s)); err != nil {
		return TraceID{}, fmt.Errorf("parse trace id %q: %w", s, err)
	}
	return id, nil
}

// ParseSpanID parses 16 hex digits.
func ParseSpanID(s string) (SpanID, error) {
	var id SpanID
	if len(s) != 16 {
		return id, fmt.Errorf("parse span id %q: want 16 hex digits", s)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return SpanID{}, fmt.Errorf("parse span id %q: %w", s, err)
	}
	return id, nil
}

// SpanKind follows OpenTelemetry's numbering.
type SpanKind uint8

// Span kinds.
const (
	SpanKindUnspecified SpanKind = 0
	SpanKindInternal    SpanKind = 1
	SpanKindServer      SpanKind = 2
	SpanKindClient      SpanKind = 3
	SpanKindProducer    SpanKind = 4
	SpanKindConsumer    SpanKind = 5
)

// StatusCode follows OpenTelemetry's numbering.
type StatusCode uint8

// Status codes.
const (
	StatusUnset StatusCode = 0
	StatusOK    StatusCode = 1
	StatusError StatusCode = 2
)

// Event is one row: a log record, a span or a span event.
//
// Stream holds the few low-cardinality resource attributes that identify the
// stream the row belongs to (service, namespace, environment...); everything
// else, however high its cardinality, goes to Attrs. Intrinsic fields that do
// not apply to a signal are left zero.
type Event struct {
	Tenant string
	Signal Signal
	Stream labels.Labels
	// Time is the event time (span start for spans) in Unix nanoseconds.
	Time int64

	// Logs (span events use Body for the event name too).
	Body     string
	Severity string

	// Spans, span events and logs correlated with a trace.
	TraceID       TraceID
	SpanID        SpanID
	ParentSpanID  SpanID
	Name          string
	Kind          SpanKind
	StatusCode    StatusCode
	StatusMessage string
	Duration      int64 // nanoseconds

	// Attrs are the arbitrary attributes, keys unique within an event.
	Attrs []Attr
}

// Field names of the intrinsic fields, as used by queries. Attributes are
// stored and queried under their own keys; an attribute may not use one of
// these reserved names (Validate reports it).
const (
	FieldTime          = "_time"
	FieldBody          = "_msg"
	FieldSeverity      = "severity"
	FieldTraceID       = "trace_id"
	FieldSpanID        = "span_id"
	FieldParentSpanID  = "parent_span_id"
	FieldName          = "name"
	FieldKind          = "kind"
	FieldStatusCode    = "status_code"
	FieldStatusMessage = "status_message"
	FieldDuration      = "duration"
)

// IsIntrinsic reports whether name is the name of an intrinsic field.
func IsIntrinsic(name string) bool {
	switch name {
	case FieldTime, FieldBody, FieldSeverity, FieldTraceID, FieldSpanID, FieldParentSpanID,
		FieldName, FieldKind, FieldStatusCode, FieldStatusMessage, FieldDuration:
		return true
	}
	return false
}

// Field returns the value of an intrinsic field or attribute by name; ok is
// false when the row has no such field (zero intrinsics count as absent,
// except _time).
func (e *Event) Field(name string) (v Value, ok bool) {
	switch name {
	case FieldTime:
		return IntValue(e.Time), true
	case FieldBody:
		return StringValue(e.Body), e.Body != ""
	case FieldSeverity:
		return StringValue(e.Severity), e.Severity != ""
	case FieldTraceID:
		return StringValue(e.TraceID.String()), !e.TraceID.IsZero()
	case FieldSpanID:
		return StringValue(e.SpanID.String()), !e.SpanID.IsZero()
	case FieldParentSpanID:
		return StringValue(e.ParentSpanID.String()), !e.ParentSpanID.IsZero()
	case FieldName:
		return StringValue(e.Name), e.Name != ""
	case FieldKind:
		return IntValue(int64(e.Kind)), e.Kind != 0
	case FieldStatusCode:
		return IntValue(int64(e.StatusCode)), e.StatusCode != 0
	case FieldStatusMessage:
		return StringValue(e.StatusMessage), e.StatusMessage != ""
	case FieldDuration:
		return IntValue(e.Duration), e.Duration != 0
	}
	for i := range e.Attrs {
		if e.Attrs[i].Key == name {
			return e.Attrs[i].Value, e.Attrs[i].Value.Type != TypeNone
		}
	}
	return Value{}, false
}

// Validate checks the invariants the store relies on.
func (e *Event) Validate() error {
	if !e.Signal.Valid() {
		return fmt.Errorf("validate event: invalid signal %d", e.Signal)
	}
	for i := range e.Attrs {
		a := &e.Attrs[i]
		if a.Key == "" {
			return fmt.Errorf("validate event: empty attribute key")
		}
		if IsIntrinsic(a.Key) {
			return fmt.Errorf("validate event: attribute key %q is reserved for an intrinsic field", a.Key)
		}
		if a.Value.Type > TypeBool {
			return fmt.Errorf("validate event: attribute %q has invalid type %d", a.Key, a.Value.Type)
		}
	}
	return nil
}

// Size returns an estimate of the event's memory footprint in bytes, used for
// memory budgets.
func (e *Event) Size() int {
	n := 160 + len(e.Tenant) + len(e.Body) + len(e.Severity) + len(e.Name) + len(e.StatusMessage)
	for i := range e.Attrs {
		n += 40 + len(e.Attrs[i].Key) + len(e.Attrs[i].Value.Str)
	}
	return n
}
