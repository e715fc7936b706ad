package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Msg is the one message type every shop RPC takes and returns; it travels
// as JSON through jsonCodec, so no generated code is needed.
type Msg struct {
	User     string    `json:"user,omitempty"`
	Product  string    `json:"product,omitempty"`
	Qty      int       `json:"qty,omitempty"`
	Amount   float64   `json:"amount,omitempty"`
	OrderID  string    `json:"order_id,omitempty"`
	Items    []Item    `json:"items,omitempty"`
	Products []Product `json:"products,omitempty"`
}

// Item is one cart line.
type Item struct {
	Product string `json:"product"`
	Qty     int    `json:"qty"`
}

// Product is one catalog entry.
type Product struct {
	ID    string  `json:"id"`
	Name  string  `json:"name"`
	Price float64 `json:"price"`
}

// jsonCodec marshals gRPC messages as JSON.
type jsonCodec struct{}

func (jsonCodec) Marshal(v any) ([]byte, error)   { return json.Marshal(v) }
func (jsonCodec) Unmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
func (jsonCodec) Name() string                    { return "json" }
func (jsonCodec) String() string                  { return "json" }

// rpcHandler serves one method.
type rpcHandler func(ctx context.Context, req *Msg) (*Msg, error)

// newGRPCServer builds a server for service (e.g. "shop.Catalog") with the
// given methods, tracing each call as a server span of svc.
func newGRPCServer(svc *service, name string, methods map[string]rpcHandler) *grpc.Server {
	desc := grpc.ServiceDesc{ServiceName: name, HandlerType: (*any)(nil)}
	for m, h := range methods {
		desc.Methods = append(desc.Methods, grpc.MethodDesc{
			MethodName: m,
			Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				req := &Msg{}
				if err := dec(req); err != nil {
					return nil, err
				}
				return svc.serveRPC(ctx, name, m, req, h)
			},
		})
	}
	s := grpc.NewServer(grpc.ForceServerCodec(jsonCodec{}))
	s.RegisterService(&desc, struct{}{})
	return s
}

// mdCarrier adapts gRPC metadata to the propagator's carrier.
type mdCarrier metadata.MD

func (c mdCarrier) Get(k string) string {
	if v := metadata.MD(c).Get(k); len(v) > 0 {
		return v[0]
	}
	return ""
}
func (c mdCarrier) Set(k, v string) { metadata.MD(c).Set(k, v) }
func (c mdCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

var propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

func (s *service) serveRPC(ctx context.Context, rpcService, method string, req *Msg, h rpcHandler) (*Msg, error) {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		ctx = propagator.Extract(ctx, mdCarrier(md))
	}
	ctx, span := s.tracer.Start(ctx, rpcService+"/"+method, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("rpc.system", "grpc"), attribute.String("rpc.service", rpcService), attribute.String("rpc.method", method)))
	defer span.End()
	start := time.Now()
	resp, err := h(ctx, req)
	code := "OK"
	if err != nil {
		code = status.Code(err).String()
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.SetAttributes(attribute.String("rpc.grpc.status_code", code))
	s.observe(method, code, time.Since(start))
	return resp, err
}

// rpcClient calls one shop service over gRPC.
type rpcClient struct {
	from   *service
	peer   string // service name of the callee, e.g. "catalog"
	rpcSvc string // gRPC service name, e.g. "shop.Catalog"
	conn   *grpc.ClientConn
}

func dialService(from *service, peer, rpcSvc, addr string) (*rpcClient, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(jsonCodec{})))
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", peer, err)
	}
	return &rpcClient{from: from, peer: peer, rpcSvc: rpcSvc, conn: conn}, nil
}

// Call invokes method with a client span; the trace context travels in the
// request metadata.
func (c *rpcClient) Call(ctx context.Context, method string, req *Msg) (*Msg, error) {
	ctx, span := c.from.tracer.Start(ctx, c.rpcSvc+"/"+method, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("rpc.system", "grpc"), attribute.String("rpc.service", c.rpcSvc),
			attribute.String("rpc.method", method), attribute.String("peer.service", c.peer)))
	defer span.End()
	md := metadata.MD{}
	propagator.Inject(ctx, mdCarrier(md))
	ctx = metadata.NewOutgoingContext(ctx, md)
	resp := &Msg{}
	err := c.conn.Invoke(ctx, "/"+c.rpcSvc+"/"+method, req, resp)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return nil, fmt.Errorf("call %s.%s: %w", c.peer, method, err)
	}
	return resp, nil
}

func (c *rpcClient) Close() error { return c.conn.Close() }

// rpcServiceName turns "catalog" into "shop.Catalog".
func rpcServiceName(svc string) string { return "shop." + strings.ToUpper(svc[:1]) + svc[1:] }
