package ingest

import (
	"context"
	"log/slog"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// TestGRPCRefusesWhileBudgetFull: while the in-flight budget is used up, a
// new gRPC request is refused with RESOURCE_EXHAUSTED as it opens; once the
// budget frees, requests go through again.
func TestGRPCRefusesWhileBudgetFull(t *testing.T) {
	lim := NewLimiter(1000, nil)
	srv := NewGRPCServer(1<<20, lim, slog.New(slog.DiscardHandler))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Stop()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	check := func() codes.Code {
		_, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{})
		return status.Code(err)
	}
	if c := check(); c != codes.OK {
		t.Fatalf("budget free: %v", c)
	}
	if err := lim.Acquire(1000); err != nil {
		t.Fatal(err)
	}
	if c := check(); c != codes.ResourceExhausted {
		t.Fatalf("budget used up: %v, want ResourceExhausted", c)
	}
	lim.Release(1000)
	if c := check(); c != codes.OK {
		t.Fatalf("budget free again: %v", c)
	}
}
