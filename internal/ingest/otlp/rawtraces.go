package otlp

import (
	"context"
	"sync"

	"google.golang.org/grpc"
)

// RawTracesSink is an optional capability of a TracesSink: it takes OTLP
// trace export requests in protobuf form, so gRPC and HTTP protobuf
// requests reach it without being decoded into pdata first. body is valid
// only during the call. It returns the number of spans in the request.
type RawTracesSink interface {
	ConsumeTracesProto(ctx context.Context, body []byte) (spans int, err error)
}

const traceExportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

// rawTracesDesc serves the OTLP TraceService with the request kept as
// bytes. Its messages implement the SizeProto/MarshalProto/UnmarshalProto
// methods that pdata's gRPC codec (registered for "proto" by the pdata
// packages this one imports) recognises.
var rawTracesDesc = grpc.ServiceDesc{
	ServiceName: "opentelemetry.proto.collector.trace.v1.TraceService",
	HandlerType: (*any)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Export", Handler: rawTracesExport}},
	Streams:     []grpc.StreamDesc{},
	Metadata:    "opentelemetry/proto/collector/trace/v1/trace_service.proto",
}

// rawMessage is a protobuf message held as its encoded bytes.
type rawMessage struct{ b []byte }

func (m *rawMessage) SizeProto() int { return len(m.b) }

func (m *rawMessage) MarshalProto(dst []byte) int { return copy(dst, m.b) }

// UnmarshalProto copies b: the codec reuses it once this returns.
// CountItems counts the request's spans and span events before it is
// decoded (ingest.ItemCounter): raw messages carry trace exports only.
func (m *rawMessage) CountItems() (int, string, int64, error) { return spanItems.count(m.b) }

func (m *rawMessage) UnmarshalProto(b []byte) error {
	m.b = append(m.b[:0], b...)
	return nil
}

// maxPooledRequest bounds the request buffers kept for reuse.
const maxPooledRequest = 4 << 20

var rawPool = sync.Pool{New: func() any { return new(rawMessage) }}

type rawTracesServer struct {
	r    *Receiver
	sink RawTracesSink
}

func (s *rawTracesServer) export(ctx context.Context, req *rawMessage) (*rawMessage, error) {
	n, err := s.sink.ConsumeTracesProto(ctx, req.b)
	s.r.observe("traces", "grpc", err, n)
	if err != nil {
		return nil, grpcError(err)
	}
	return &rawMessage{}, nil // an empty ExportTraceServiceResponse
}

func rawTracesExport(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	req := rawPool.Get().(*rawMessage)
	defer func() {
		if cap(req.b) <= maxPooledRequest {
			req.b = req.b[:0]
			rawPool.Put(req)
		}
	}()
	if err := dec(req); err != nil {
		return nil, err
	}
	s := srv.(*rawTracesServer)
	if interceptor == nil {
		return s.export(ctx, req)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: traceExportMethod}
	return interceptor(ctx, req, info, func(ctx context.Context, in any) (any, error) {
		return s.export(ctx, in.(*rawMessage))
	})
}
