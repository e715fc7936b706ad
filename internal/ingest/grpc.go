package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // OTLP exporters may gzip requests
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	"github.com/sightline/sightline/internal/failure"
)

// maxStreamsPerConn bounds the concurrent requests of one gRPC connection
// (the HTTP/2 recommendation's floor): gRPC receives a whole message before
// the interceptors can charge it, so unbounded streams would mean unbounded
// memory.
const maxStreamsPerConn = 100

// NewGRPCServer returns a gRPC server for ingest: messages are bounded by
// maxRecvBytes, gzip is accepted, each request's size is reserved in lim
// while its handler runs (RESOURCE_EXHAUSTED when the budget is used up), and
// a panicking handler becomes an INTERNAL error instead of a crash. While
// the budget is used up, new requests are refused as they open, before
// their messages are read.
func NewGRPCServer(maxRecvBytes int64, lim *Limiter, logger *slog.Logger) *grpc.Server {
	return grpc.NewServer(
		grpc.MaxRecvMsgSize(int(maxRecvBytes)),
		grpc.MaxConcurrentStreams(maxStreamsPerConn),
		grpc.InTapHandle(refuseWhenFull(lim)),
		grpc.StatsHandler(sizeRecorder{}),
		grpc.ChainUnaryInterceptor(recoverUnary(logger), limitUnary(lim)),
	)
}

// refuseWhenFull refuses a new request with RESOURCE_EXHAUSTED while lim
// has nothing left, so overloaded clients back off without sending (and
// the server without buffering) their payloads.
func refuseWhenFull(lim *Limiter) tap.ServerInHandle {
	return func(ctx context.Context, _ *tap.Info) (context.Context, error) {
		if lim != nil && lim.Full() {
			return nil, status.Error(codes.ResourceExhausted, failure.ErrOverloaded.Error()+": the ingest budget (limits.max_inflight_bytes) is in use")
		}
		return ctx, nil
	}
}

type sizeKey struct{}

// sizeRecorder notes each request's decoded size so limitUnary can reserve
// it: stats handlers see the payload before the handler runs.
type sizeRecorder struct{}

func (sizeRecorder) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, sizeKey{}, new(int64))
}

func (sizeRecorder) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if in, ok := s.(*stats.InPayload); ok {
		if p, ok := ctx.Value(sizeKey{}).(*int64); ok {
			*p += int64(in.Length)
		}
	}
}

func (sizeRecorder) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (sizeRecorder) HandleConn(context.Context, stats.ConnStats)                       {}

func limitUnary(lim *Limiter) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if lim == nil {
			return handler(ctx, req)
		}
		var n int64
		if p, ok := ctx.Value(sizeKey{}).(*int64); ok {
			n = *p
		}
		if err := lim.Acquire(n); err != nil {
			return nil, status.Error(codes.ResourceExhausted, err.Error())
		}
		res := &Reservation{l: lim, n: n}
		defer res.Release()
		if ic, ok := req.(ItemCounter); ok {
			cost, what, err := ic.CountItems()
			if err == nil {
				err = res.GrowForEstimate(n+cost, what)
			} else {
				err = fmt.Errorf("%v: %w", err, failure.ErrInvalid)
			}
			if err != nil {
				return nil, status.Error(failure.GRPCCode(err), err.Error())
			}
		}
		return handler(ctx, req)
	}
}

func recoverUnary(logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				logger.Error("gRPC handler panicked", "method", info.FullMethod, "panic", p, "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, fmt.Sprintf("internal error in %s", info.FullMethod))
			}
		}()
		return handler(ctx, req)
	}
}
