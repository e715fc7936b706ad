package jaeger

import (
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/sightline/sightline/internal/model"
	"github.com/sightline/sightline/internal/tracestore"
)

// Trace is Jaeger's JSON trace.
type Trace struct {
	TraceID   string             `json:"traceID"`
	Spans     []Span             `json:"spans"`
	Processes map[string]Process `json:"processes"`
	Warnings  []string           `json:"warnings"`
}

// Span is Jaeger's JSON span.
type Span struct {
	TraceID       string      `json:"traceID"`
	SpanID        string      `json:"spanID"`
	Flags         uint32      `json:"flags"`
	OperationName string      `json:"operationName"`
	References    []Reference `json:"references"`
	StartTime     int64       `json:"startTime"` // µs
	Duration      int64       `json:"duration"`  // µs
	Tags          []KeyValue  `json:"tags"`
	Logs          []Log       `json:"logs"`
	ProcessID     string      `json:"processID"`
	Warnings      []string    `json:"warnings"`
}

// Reference links spans.
type Reference struct {
	RefType string `json:"refType"`
	TraceID string `json:"traceID"`
	SpanID  string `json:"spanID"`
}

// KeyValue is a typed tag.
type KeyValue struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// Log is a span log (an OTel span event).
type Log struct {
	Timestamp int64      `json:"timestamp"`
	Fields    []KeyValue `json:"fields"`
}

// Process is a service and its tags.
type Process struct {
	ServiceName string     `json:"serviceName"`
	Tags        []KeyValue `json:"tags"`
}

// FormatTraceID prints an id as Jaeger does: 16 hex digits when the high
// half is zero, else 32.
func FormatTraceID(id model.TraceID) string {
	if [8]byte(id[:8]) == ([8]byte{}) {
		return hex.EncodeToString(id[8:])
	}
	return id.String()
}

func kv(a model.Attr) KeyValue {
	switch a.Value.Type {
	case model.TypeInt:
		return KeyValue{Key: a.Key, Type: "int64", Value: a.Value.Int()}
	case model.TypeFloat:
		return KeyValue{Key: a.Key, Type: "float64", Value: a.Value.Float()}
	case model.TypeBool:
		return KeyValue{Key: a.Key, Type: "bool", Value: a.Value.Bool()}
	}
	return KeyValue{Key: a.Key, Type: "string", Value: a.Value.Text()}
}

func strKV(k, v string) KeyValue { return KeyValue{Key: k, Type: "string", Value: v} }

// FromTrace converts a stored trace to Jaeger's JSON model, the way
// Jaeger's own OTLP translation does (span.kind, otel.status_code, error,
// otel.scope.* tags; links as FOLLOWS_FROM references; events as logs).
func FromTrace(t *tracestore.Trace) Trace {
	out := Trace{TraceID: FormatTraceID(t.ID), Processes: map[string]Process{}, Spans: make([]Span, 0, len(t.Spans))}
	procKeys := map[string]string{}
	for i := range t.Spans {
		s := &t.Spans[i]
		pkey := processKey(s)
		pid, ok := procKeys[pkey]
		if !ok {
			pid = fmt.Sprintf("p%d", len(procKeys)+1)
			procKeys[pkey] = pid
			p := Process{ServiceName: s.Service, Tags: []KeyValue{}}
			for _, a := range s.Resource {
				if a.Key != "service.name" {
					p.Tags = append(p.Tags, kv(a))
				}
			}
			out.Processes[pid] = p
		}
		js := Span{
			TraceID: FormatTraceID(s.TraceID), SpanID: s.SpanID.String(), Flags: s.Flags,
			OperationName: s.Name, StartTime: s.Start / 1000, Duration: s.Duration / 1000,
			ProcessID: pid, References: []Reference{}, Tags: []KeyValue{}, Logs: []Log{},
		}
		if !s.ParentSpanID.IsZero() {
			js.References = append(js.References, Reference{RefType: "CHILD_OF", TraceID: js.TraceID, SpanID: s.ParentSpanID.String()})
		}
		for _, l := range s.Links {
			lid, err := model.ParseTraceID(l.TraceID)
			if err != nil {
				continue
			}
			js.References = append(js.References, Reference{RefType: "FOLLOWS_FROM", TraceID: FormatTraceID(lid), SpanID: l.SpanID})
		}
		for _, a := range s.Attrs {
			js.Tags = append(js.Tags, kv(a))
		}
		if k := tracestore.KindName(s.Kind); k != "" && k != "internal" {
			js.Tags = append(js.Tags, strKV("span.kind", k))
		}
		switch s.StatusCode {
		case model.StatusError:
			js.Tags = append(js.Tags, strKV("otel.status_code", "ERROR"), KeyValue{Key: "error", Type: "bool", Value: true})
		case model.StatusOK:
			js.Tags = append(js.Tags, strKV("otel.status_code", "OK"))
		}
		if s.StatusMessage != "" {
			js.Tags = append(js.Tags, strKV("otel.status_description", s.StatusMessage))
		}
		if s.ScopeName != "" {
			js.Tags = append(js.Tags, strKV("otel.scope.name", s.ScopeName))
		}
		if s.ScopeVersion != "" {
			js.Tags = append(js.Tags, strKV("otel.scope.version", s.ScopeVersion))
		}
		if s.TraceState != "" {
			js.Tags = append(js.Tags, strKV("w3c.tracestate", s.TraceState))
		}
		for _, e := range s.Events {
			l := Log{Timestamp: e.Time / 1000, Fields: []KeyValue{strKV("event", e.Name)}}
			for _, a := range e.Attrs {
				l.Fields = append(l.Fields, kv(a))
			}
			js.Logs = append(js.Logs, l)
		}
		out.Spans = append(out.Spans, js)
	}
	return out
}

func processKey(s *tracestore.Span) string {
	parts := make([]string, 0, len(s.Resource)+1)
	parts = append(parts, s.Service)
	for _, a := range s.Resource {
		parts = append(parts, a.Key+"="+a.Value.Text())
	}
	sort.Strings(parts[1:])
	return strings.Join(parts, "\xff")
}
