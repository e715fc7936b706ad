// Package logstore is the log schema on the event store: it turns records
// from every log ingest protocol (OTLP, Loki push, Elasticsearch bulk,
// syslog, JSON lines) into model.Event rows, writes them with exactly-once
// handling of agent batch ids (Writer), and adapts the store to the LogQL
// engine (Source) with line filters, label matchers, time range, direction
// and limit pushed down into eventstore queries; Source.Counts answers
// count_over_time windows from the store's per-bucket counts without
// reading lines.
//
// Schema: a row's stream is a small configurable set of labels taken from
// resource attributes or incoming labels (service.name → service_name, …;
// service_name="unknown_service" when none is present); everything else is
// an attribute column. Severity is shown to LogQL as the "level" metadata
// label, trace and span ids as trace_id and span_id. Attribute keys are stored in
// Loki's label-name form (dots and other invalid runes become "_"), so a
// LogQL label filter names exactly the stored column and can be pushed down.
// JSON bodies are flattened into attributes with bounded names, sizes and
// counts; a value keeps its own type per row, so a field that is a number in
// one line and a string in another never drops a line.
//
// Schema, Writer and Source are safe for concurrent use.
package logstore

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/model"
)

// StreamLabel maps an incoming attribute or label key to a stream label.
type StreamLabel struct {
	From string // attribute or label key as sent, e.g. "service.name"
	To   string // stream label name, e.g. "service_name"
}

// Options configure a Schema. The zero value of a field selects its default.
type Options struct {
	// StreamLabels are the keys that form a row's stream. Default:
	// service.name, service.namespace, deployment.environment(.name),
	// k8s.namespace.name (and their label forms).
	StreamLabels []StreamLabel
	// MaxFields caps the attributes of one row; the rest are dropped and
	// counted in a "_dropped_fields" attribute. Default 256.
	MaxFields int
	// MaxFieldNameBytes caps an attribute name; longer names are cut.
	// Default 128.
	MaxFieldNameBytes int
	// MaxValueBytes caps an attribute value; longer values are cut. Default 16 KiB.
	MaxValueBytes int
	// MaxLineBytes caps a log line; longer lines are cut. Default 256 KiB.
	MaxLineBytes int
	// MaxDepth caps JSON nesting that is flattened; deeper objects are kept
	// as JSON text. Default 8.
	MaxDepth int
}

// DefaultStreamLabels is the default stream label set.
func DefaultStreamLabels() []StreamLabel {
	return []StreamLabel{
		{"service.name", "service_name"}, {"service_name", "service_name"},
		{"service.namespace", "service_namespace"}, {"service_namespace", "service_namespace"},
		{"deployment.environment", "env"}, {"deployment.environment.name", "env"}, {"env", "env"},
		{"k8s.namespace.name", "namespace"}, {"namespace", "namespace"},
	}
}

// DefaultOptions returns the defaults.
func DefaultOptions() Options {
	return Options{StreamLabels: DefaultStreamLabels(), MaxFields: 256, MaxFieldNameBytes: 128,
		MaxValueBytes: 16 << 10, MaxLineBytes: 256 << 10, MaxDepth: 8}
}

func (o *Options) fill() {
	d := DefaultOptions()
	if o.StreamLabels == nil {
		o.StreamLabels = d.StreamLabels
	}
	if o.MaxFields == 0 {
		o.MaxFields = d.MaxFields
	}
	if o.MaxFieldNameBytes == 0 {
		o.MaxFieldNameBytes = d.MaxFieldNameBytes
	}
	if o.MaxValueBytes == 0 {
		o.MaxValueBytes = d.MaxValueBytes
	}
	if o.MaxLineBytes == 0 {
		o.MaxLineBytes = d.MaxLineBytes
	}
	if o.MaxDepth == 0 {
		o.MaxDepth = d.MaxDepth
	}
}

// Validate reports invalid settings.
func (o Options) Validate() error {
	for _, s := range o.StreamLabels {
		if s.From == "" || s.To == "" || SanitizeKey(s.To, 0) != s.To {
			return fmt.Errorf("validate logstore options: stream label %q → %q: need a key and a valid label name", s.From, s.To)
		}
	}
	if o.MaxFields < 0 || o.MaxFieldNameBytes < 0 || o.MaxValueBytes < 0 || o.MaxLineBytes < 0 || o.MaxDepth < 0 {
		return fmt.Errorf("validate logstore options: limits must not be negative")
	}
	return nil
}

// Schema converts incoming records into rows.
type Schema struct {
	opts   Options
	stream map[string]string // incoming key → stream label
	isLbl  map[string]bool   // stream label names
}

// NewSchema returns a schema with opts (defaults filled in).
func NewSchema(opts Options) (*Schema, error) {
	opts.fill()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	s := &Schema{opts: opts, stream: map[string]string{}, isLbl: map[string]bool{}}
	for _, sl := range opts.StreamLabels {
		s.stream[sl.From] = sl.To
		s.isLbl[sl.To] = true
	}
	return s, nil
}

// Options returns the schema's effective options.
func (s *Schema) Options() Options { return s.opts }

// IsStreamLabel reports whether name is one of the stream label names.
func (s *Schema) IsStreamLabel(name string) bool { return s.isLbl[name] }

// StreamLabelFor returns the stream label an incoming key maps to.
func (s *Schema) StreamLabelFor(key string) (string, bool) {
	l, ok := s.stream[key]
	return l, ok
}

// BatchIDField is the attribute holding an agent batch id (on the first row
// of the batch only). It is hidden from LogQL.
const BatchIDField = "_sightline_batch_id"

// UnknownServiceLabel and UnknownService form the stream of rows that
// arrive without any stream label.
const (
	UnknownServiceLabel = "service_name"
	UnknownService      = "unknown_service"
)

// DroppedFieldsField counts attributes dropped by the MaxFields bound.
const DroppedFieldsField = "_dropped_fields"

// SanitizeKey returns key in label-name form: bytes other than [a-zA-Z0-9_]
// become "_", a leading digit gets a "_" prefix, and the result is cut to
// max bytes (0 = no cut).
func SanitizeKey(key string, max int) string {
	if key == "" {
		return "_"
	}
	ok := true
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' && i > 0) {
			ok = false
			break
		}
	}
	out := key
	if !ok {
		var b strings.Builder
		b.Grow(len(key) + 1)
		if c := key[0]; c >= '0' && c <= '9' {
			b.WriteByte('_')
		}
		for i := 0; i < len(key); i++ {
			c := key[i]
			if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
				b.WriteByte(c)
			} else {
				b.WriteByte('_')
			}
		}
		out = b.String()
	}
	if max > 0 && len(out) > max {
		out = out[:max]
	}
	return out
}

// truncate cuts s to at most max bytes on a rune boundary and replaces
// invalid UTF-8.
func truncate(s string, max int) string {
	if max > 0 && len(s) > max {
		i := max
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i]
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}

// Record is a protocol-neutral log record under construction. Build rows
// with NewRecord, add labels and fields, then Event.
type Record struct {
	s       *Schema
	ev      model.Event
	lpairs  []labels.Label // stream labels in the order added
	seen    map[string]int // attr key → index in ev.Attrs, built once a row has many attributes
	dropped int64
	// valid says string values are valid UTF-8 already (the JSON scanner
	// checked them), so only the length bounds apply.
	valid bool
	// last, when set, remembers the stream labels of the previous row
	// built with it: rows of one request mostly share them.
	last *lastStream
}

// lastStream is a stream's labels and the pairs they were built from.
type lastStream struct {
	pairs []labels.Label
	ls    labels.Labels
}

// NewRecord starts a row for tenant at time t (Unix ns).
func (s *Schema) NewRecord(tenant string, t int64) *Record {
	r := &Record{}
	r.reset(s, tenant, t)
	return r
}

// NewSharingRecord is NewRecord for building many rows in turn (Reset
// between them): consecutive rows with equal stream labels share one
// labels.Labels instead of each holding its own copy.
func (s *Schema) NewSharingRecord(tenant string, t int64) *Record {
	r := &Record{last: &lastStream{}}
	r.reset(s, tenant, t)
	return r
}

// Reset starts the next row in r after Event, keeping its buffers and the
// stream labels it may share.
func (r *Record) Reset(tenant string, t int64) { r.reset(r.s, tenant, t) }

// reset starts a new row in r, keeping its buffers.
func (r *Record) reset(s *Schema, tenant string, t int64) {
	*r = Record{s: s, lpairs: r.lpairs[:0], last: r.last, valid: r.valid,
		ev: model.Event{Tenant: tenant, Signal: model.SignalLog, Time: t}}
}

// cut bounds a string value: truncate, or for values known to be valid
// UTF-8 only the length bound.
func (r *Record) cut(s string, max int) string {
	if r.valid && len(s) <= max {
		return s
	}
	return truncate(s, max)
}

// SetBody sets the log line (cut to MaxLineBytes).
func (r *Record) SetBody(b string) { r.ev.Body = r.cut(b, r.s.opts.MaxLineBytes) }

// Body returns the line set so far.
func (r *Record) Body() string { return r.ev.Body }

// SetTime sets the row time.
func (r *Record) SetTime(t int64) { r.ev.Time = t }

// SetSeverity sets the level.
func (r *Record) SetSeverity(s string) { r.ev.Severity = r.cut(s, 64) }

// SetTrace sets trace and span ids.
func (r *Record) SetTrace(t model.TraceID, sp model.SpanID) { r.ev.TraceID, r.ev.SpanID = t, sp }

// AddStreamLabel adds a stream label directly (Loki stream labels).
func (r *Record) AddStreamLabel(name, value string) {
	if value == "" {
		return
	}
	name = SanitizeKey(name, r.s.opts.MaxFieldNameBytes)
	r.lpairs = append(r.lpairs, labels.Label{Name: name, Value: r.cut(value, 1024)})
}

// Add adds an attribute: keys listed as stream keys become stream labels
// (when the value is a string), the intrinsic-like keys level/severity,
// trace_id and span_id fill the intrinsic fields when still empty, and the
// rest become attributes. A later value for the same key replaces the
// earlier one.
func (r *Record) Add(key string, v model.Value) {
	if v.Type == model.TypeNone {
		return
	}
	if to, ok := r.s.stream[key]; ok && v.Type == model.TypeString {
		r.addStreamOnce(to, v.Str)
		return
	}
	k := SanitizeKey(key, r.s.opts.MaxFieldNameBytes)
	switch k {
	case "level", "severity", "severity_text", "loglevel", "log_level":
		if r.ev.Severity == "" && v.Type == model.TypeString {
			r.SetSeverity(v.Str)
			return
		}
	case model.FieldTraceID, "traceid", "traceId", "trace_id_hex":
		if r.ev.TraceID.IsZero() && v.Type == model.TypeString {
			if id, err := model.ParseTraceID(v.Str); err == nil {
				r.ev.TraceID = id
				return
			}
		}
	case model.FieldSpanID, "spanid", "spanId":
		if r.ev.SpanID.IsZero() && v.Type == model.TypeString {
			if id, err := model.ParseSpanID(v.Str); err == nil {
				r.ev.SpanID = id
				return
			}
		}
	}
	if model.IsIntrinsic(k) || r.s.isLbl[k] || k == MetaLevel {
		k = "attr_" + strings.TrimPrefix(k, "_") // "name" → "attr_name", "_msg" → "attr_msg"
	}
	if v.Type == model.TypeString {
		v.Str = r.cut(v.Str, r.s.opts.MaxValueBytes)
	}
	if i := r.attrIndex(k); i >= 0 {
		r.ev.Attrs[i].Value = v
		return
	}
	if len(r.ev.Attrs) >= r.s.opts.MaxFields {
		r.dropped++
		return
	}
	if r.seen != nil {
		r.seen[k] = len(r.ev.Attrs)
	} else if len(r.ev.Attrs) == linearAttrs {
		r.seen = make(map[string]int, 2*linearAttrs)
		for i, a := range r.ev.Attrs {
			r.seen[a.Key] = i
		}
		r.seen[k] = len(r.ev.Attrs)
	}
	if cap(r.ev.Attrs) == 0 {
		r.ev.Attrs = make([]model.Attr, 0, 8)
	}
	r.ev.Attrs = append(r.ev.Attrs, model.Attr{Key: k, Value: v})
}

// linearAttrs is how many attributes a row holds before Add looks keys up
// in a map instead of scanning the slice (most rows have fewer).
const linearAttrs = 16

// attrIndex returns the index of key k in ev.Attrs, or -1.
func (r *Record) attrIndex(k string) int {
	if r.seen != nil {
		if i, ok := r.seen[k]; ok {
			return i
		}
		return -1
	}
	for i := range r.ev.Attrs {
		if r.ev.Attrs[i].Key == k {
			return i
		}
	}
	return -1
}

// AddString is Add with a string value.
func (r *Record) AddString(key, v string) { r.Add(key, model.StringValue(v)) }

func (r *Record) addStreamOnce(name, value string) {
	if value == "" {
		return
	}
	// Keep the first value of a label; ScratchBuilder would keep
	// duplicates. (Names are tracked here: ScratchBuilder.Labels caches its
	// result, so calling it before the row is complete would freeze the
	// labels added so far.)
	for _, l := range r.lpairs {
		if l.Name == name {
			return
		}
	}
	r.lpairs = append(r.lpairs, labels.Label{Name: name, Value: r.cut(value, 1024)})
}

// Event finishes the row. The Record must not be used afterwards.
func (r *Record) Event() model.Event {
	if r.dropped > 0 {
		r.ev.Attrs = append(r.ev.Attrs, model.Attr{Key: DroppedFieldsField, Value: model.IntValue(r.dropped)})
	}
	if len(r.lpairs) == 0 {
		// A row needs a stream label to be reachable by a LogQL selector;
		// like Loki for OTLP, name the unknown service.
		r.lpairs = append(r.lpairs, labels.Label{Name: UnknownServiceLabel, Value: UnknownService})
	}
	// Sorted by name; of duplicate names the first added wins.
	slices.SortStableFunc(r.lpairs, func(a, b labels.Label) int { return strings.Compare(a.Name, b.Name) })
	r.lpairs = slices.CompactFunc(r.lpairs, func(a, b labels.Label) bool { return a.Name == b.Name })
	var ls labels.Labels
	if r.last != nil && slices.Equal(r.last.pairs, r.lpairs) {
		ls = r.last.ls
	} else {
		ls = labels.New(r.lpairs...)
		if r.last != nil {
			// The values may alias the document; ls holds its own copy.
			r.last.pairs = r.last.pairs[:0]
			ls.Range(func(l labels.Label) { r.last.pairs = append(r.last.pairs, l) })
			r.last.ls = ls
		}
	}
	r.ev.Stream = ls
	return r.ev
}
