// Package tracestore is the span schema on the event store: it turns OTLP
// spans into model.Event rows (one row per span and one per span event)
// keeping every field, assembles traces from rows by id, and searches spans
// into trace summaries.
//
// Row layout. A span row carries the intrinsic columns (trace_id, span_id,
// parent_span_id, name, kind, status_code, status_message, duration, _time =
// start) and these attribute columns:
//
//	resource.<key>          resource attributes (service.name included)
//	scope.name, scope.version, scope.attr.<key>
//	span.trace_state, span.flags, span.links (JSON),
//	span.dropped_attributes_count, span.dropped_events_count,
//	span.dropped_links_count
//	<key>                   span attributes; a key that is intrinsic or
//	                        starts with "resource.", "scope." or "span."
//	                        is stored as "span.<key>"
//
// Span events are rows of signal span_event with the span's trace and span
// ids, the event's name and time, and its attributes (escaped the same way).
// Rows belong to the stream {service_name="<service.name>"}, plus
// service_namespace when the resource has one.
//
// Conversion functions are pure; Reader is safe for concurrent use.
package tracestore

import (
	"encoding/json"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sightline/sightline/internal/model"
)

// Stream label names.
const (
	LabelService   = "service_name"
	LabelNamespace = "service_namespace"
)

// Attribute column names and prefixes.
const (
	PrefixResource     = "resource."
	PrefixScope        = "scope."
	PrefixScopeAttr    = "scope.attr."
	PrefixSpan         = "span."
	FieldScopeName     = "scope.name"
	FieldScopeVersion  = "scope.version"
	FieldTraceState    = "span.trace_state"
	FieldFlags         = "span.flags"
	FieldLinks         = "span.links"
	FieldDroppedAttrs  = "span.dropped_attributes_count"
	FieldDroppedEvents = "span.dropped_events_count"
	FieldDroppedLinks  = "span.dropped_links_count"
	// UnknownService names spans whose resource has no service.name.
	UnknownService = "unknown_service"
)

// Link is a span link as stored in the span.links column.
type Link struct {
	TraceID      string       `json:"trace_id"`
	SpanID       string       `json:"span_id"`
	TraceState   string       `json:"trace_state,omitempty"`
	Flags        uint32       `json:"flags,omitempty"`
	Attrs        []model.Attr `json:"-"`
	AttrsJSON    []jsonAttr   `json:"attributes,omitempty"`
	DroppedAttrs uint32       `json:"dropped_attributes_count,omitempty"`
}

type jsonAttr struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value string `json:"value"`
}

// SpanAttrKey returns the column a span or event attribute named key is
// stored under.
func SpanAttrKey(key string) string {
	if model.IsIntrinsic(key) || strings.HasPrefix(key, PrefixResource) ||
		strings.HasPrefix(key, PrefixScope) || strings.HasPrefix(key, PrefixSpan) {
		return PrefixSpan + key
	}
	return key
}

// ServiceName returns a resource's service.name or UnknownService.
func ServiceName(res pcommon.Resource) string {
	if v, ok := res.Attributes().Get("service.name"); ok && v.AsString() != "" {
		return v.AsString()
	}
	return UnknownService
}

// AppendRows appends td's spans and span events to dst as rows of tenant.
// Attribute values keep their type (string, int, float, bool); maps, slices
// and bytes are stored as their JSON text.
func AppendRows(dst []model.Event, tenant string, td ptrace.Traces) []model.Event {
	if dst == nil {
		dst = make([]model.Event, 0, td.SpanCount())
	}
	var ar arena
	return appendRows(dst, &ar, tenant, td)
}

func appendRows(dst []model.Event, ar *arena, tenant string, td ptrace.Traces) []model.Event {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res := rs.Resource()
		svc := ServiceName(res)
		var stream labels.Labels
		if ns, ok := res.Attributes().Get("service.namespace"); ok && ns.AsString() != "" {
			stream = labels.FromStrings(LabelService, svc, LabelNamespace, ns.AsString())
		} else {
			stream = labels.FromStrings(LabelService, svc)
		}
		resAttrs := make([]model.Attr, 0, res.Attributes().Len()+1)
		res.Attributes().Range(func(k string, v pcommon.Value) bool {
			resAttrs = append(resAttrs, model.Attr{Key: PrefixResource + k, Value: toValue(v)})
			return true
		})
		if n := res.DroppedAttributesCount(); n > 0 {
			resAttrs = append(resAttrs, model.Attr{Key: "resource.dropped_attributes_count", Value: model.IntValue(int64(n))})
		}
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			sc := ss.Scope()
			common := make([]model.Attr, 0, len(resAttrs)+2+sc.Attributes().Len())
			common = append(common, resAttrs...)
			if sc.Name() != "" {
				common = append(common, model.Attr{Key: FieldScopeName, Value: model.StringValue(sc.Name())})
			}
			if sc.Version() != "" {
				common = append(common, model.Attr{Key: FieldScopeVersion, Value: model.StringValue(sc.Version())})
			}
			sc.Attributes().Range(func(k string, v pcommon.Value) bool {
				common = append(common, model.Attr{Key: PrefixScopeAttr + k, Value: toValue(v)})
				return true
			})
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				dst = appendSpan(dst, ar, tenant, stream, common, spans.At(k))
			}
		}
	}
	return dst
}

// arena hands out attribute slices carved from shared chunks, so a batch
// costs a few large allocations instead of one per row; reset makes the
// chunks reusable for the next batch.
type arena struct {
	chunks [][]model.Attr
	ci     int // current chunk
	off    int // used part of the current chunk
}

func (a *arena) alloc(n int) []model.Attr {
	for {
		if a.ci < len(a.chunks) {
			c := a.chunks[a.ci]
			if a.off+n <= len(c) {
				s := c[a.off : a.off : a.off+n]
				a.off += n
				return s
			}
			a.ci++
			a.off = 0
			continue
		}
		a.chunks = append(a.chunks, make([]model.Attr, max(n, 4096)))
	}
}

func (a *arena) reset() { a.ci, a.off = 0, 0 }

// RowBuffer converts batches reusing the memory of earlier ones. The rows
// a call returns are valid until the next call. Not safe for concurrent
// use; keep one per goroutine (e.g. in a sync.Pool).
type RowBuffer struct {
	rows []model.Event
	ar   arena
}

// Rows converts td like AppendRows into the buffer's memory.
func (b *RowBuffer) Rows(tenant string, td ptrace.Traces) []model.Event {
	b.ar.reset()
	clear(b.rows)
	b.rows = appendRows(b.rows[:0], &b.ar, tenant, td)
	return b.rows
}

func appendSpan(dst []model.Event, ar *arena, tenant string, stream labels.Labels, common []model.Attr, sp ptrace.Span) []model.Event {
	start, end := int64(sp.StartTimestamp()), int64(sp.EndTimestamp())
	dur := end - start
	if dur < 0 {
		dur = 0
	}
	extra := 0
	if sp.Links().Len() > 0 {
		extra++
	}
	if sp.TraceState().AsRaw() != "" {
		extra++
	}
	if sp.Flags() != 0 {
		extra++
	}
	if sp.DroppedAttributesCount() > 0 || sp.DroppedEventsCount() > 0 || sp.DroppedLinksCount() > 0 {
		extra += 3
	}
	attrs := ar.alloc(len(common) + sp.Attributes().Len() + extra)
	attrs = append(attrs, common...)
	sp.Attributes().Range(func(k string, v pcommon.Value) bool {
		attrs = append(attrs, model.Attr{Key: SpanAttrKey(k), Value: toValue(v)})
		return true
	})
	if ts := sp.TraceState().AsRaw(); ts != "" {
		attrs = append(attrs, model.Attr{Key: FieldTraceState, Value: model.StringValue(ts)})
	}
	if f := sp.Flags(); f != 0 {
		attrs = append(attrs, model.Attr{Key: FieldFlags, Value: model.IntValue(int64(f))})
	}
	if n := sp.DroppedAttributesCount(); n > 0 {
		attrs = append(attrs, model.Attr{Key: FieldDroppedAttrs, Value: model.IntValue(int64(n))})
	}
	if n := sp.DroppedEventsCount(); n > 0 {
		attrs = append(attrs, model.Attr{Key: FieldDroppedEvents, Value: model.IntValue(int64(n))})
	}
	if n := sp.DroppedLinksCount(); n > 0 {
		attrs = append(attrs, model.Attr{Key: FieldDroppedLinks, Value: model.IntValue(int64(n))})
	}
	if sp.Links().Len() > 0 {
		attrs = append(attrs, model.Attr{Key: FieldLinks, Value: model.StringValue(encodeLinks(sp.Links()))})
	}
	row := model.Event{
		Tenant:        tenant,
		Signal:        model.SignalSpan,
		Stream:        stream,
		Time:          start,
		TraceID:       model.TraceID(sp.TraceID()),
		SpanID:        model.SpanID(sp.SpanID()),
		ParentSpanID:  model.SpanID(sp.ParentSpanID()),
		Name:          sp.Name(),
		Kind:          model.SpanKind(sp.Kind()),
		StatusCode:    model.StatusCode(sp.Status().Code()),
		StatusMessage: sp.Status().Message(),
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
	evs := sp.Events()
	for i := 0; i < evs.Len(); i++ {
		ev := evs.At(i)
		eattrs := ar.alloc(ev.Attributes().Len() + 1)
		ev.Attributes().Range(func(k string, v pcommon.Value) bool {
			eattrs = append(eattrs, model.Attr{Key: SpanAttrKey(k), Value: toValue(v)})
			return true
		})
		if n := ev.DroppedAttributesCount(); n > 0 {
			eattrs = append(eattrs, model.Attr{Key: FieldDroppedAttrs, Value: model.IntValue(int64(n))})
		}
		t := int64(ev.Timestamp())
		if t == 0 {
			t = start
		}
		dst = append(dst, model.Event{
			Tenant:  tenant,
			Signal:  model.SignalSpanEvent,
			Stream:  stream,
			Time:    t,
			TraceID: row.TraceID,
			SpanID:  row.SpanID,
			Name:    ev.Name(),
			Attrs:   eattrs,
		})
	}
	return dst
}

func toValue(v pcommon.Value) model.Value {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return model.StringValue(v.Str())
	case pcommon.ValueTypeInt:
		return model.IntValue(v.Int())
	case pcommon.ValueTypeDouble:
		return model.FloatValue(v.Double())
	case pcommon.ValueTypeBool:
		return model.BoolValue(v.Bool())
	case pcommon.ValueTypeEmpty:
		return model.StringValue("")
	}
	return model.StringValue(v.AsString())
}

func encodeLinks(ls ptrace.SpanLinkSlice) string {
	out := make([]Link, ls.Len())
	for i := range out {
		l := ls.At(i)
		out[i] = Link{
			TraceID:      model.TraceID(l.TraceID()).String(),
			SpanID:       model.SpanID(l.SpanID()).String(),
			TraceState:   l.TraceState().AsRaw(),
			Flags:        l.Flags(),
			DroppedAttrs: l.DroppedAttributesCount(),
		}
		l.Attributes().Range(func(k string, v pcommon.Value) bool {
			mv := toValue(v)
			out[i].AttrsJSON = append(out[i].AttrsJSON, jsonAttr{Key: k, Type: mv.Type.String(), Value: mv.Text()})
			return true
		})
	}
	b, _ := json.Marshal(out)
	return string(b)
}

func decodeLinks(s string) []Link {
	var out []Link
	if json.Unmarshal([]byte(s), &out) != nil {
		return nil
	}
	for i := range out {
		for _, a := range out[i].AttrsJSON {
			out[i].Attrs = append(out[i].Attrs, model.Attr{Key: a.Key, Value: parseTyped(a.Type, a.Value)})
		}
		out[i].AttrsJSON = nil
	}
	return out
}
