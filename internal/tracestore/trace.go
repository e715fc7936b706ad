package tracestore

import (
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/sightline/sightline/internal/model"
)

// Span is one stored span with its events, decoded from rows.
type Span struct {
	TraceID       model.TraceID
	SpanID        model.SpanID
	ParentSpanID  model.SpanID
	Name          string
	Kind          model.SpanKind
	Start         int64 // Unix ns
	Duration      int64 // ns
	StatusCode    model.StatusCode
	StatusMessage string
	TraceState    string
	Flags         uint32
	Service       string
	Resource      []model.Attr // resource attributes, keys without prefix
	ScopeName     string
	ScopeVersion  string
	ScopeAttrs    []model.Attr
	Attrs         []model.Attr // span attributes, original keys
	Events        []SpanEvent
	Links         []Link
	DroppedAttrs  int64
	DroppedEvents int64
	DroppedLinks  int64
}

// SpanEvent is an event recorded on a span.
type SpanEvent struct {
	Time         int64
	Name         string
	Attrs        []model.Attr
	DroppedAttrs int64
}

// Trace is a trace's spans ordered by start time (then span id).
type Trace struct {
	ID    model.TraceID
	Spans []Span
}

// Attr returns a span attribute by its original key.
func (s *Span) Attr(key string) (model.Value, bool) {
	for _, a := range s.Attrs {
		if a.Key == key {
			return a.Value, true
		}
	}
	return model.Value{}, false
}

// AssembleTrace builds traces from rows of one or more traces: span rows
// become spans, span-event rows attach to their span (events whose span is
// missing are dropped), log rows are ignored. Traces come in order of first
// appearance in rows.
//
// A span delivered twice (same trace, span id and kind) is shown once. A
// server span sharing its id with a client span — Zipkin's shared spans,
// where both sides of one call report the same id — gets an id of its own
// (SharedServerID), becomes the client span's child, and adopts the
// children that named the shared id as parent, so both sides show.
func AssembleTrace(rows []model.Event) []Trace {
	type key struct {
		t model.TraceID
		s model.SpanID
	}
	type kindKey struct {
		key
		server bool
	}
	idx := map[key]int{} // first span per id: span events attach there
	seen := map[kindKey]bool{}
	shared := map[key]int{} // index of the server half of a shared id
	var order []model.TraceID
	byTrace := map[model.TraceID][]Span{}
	for i := range rows {
		r := &rows[i]
		if r.Signal != model.SignalSpan {
			continue
		}
		if _, ok := byTrace[r.TraceID]; !ok {
			order = append(order, r.TraceID)
		}
		k := key{r.TraceID, r.SpanID}
		kk := kindKey{k, r.Kind == model.SpanKindServer}
		if seen[kk] {
			continue // a span delivered twice is shown once
		}
		seen[kk] = true
		if first, dup := idx[k]; dup {
			// The other half of a shared id: exactly one of the two is a
			// server span (seen rules out a second of the same side).
			j := len(byTrace[r.TraceID])
			byTrace[r.TraceID] = append(byTrace[r.TraceID], SpanFromRow(r))
			if kk.server {
				shared[k] = j
			} else {
				shared[k] = first
			}
			continue
		}
		idx[k] = len(byTrace[r.TraceID])
		byTrace[r.TraceID] = append(byTrace[r.TraceID], SpanFromRow(r))
	}
	for k, j := range shared {
		spans := byTrace[k.t]
		newID := SharedServerID(k.s)
		for i := range spans {
			if i != j && spans[i].ParentSpanID == k.s && spans[i].SpanID != k.s {
				spans[i].ParentSpanID = newID
			}
		}
		spans[j].SpanID, spans[j].ParentSpanID = newID, k.s
	}
	for i := range rows {
		r := &rows[i]
		if r.Signal != model.SignalSpanEvent {
			continue
		}
		j, ok := idx[key{r.TraceID, r.SpanID}]
		if !ok {
			continue
		}
		ev := SpanEvent{Time: r.Time, Name: r.Name}
		for _, a := range r.Attrs {
			if a.Key == FieldDroppedAttrs {
				ev.DroppedAttrs = a.Value.Int()
				continue
			}
			ev.Attrs = append(ev.Attrs, model.Attr{Key: unescapeSpanKey(a.Key), Value: a.Value})
		}
		sp := &byTrace[r.TraceID][j]
		sp.Events = append(sp.Events, ev)
	}
	out := make([]Trace, 0, len(order))
	for _, id := range order {
		spans := byTrace[id]
		for i := range spans {
			sort.SliceStable(spans[i].Events, func(a, b int) bool { return spans[i].Events[a].Time < spans[i].Events[b].Time })
		}
		sort.Slice(spans, func(a, b int) bool {
			if spans[a].Start != spans[b].Start {
				return spans[a].Start < spans[b].Start
			}
			return string(spans[a].SpanID[:]) < string(spans[b].SpanID[:])
		})
		out = append(out, Trace{ID: id, Spans: spans})
	}
	return out
}

// SharedServerID is the id AssembleTrace gives the server half of a span
// id shared by a client and a server span: id with every byte inverted.
func SharedServerID(id model.SpanID) model.SpanID {
	for i := range id {
		id[i] = ^id[i]
	}
	return id
}

func unescapeSpanKey(k string) string {
	if strings.HasPrefix(k, PrefixSpan) {
		return k[len(PrefixSpan):]
	}
	return k
}

// SpanFromRow decodes a span row (events are not attached).
func SpanFromRow(r *model.Event) Span {
	s := Span{
		TraceID: r.TraceID, SpanID: r.SpanID, ParentSpanID: r.ParentSpanID,
		Name: r.Name, Kind: r.Kind, Start: r.Time, Duration: r.Duration,
		StatusCode: r.StatusCode, StatusMessage: r.StatusMessage,
		Service: r.Stream.Get(LabelService),
	}
	for _, a := range r.Attrs {
		switch a.Key {
		case FieldScopeName:
			s.ScopeName = a.Value.Text()
			continue
		case FieldScopeVersion:
			s.ScopeVersion = a.Value.Text()
			continue
		case FieldTraceState:
			s.TraceState = a.Value.Text()
			continue
		case FieldFlags:
			s.Flags = uint32(a.Value.Int())
			continue
		case FieldLinks:
			s.Links = decodeLinks(a.Value.Text())
			continue
		case FieldDroppedAttrs:
			s.DroppedAttrs = a.Value.Int()
			continue
		case FieldDroppedEvents:
			s.DroppedEvents = a.Value.Int()
			continue
		case FieldDroppedLinks:
			s.DroppedLinks = a.Value.Int()
			continue
		}
		switch {
		case strings.HasPrefix(a.Key, PrefixResource):
			s.Resource = append(s.Resource, model.Attr{Key: a.Key[len(PrefixResource):], Value: a.Value})
		case strings.HasPrefix(a.Key, PrefixScopeAttr):
			s.ScopeAttrs = append(s.ScopeAttrs, model.Attr{Key: a.Key[len(PrefixScopeAttr):], Value: a.Value})
		default:
			s.Attrs = append(s.Attrs, model.Attr{Key: unescapeSpanKey(a.Key), Value: a.Value})
		}
	}
	if s.Service == "" {
		s.Service = UnknownService
	}
	return s
}

// Summary describes a trace for search results.
type Summary struct {
	TraceID       model.TraceID
	RootService   string
	RootOperation string
	Start         int64 // Unix ns of the earliest span
	Duration      int64 // ns from the earliest start to the latest end
	SpanCount     int
	Services      []string // sorted
	ErrorCount    int
}

// Summarize computes a trace's summary. The root is the span without a
// parent (the earliest such), else the earliest span.
func Summarize(t *Trace) Summary {
	s := Summary{TraceID: t.ID, SpanCount: len(t.Spans)}
	if len(t.Spans) == 0 {
		return s
	}
	start, end := int64(math.MaxInt64), int64(math.MinInt64)
	svcs := map[string]struct{}{}
	var root *Span
	for i := range t.Spans {
		sp := &t.Spans[i]
		start = min(start, sp.Start)
		end = max(end, sp.Start+sp.Duration)
		svcs[sp.Service] = struct{}{}
		if sp.StatusCode == model.StatusError {
			s.ErrorCount++
		}
		if sp.ParentSpanID.IsZero() && (root == nil || sp.Start < root.Start) {
			root = sp
		}
	}
	if root == nil {
		root = &t.Spans[0]
	}
	s.RootService, s.RootOperation = root.Service, root.Name
	s.Start, s.Duration = start, end-start
	for k := range svcs {
		s.Services = append(s.Services, k)
	}
	sort.Strings(s.Services)
	return s
}

func parseTyped(typ, v string) model.Value {
	switch typ {
	case "int":
		if i, err := strconv.ParseInt(v, 10, 64); err == nil {
			return model.IntValue(i)
		}
	case "float":
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return model.FloatValue(f)
		}
	case "bool":
		return model.BoolValue(v == "true")
	}
	return model.StringValue(v)
}
