package otlp

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
)

// RawTracesSink is an optional capability of a TracesSink: it takes OTLP
// trace export requests in protobuf form, so gRPC and HTTP protobuf
// requests reach it without being decoded into pdata first. body is valid
// only during the call. It returns the number of spans in the request.
type RawTracesSink interface {
	ConsumeTracesProto(ctx context.Context, body []byte) (spans int, err error)
}

// Every OTLP gRPC service is served with its request kept as bytes until
// the ingest interceptor has counted the request's items and reserved
// their memory (ingest.ItemCounter): decoding first would allocate what the
// budget is there to refuse. Messages implement the
// SizeProto/MarshalProto/UnmarshalProto methods that pdata's gRPC codec
// (registered for "proto" by the pdata packages this one imports)
// recognises.

// rawExport is one OTLP service's Export, taking the request as bytes.
type rawExport struct {
	service, metadata string
	items             signalItems
	consume           func(ctx context.Context, body []byte) error
}

func (e *rawExport) desc() *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: e.service,
		HandlerType: (*any)(nil),
		Methods:     []grpc.MethodDesc{{MethodName: "Export", Handler: rawExportHandler}},
		Streams:     []grpc.StreamDesc{},
		Metadata:    e.metadata,
	}
}

// rawGRPC registers the OTLP services of r's sinks in their raw form.
func (r *Receiver) rawGRPC(s *grpc.Server) {
	if r.Metrics != nil {
		e := &rawExport{service: "opentelemetry.proto.collector.metrics.v1.MetricsService",
			metadata: "opentelemetry/proto/collector/metrics/v1/metrics_service.proto", items: metricItems,
			consume: func(ctx context.Context, body []byte) error {
				req := pmetricotlp.NewExportRequest()
				if err := decode(&req, body, encProto); err != nil {
					r.observe("metrics", "grpc", err, 0)
					return err
				}
				md := req.Metrics()
				err := r.Metrics.ConsumeMetrics(ctx, md)
				r.observe("metrics", "grpc", err, md.DataPointCount())
				return err
			}}
		s.RegisterService(e.desc(), e)
	}
	if r.Logs != nil {
		e := &rawExport{service: "opentelemetry.proto.collector.logs.v1.LogsService",
			metadata: "opentelemetry/proto/collector/logs/v1/logs_service.proto", items: logItems,
			consume: func(ctx context.Context, body []byte) error {
				req := plogotlp.NewExportRequest()
				if err := decode(&req, body, encProto); err != nil {
					r.observe("logs", "grpc", err, 0)
					return err
				}
				ld := req.Logs()
				err := r.Logs.ConsumeLogs(ctx, ld)
				r.observe("logs", "grpc", err, ld.LogRecordCount())
				return err
			}}
		s.RegisterService(e.desc(), e)
	}
	if r.Traces != nil {
		raw, ok := r.Traces.(RawTracesSink)
		if !ok {
			raw = pdataTraces{r}
		}
		e := &rawExport{service: "opentelemetry.proto.collector.trace.v1.TraceService",
			metadata: "opentelemetry/proto/collector/trace/v1/trace_service.proto", items: spanItems,
			consume: func(ctx context.Context, body []byte) error {
				n, err := raw.ConsumeTracesProto(ctx, body)
				r.observe("traces", "grpc", err, n)
				return err
			}}
		s.RegisterService(e.desc(), e)
	}
}

// pdataTraces decodes trace requests for a sink without RawTracesSink.
type pdataTraces struct{ r *Receiver }

func (p pdataTraces) ConsumeTracesProto(ctx context.Context, body []byte) (int, error) {
	req := ptraceotlp.NewExportRequest()
	if err := decode(&req, body, encProto); err != nil {
		return 0, err
	}
	td := req.Traces()
	return td.SpanCount(), p.r.Traces.ConsumeTraces(ctx, td)
}

// rawMessage is an OTLP request or response kept as bytes.
type rawMessage struct {
	b     []byte
	items signalItems // estimates the request's items, set by its service
}

func (m *rawMessage) SizeProto() int { return len(m.b) }

func (m *rawMessage) MarshalProto(dst []byte) int { return copy(dst, m.b) }

// CountItems counts the request's items before it is decoded
// (ingest.ItemCounter).
func (m *rawMessage) CountItems() (int64, string, error) { return m.items(m.b) }

func (m *rawMessage) UnmarshalProto(b []byte) error {
	m.b = append(m.b[:0], b...)
	return nil
}

// maxPooledRequest bounds the requests whose buffers are pooled.
const maxPooledRequest = 4 << 20

var rawPool = sync.Pool{New: func() any { return new(rawMessage) }}

func rawExportHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	e := srv.(*rawExport)
	req := rawPool.Get().(*rawMessage)
	req.items = e.items
	defer func() {
		if cap(req.b) <= maxPooledRequest {
			req.b, req.items = req.b[:0], nil
			rawPool.Put(req)
		}
	}()
	if err := dec(req); err != nil {
		return nil, err
	}
	export := func(ctx context.Context, in any) (any, error) {
		if err := e.consume(ctx, in.(*rawMessage).b); err != nil {
			return nil, grpcError(err)
		}
		return &rawMessage{}, nil // an empty Export*ServiceResponse
	}
	if interceptor == nil {
		return export(ctx, req)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: "/" + e.service + "/Export"}
	return interceptor(ctx, req, info, export)
}
