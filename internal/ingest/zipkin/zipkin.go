// Package zipkin receives spans in the Zipkin v2 JSON format
// (POST /api/v2/spans) and the older v1 JSON format (POST /api/v1/spans,
// converted to v2 first: see DecodeV1) and hands them, translated to OTLP's
// data model, to a TracesSink — the same sink OTLP traces go to.
//
// Translation: localEndpoint.serviceName becomes the resource's
// service.name; kind, timestamps, ids, and annotations (as span events) map
// directly; tags become string attributes; an "error" tag marks the status
// ERROR with the tag's value as message (otel.status_code /
// otel.status_description tags are honoured too); remoteEndpoint becomes
// peer.service, network.peer.address and network.peer.port.
//
// A *Handler is safe for concurrent use.
package zipkin

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sightline/sightline/internal/failure"
	"github.com/sightline/sightline/internal/ingest"
)

// TracesSink stores decoded spans.
type TracesSink interface {
	ConsumeTraces(ctx context.Context, td ptrace.Traces) error
}

// Endpoint is a Zipkin endpoint.
type Endpoint struct {
	ServiceName string `json:"serviceName"`
	IPv4        string `json:"ipv4"`
	IPv6        string `json:"ipv6"`
	Port        int    `json:"port"`
}

// Annotation is a timestamped Zipkin annotation.
type Annotation struct {
	Timestamp int64  `json:"timestamp"`
	Value     string `json:"value"`
}

// Span is a Zipkin v2 span.
type Span struct {
	TraceID        string            `json:"traceId"`
	ID             string            `json:"id"`
	ParentID       string            `json:"parentId"`
	Name           string            `json:"name"`
	Kind           string            `json:"kind"`
	Timestamp      int64             `json:"timestamp"` // µs
	Duration       int64             `json:"duration"`  // µs
	Debug          bool              `json:"debug"`
	Shared         bool              `json:"shared"`
	LocalEndpoint  *Endpoint         `json:"localEndpoint"`
	RemoteEndpoint *Endpoint         `json:"remoteEndpoint"`
	Annotations    []Annotation      `json:"annotations"`
	Tags           map[string]string `json:"tags"`
}

// Decode parses a Zipkin v2 JSON span list into OTLP traces.
func Decode(body []byte) (ptrace.Traces, error) {
	var spans []Span
	if err := json.Unmarshal(body, &spans); err != nil {
		return ptrace.Traces{}, fmt.Errorf("decode zipkin spans: %w: %w", failure.ErrInvalid, err)
	}
	return decodeSpans(spans)
}

// decodeSpans translates v2 spans, grouped by local service.
func decodeSpans(spans []Span) (ptrace.Traces, error) {
	td := ptrace.NewTraces()
	byService := map[string]ptrace.SpanSlice{}
	for i := range spans {
		z := &spans[i]
		svc := ""
		if z.LocalEndpoint != nil {
			svc = z.LocalEndpoint.ServiceName
		}
		dst, ok := byService[svc]
		if !ok {
			rs := td.ResourceSpans().AppendEmpty()
			if svc != "" {
				rs.Resource().Attributes().PutStr("service.name", svc)
			}
			if z.LocalEndpoint != nil && z.LocalEndpoint.IPv4 != "" {
				rs.Resource().Attributes().PutStr("host.ip", z.LocalEndpoint.IPv4)
			}
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName("zipkin")
			dst = ss.Spans()
			byService[svc] = dst
		}
		if err := convert(z, dst.AppendEmpty()); err != nil {
			return ptrace.Traces{}, fmt.Errorf("decode zipkin span %d: %w: %w", i, failure.ErrInvalid, err)
		}
	}
	return td, nil
}

func parseID(s string, dst []byte) error {
	if len(s) == 0 || len(s) > 2*len(dst) || len(s)%2 != 0 {
		return fmt.Errorf("id %q: want up to %d hex digits", s, 2*len(dst))
	}
	off := len(dst) - len(s)/2
	if _, err := hex.Decode(dst[off:], []byte(s)); err != nil {
		return fmt.Errorf("id %q: %w", s, err)
	}
	return nil
}

func convert(z *Span, sp ptrace.Span) error {
	var tid pcommon.TraceID
	var id, pid pcommon.SpanID
	if len(z.TraceID)%2 == 1 && len(z.TraceID) < 32 {
		z.TraceID = "0" + z.TraceID
	}
	if err := parseID(z.TraceID, tid[:]); err != nil {
		return fmt.Errorf("traceId: %w", err)
	}
	if len(z.ID) != 16 {
		return fmt.Errorf("id %q: want 16 hex digits", z.ID)
	}
	if err := parseID(z.ID, id[:]); err != nil {
		return fmt.Errorf("id: %w", err)
	}
	if z.ParentID != "" {
		if err := parseID(z.ParentID, pid[:]); err != nil {
			return fmt.Errorf("parentId: %w", err)
		}
	}
	if z.Timestamp < 0 || z.Duration < 0 {
		return fmt.Errorf("negative timestamp or duration")
	}
	sp.SetTraceID(tid)
	sp.SetSpanID(id)
	sp.SetParentSpanID(pid)
	sp.SetName(z.Name)
	switch z.Kind {
	case "CLIENT":
		sp.SetKind(ptrace.SpanKindClient)
	case "SERVER":
		sp.SetKind(ptrace.SpanKindServer)
	case "PRODUCER":
		sp.SetKind(ptrace.SpanKindProducer)
	case "CONSUMER":
		sp.SetKind(ptrace.SpanKindConsumer)
	case "":
		sp.SetKind(ptrace.SpanKindInternal)
	default:
		return fmt.Errorf("kind %q", z.Kind)
	}
	start := uint64(z.Timestamp) * 1000
	sp.SetStartTimestamp(pcommon.Timestamp(start))
	sp.SetEndTimestamp(pcommon.Timestamp(start + uint64(z.Duration)*1000))
	attrs := sp.Attributes()
	for k, v := range z.Tags {
		switch k {
		case "error":
			sp.Status().SetCode(ptrace.StatusCodeError)
			if v != "" && v != "true" {
				sp.Status().SetMessage(v)
			}
		case "otel.status_code":
			switch v {
			case "ERROR":
				sp.Status().SetCode(ptrace.StatusCodeError)
			case "OK":
				sp.Status().SetCode(ptrace.StatusCodeOk)
			}
		case "otel.status_description":
			sp.Status().SetMessage(v)
		default:
			attrs.PutStr(k, v)
		}
	}
	if z.Debug {
		attrs.PutBool("zipkin.debug", true)
	}
	if z.Shared {
		attrs.PutBool("zipkin.shared", true)
	}
	if r := z.RemoteEndpoint; r != nil {
		if r.ServiceName != "" {
			if _, ok := attrs.Get("peer.service"); !ok {
				attrs.PutStr("peer.service", r.ServiceName)
			}
		}
		if r.IPv4 != "" {
			attrs.PutStr("network.peer.address", r.IPv4)
		} else if r.IPv6 != "" {
			attrs.PutStr("network.peer.address", r.IPv6)
		}
		if r.Port != 0 {
			attrs.PutInt("network.peer.port", int64(r.Port))
		}
	}
	for _, a := range z.Annotations {
		ev := sp.Events().AppendEmpty()
		if a.Timestamp > 0 {
			ev.SetTimestamp(pcommon.Timestamp(uint64(a.Timestamp) * 1000))
		}
		ev.SetName(a.Value)
	}
	return nil
}

// Handler serves POST /api/v2/spans and, for older instrumentation, the
// v1 JSON form on POST /api/v1/spans.
type Handler struct {
	Sink            TracesSink
	MaxRequestBytes int64
	Limiter         *ingest.Limiter
	Logger          *slog.Logger
}

// Register mounts the Zipkin endpoints on mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle("POST /api/v2/spans", h)
	mux.HandleFunc("POST /api/v1/spans", h.serveV1)
}

// ServeHTTP decodes a v2 span list and answers 202 once the sink stored it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, "v2", Decode)
}

func (h *Handler) serveV1(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, "v1", DecodeV1)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, version string, decode func([]byte) (ptrace.Traces, error)) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := mime.ParseMediaType(ct)
		if mt != "application/json" && mt != "text/plain" {
			ingest.WriteError(w, fmt.Errorf("zipkin %s content type %q (only JSON is accepted, not Thrift or protobuf): %w", version, mt, failure.ErrUnsupported))
			return
		}
	}
	body, res, err := ingest.ReadBodyReserved(r, h.MaxRequestBytes, h.Limiter)
	defer res.Release()
	if err == nil {
		// A span list is a JSON array of span objects.
		err = res.GrowForItems(len(body), ingest.CountJSON(body, '{', 1), "spans", ingest.CostRow)
	}
	if err != nil {
		ingest.WriteError(w, err)
		return
	}
	td, err := decode(body)
	if err != nil {
		ingest.WriteError(w, err)
		return
	}
	if err := h.Sink.ConsumeTraces(r.Context(), td); err != nil {
		if h.Logger != nil && failure.HTTPStatus(err) >= 500 {
			h.Logger.Warn("store zipkin spans", "err", err)
		}
		ingest.WriteError(w, err)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(0))
	w.WriteHeader(http.StatusAccepted)
}
