// Package otlp receives OpenTelemetry data over OTLP/gRPC and OTLP/HTTP
// (protobuf and JSON, optionally gzip/zstd-compressed) and hands each decoded
// batch to the sink for its signal. A signal without a sink answers
// Unimplemented / 404, so a client learns at once that it is not accepted.
//
// A traces sink that also implements RawTracesSink gets OTLP protobuf
// trace requests (gRPC and HTTP) as bytes and decodes them itself; JSON
// requests still arrive as pdata.
//
// A *Receiver is safe for concurrent use once built; its sinks must be too.
package otlp

import (
	"context"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sightline/sightline/internal/failure"
	"github.com/sightline/sightline/internal/ingest"
)

// MetricsSink stores decoded metrics.
type MetricsSink interface {
	ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error
}

// LogsSink stores decoded log records.
type LogsSink interface {
	ConsumeLogs(ctx context.Context, ld plog.Logs) error
}

// TracesSink stores decoded spans.
type TracesSink interface {
	ConsumeTraces(ctx context.Context, td ptrace.Traces) error
}

// Receiver decodes OTLP requests for the sinks it was given.
type Receiver struct {
	Metrics MetricsSink // nil: metrics are refused
	Logs    LogsSink    // nil: logs are refused
	Traces  TracesSink  // nil: traces are refused

	MaxRequestBytes int64
	Limiter         *ingest.Limiter
	Logger          *slog.Logger

	requests *prometheus.CounterVec
	items    *prometheus.CounterVec
}

// NewReceiver builds a receiver and registers its metrics with reg.
func NewReceiver(r Receiver, reg prometheus.Registerer) *Receiver {
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	if r.MaxRequestBytes <= 0 {
		r.MaxRequestBytes = 64 << 20
	}
	r.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sightline_otlp_requests_total",
		Help: "OTLP export requests by signal, transport and outcome code.",
	}, []string{"signal", "transport", "code"})
	r.items = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sightline_otlp_received_items_total",
		Help: "Data points, log records or spans accepted over OTLP, by signal.",
	}, []string{"signal"})
	if reg != nil {
		reg.MustRegister(r.requests, r.items)
	}
	return &r
}

// RegisterGRPC registers the OTLP services whose sinks are set.
func (r *Receiver) RegisterGRPC(s *grpc.Server) { r.rawGRPC(s) }

// grpcError gives err its gRPC status code (nil stays nil).
func grpcError(err error) error {
	if err == nil {
		return nil
	}
	return status.Error(failure.GRPCCode(err), err.Error())
}

func (r *Receiver) observe(signal, transport string, err error, n int) {
	r.requests.WithLabelValues(signal, transport, fmt.Sprint(failure.HTTPStatus(err))).Inc()
	if err == nil {
		r.items.WithLabelValues(signal).Add(float64(n))
		return
	}
	if failure.HTTPStatus(err) >= 500 {
		r.Logger.Error("OTLP export failed", "signal", signal, "transport", transport, "err", err)
	} else {
		r.Logger.Debug("OTLP export refused", "signal", signal, "transport", transport, "err", err)
	}
}

// Register mounts the OTLP/HTTP paths under prefix on mux
// (prefix "" gives /v1/metrics, /v1/logs and /v1/traces).
func (r *Receiver) Register(mux *http.ServeMux, prefix string) {
	mux.HandleFunc("POST "+prefix+"/v1/metrics", r.serveMetrics)
	mux.HandleFunc("POST "+prefix+"/v1/logs", r.serveLogs)
	mux.HandleFunc("POST "+prefix+"/v1/traces", r.serveTraces)
}

type encoding int

const (
	encProto encoding = iota
	encJSON
)

// signalItems estimates what a signal's protobuf request takes once
// decoded, before decoding it (ingest.GrowForEstimate).
type signalItems func(b []byte) (cost int64, what string, err error)

// jsonItems is signalItems for an OTLP/JSON body. Its items are the
// objects at one nesting depth: log records and spans at depth 6
// ({"resourceLogs":[{"scopeLogs":[{"logRecords":[{…}]}]}]}), data points
// at depth 9 (…"metrics":[{"gauge":{"dataPoints":[{…}]}}]…). Resource
// attribute values are objects at depth 6 too, so a few more rows are
// counted than sent. Span events are charged by their bytes only.
type jsonItems func(b []byte) (cost int64, what string)

var (
	// Log records, each carrying its resource and scope attributes.
	logItems signalItems = func(b []byte) (int64, string, error) {
		n, cost, err := ingest.OTLPRowsCost(b, false)
		return cost, fmt.Sprintf("%d log records", n), err
	}
	// Spans and their events, which are stored as rows too.
	spanItems signalItems = func(b []byte) (int64, string, error) {
		n, cost, err := ingest.OTLPRowsCost(b, true)
		return cost, fmt.Sprintf("%d spans and span events", n), err
	}
	metricItems signalItems = func(b []byte) (int64, string, error) {
		n, err := ingest.CountProto(b, []protowire.Number{1, 2, 2, 5, 1}, []protowire.Number{1, 2, 2, 7, 1},
			[]protowire.Number{1, 2, 2, 9, 1}, []protowire.Number{1, 2, 2, 10, 1}, []protowire.Number{1, 2, 2, 11, 1})
		return int64(n) * ingest.CostSeries, fmt.Sprintf("%d data points", n), err
	}

	logJSON jsonItems = func(b []byte) (int64, string) {
		n := ingest.CountJSON(b, '{', 6)
		return int64(n) * ingest.CostRow, fmt.Sprintf("%d log records", n)
	}
	spanJSON jsonItems = func(b []byte) (int64, string) {
		n := ingest.CountJSON(b, '{', 6)
		return int64(n) * ingest.CostRow, fmt.Sprintf("%d spans", n)
	}
	metricJSON jsonItems = func(b []byte) (int64, string) {
		n := ingest.CountJSON(b, '{', 9)
		return int64(n) * ingest.CostSeries, fmt.Sprintf("%d data points", n)
	}
)

// readRequest reads an OTLP/HTTP body and reserves its decoded bytes and
// its items' memory.
func (r *Receiver) readRequest(w http.ResponseWriter, req *http.Request, si signalItems, ji jsonItems) (body []byte, enc encoding, release func(), ok bool) {
	ct, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	switch strings.ToLower(ct) {
	case "application/x-protobuf", "application/protobuf":
		enc = encProto
	case "application/json":
		enc = encJSON
	default:
		ingest.WriteError(w, fmt.Errorf("content type %q is not OTLP (use application/x-protobuf or application/json): %w", ct, failure.ErrUnsupported))
		return nil, 0, nil, false
	}
	body, res, err := ingest.ReadBodyReserved(req, r.MaxRequestBytes, r.Limiter)
	if err == nil && enc == encProto {
		var cost int64
		var what string
		if cost, what, err = si(body); err != nil {
			err = fmt.Errorf("decode OTLP request: %v: %w", err, failure.ErrInvalid)
		} else {
			err = res.GrowForEstimate(int64(len(body))+cost, what)
		}
	}
	if err == nil && enc == encJSON {
		cost, what := ji(body)
		err = res.GrowForEstimate(int64(len(body))+cost, what)
	}
	if err != nil {
		res.Release()
		ingest.WriteError(w, err)
		return nil, 0, nil, false
	}
	return body, enc, res.Release, true
}

type otlpMessage interface {
	UnmarshalProto([]byte) error
	UnmarshalJSON([]byte) error
}

type otlpResponse interface {
	MarshalProto() ([]byte, error)
	MarshalJSON() ([]byte, error)
}

func decode(msg otlpMessage, body []byte, enc encoding) error {
	var err error
	if enc == encJSON {
		err = msg.UnmarshalJSON(body)
	} else {
		err = msg.UnmarshalProto(body)
	}
	if err != nil {
		return fmt.Errorf("decode OTLP request: %v: %w", err, failure.ErrInvalid)
	}
	return nil
}

func respond(w http.ResponseWriter, resp otlpResponse, enc encoding) {
	var b []byte
	var err error
	if enc == encJSON {
		w.Header().Set("Content-Type", "application/json")
		b, err = resp.MarshalJSON()
	} else {
		w.Header().Set("Content-Type", "application/x-protobuf")
		b, err = resp.MarshalProto()
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = w.Write(b)
}

func (r *Receiver) serveMetrics(w http.ResponseWriter, req *http.Request) {
	if r.Metrics == nil {
		http.Error(w, "OTLP metrics are not accepted by this server", http.StatusNotFound)
		return
	}
	body, enc, release, ok := r.readRequest(w, req, metricItems, metricJSON)
	if !ok {
		return
	}
	defer release()
	m := pmetricotlp.NewExportRequest()
	err := decode(&m, body, enc)
	if err == nil {
		err = r.Metrics.ConsumeMetrics(req.Context(), m.Metrics())
	}
	r.observe("metrics", "http", err, m.Metrics().DataPointCount())
	if err != nil {
		ingest.WriteError(w, err)
		return
	}
	respond(w, pmetricotlp.NewExportResponse(), enc)
}

func (r *Receiver) serveLogs(w http.ResponseWriter, req *http.Request) {
	if r.Logs == nil {
		http.Error(w, "OTLP logs are not accepted by this server", http.StatusNotFound)
		return
	}
	body, enc, release, ok := r.readRequest(w, req, logItems, logJSON)
	if !ok {
		return
	}
	defer release()
	m := plogotlp.NewExportRequest()
	err := decode(&m, body, enc)
	if err == nil {
		err = r.Logs.ConsumeLogs(req.Context(), m.Logs())
	}
	r.observe("logs", "http", err, m.Logs().LogRecordCount())
	if err != nil {
		ingest.WriteError(w, err)
		return
	}
	respond(w, plogotlp.NewExportResponse(), enc)
}

func (r *Receiver) serveTraces(w http.ResponseWriter, req *http.Request) {
	if r.Traces == nil {
		http.Error(w, "OTLP traces are not accepted by this server", http.StatusNotFound)
		return
	}
	body, enc, release, ok := r.readRequest(w, req, spanItems, spanJSON)
	if !ok {
		return
	}
	defer release()
	if raw, ok := r.Traces.(RawTracesSink); ok && enc == encProto {
		n, err := raw.ConsumeTracesProto(req.Context(), body)
		r.observe("traces", "http", err, n)
		if err != nil {
			ingest.WriteError(w, err)
			return
		}
		respond(w, ptraceotlp.NewExportResponse(), enc)
		return
	}
	m := ptraceotlp.NewExportRequest()
	err := decode(&m, body, enc)
	if err == nil {
		err = r.Traces.ConsumeTraces(req.Context(), m.Traces())
	}
	r.observe("traces", "http", err, m.Traces().SpanCount())
	if err != nil {
		ingest.WriteError(w, err)
		return
	}
	respond(w, ptraceotlp.NewExportResponse(), enc)
}
