package zipkin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sightline/sightline/internal/failure"
)

// SpanV1 is a Zipkin v1 span: timing and kind are implied by core
// annotations (cs, cr, sr, ss, ms, mr) and tags are binary annotations.
type SpanV1 struct {
	TraceID           string             `json:"traceId"`
	ID                string             `json:"id"`
	ParentID          string             `json:"parentId"`
	Name              string             `json:"name"`
	Timestamp         int64              `json:"timestamp"` // µs
	Duration          int64              `json:"duration"`  // µs
	Debug             bool               `json:"debug"`
	Annotations       []AnnotationV1     `json:"annotations"`
	BinaryAnnotations []BinaryAnnotation `json:"binaryAnnotations"`
}

// AnnotationV1 is a timestamped v1 annotation with the endpoint that
// recorded it.
type AnnotationV1 struct {
	Timestamp int64     `json:"timestamp"`
	Value     string    `json:"value"`
	Endpoint  *Endpoint `json:"endpoint"`
}

// BinaryAnnotation is a v1 tag. Value is a JSON string, boolean or
// number; the address annotations ca, sa and ma (value true) name the
// remote endpoint instead.
type BinaryAnnotation struct {
	Key      string          `json:"key"`
	Value    json.RawMessage `json:"value"`
	Type     string          `json:"type"`
	Endpoint *Endpoint       `json:"endpoint"`
}

// DecodeV1 parses a Zipkin v1 JSON span list into OTLP traces: each span
// is first converted to its v2 form (a v1 span holding both the client and
// the server side becomes two v2 spans with the same id, the server one
// shared), so v1 and v2 spans of the same call give the same rows.
func DecodeV1(body []byte) (ptrace.Traces, error) {
	var v1 []SpanV1
	if err := json.Unmarshal(body, &v1); err != nil {
		return ptrace.Traces{}, fmt.Errorf("decode zipkin v1 spans: %w: %w", failure.ErrInvalid, err)
	}
	spans := make([]Span, 0, len(v1))
	for i := range v1 {
		var err error
		if spans, err = appendV2(spans, &v1[i]); err != nil {
			return ptrace.Traces{}, fmt.Errorf("decode zipkin v1 span %d: %w: %w", i, failure.ErrInvalid, err)
		}
	}
	return decodeSpans(spans)
}

// tagText returns a binary annotation's value as a v2 tag string.
func tagText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	}
	switch string(raw) {
	case "true", "false":
		return string(raw), nil
	}
	if _, err := strconv.ParseFloat(string(raw), 64); err != nil {
		return "", fmt.Errorf("binary annotation value %.40q: want a string, boolean or number", raw)
	}
	return string(raw), nil
}

// side collects what one v2 span of a v1 span gets.
type side struct {
	kind       string
	begin, end *AnnotationV1 // core annotations opening and closing it
	local      *Endpoint
	remote     *Endpoint
}

func (s *side) seen() bool { return s.begin != nil || s.end != nil }

func (s *side) timing() (ts, dur int64) {
	if s.begin != nil {
		ts = s.begin.Timestamp
		if s.end != nil && s.end.Timestamp >= ts {
			dur = s.end.Timestamp - ts
		}
	} else if s.end != nil {
		ts = s.end.Timestamp
	}
	return ts, dur
}

func (s *side) endpoint() *Endpoint {
	if s.begin != nil && s.begin.Endpoint != nil {
		return s.begin.Endpoint
	}
	if s.end != nil {
		return s.end.Endpoint
	}
	return nil
}

func sameService(a, b *Endpoint) bool {
	return a != nil && b != nil && a.ServiceName == b.ServiceName
}

// appendV2 converts one v1 span into one or two v2 spans.
func appendV2(dst []Span, v *SpanV1) ([]Span, error) {
	client := side{kind: "CLIENT"}
	server := side{kind: "SERVER"}
	producer := side{kind: "PRODUCER"}
	consumer := side{kind: "CONSUMER"}
	var other []AnnotationV1
	for i := range v.Annotations {
		a := &v.Annotations[i]
		switch a.Value {
		case "cs":
			client.begin = a
		case "cr":
			client.end = a
		case "sr":
			server.begin = a
		case "ss":
			server.end = a
		case "ms":
			producer.begin = a
		case "mr":
			consumer.begin = a
		default:
			other = append(other, *a)
		}
	}
	tags := map[string]string{}
	tagEndpoint := map[string]*Endpoint{}
	var firstEndpoint, lcEndpoint *Endpoint
	for i := range v.BinaryAnnotations {
		b := &v.BinaryAnnotations[i]
		if b.Key == "" {
			return dst, fmt.Errorf("binary annotation %d has no key", i)
		}
		text, err := tagText(b.Value)
		if err != nil {
			return dst, fmt.Errorf("binary annotation %q: %w", b.Key, err)
		}
		switch b.Key {
		case "ca", "sa", "ma":
			if text == "true" && b.Endpoint != nil {
				switch b.Key {
				case "ca": // the client's address, seen by the server
					server.remote = b.Endpoint
				case "sa": // the server's address, seen by the client
					client.remote = b.Endpoint
				default: // the broker's address
					producer.remote, consumer.remote = b.Endpoint, b.Endpoint
				}
				continue
			}
		case "lc":
			if b.Endpoint != nil {
				lcEndpoint = b.Endpoint
			}
		}
		tags[b.Key] = text
		tagEndpoint[b.Key] = b.Endpoint
		if firstEndpoint == nil && b.Endpoint != nil {
			firstEndpoint = b.Endpoint
		}
	}
	if firstEndpoint == nil {
		for i := range other {
			if other[i].Endpoint != nil {
				firstEndpoint = other[i].Endpoint
				break
			}
		}
	}

	var sides []*side
	for _, s := range []*side{&client, &server, &producer, &consumer} {
		if s.seen() {
			s.local = s.endpoint()
			sides = append(sides, s)
		}
	}
	if len(sides) == 0 {
		local := lcEndpoint
		if local == nil {
			local = firstEndpoint
		}
		sides = []*side{{local: local}}
	}
	for i, s := range sides {
		if s.local == nil {
			s.local = firstEndpoint
		}
		ts, dur := s.timing()
		// The span's own timing belongs to its first side (the client of a
		// shared span: v1 instrumentation records it there).
		if i == 0 && v.Timestamp != 0 {
			ts, dur = v.Timestamp, v.Duration
		}
		sp := Span{
			TraceID: v.TraceID, ID: v.ID, ParentID: v.ParentID, Name: v.Name, Kind: s.kind,
			Timestamp: ts, Duration: dur, Debug: v.Debug, Shared: i > 0 && s.kind == "SERVER",
			LocalEndpoint: s.local, RemoteEndpoint: s.remote,
		}
		// Tags and plain annotations go to the side whose service recorded
		// them; unattributed ones to the first side.
		owns := func(ep *Endpoint) bool {
			if len(sides) == 1 || ep == nil {
				return i == 0
			}
			if sameService(ep, s.local) {
				return true
			}
			for _, o := range sides {
				if sameService(ep, o.local) {
					return false
				}
			}
			return i == 0
		}
		for k, val := range tags {
			if owns(tagEndpoint[k]) {
				if sp.Tags == nil {
					sp.Tags = map[string]string{}
				}
				sp.Tags[k] = val
			}
		}
		for _, a := range other {
			if owns(a.Endpoint) {
				sp.Annotations = append(sp.Annotations, Annotation{Timestamp: a.Timestamp, Value: a.Value})
			}
		}
		dst = append(dst, sp)
	}
	return dst, nil
}
