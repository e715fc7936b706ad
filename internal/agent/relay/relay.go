// Package relay carries log records that do not come from files to the
// server as durably as file lines: the Outbox (a disk-buffered, ordered
// queue of OTLP batches with stable batch ids and a resume token, used by
// the OTLP relay and the journald input) and the Relay, a local OTLP
// endpoint (HTTP, and gRPC when configured) that applications send logs
// to. The relay acknowledges a request only after its records are fsynced
// in the outbox, so they survive a server outage and an agent crash.
//
// A *Relay and an *Outbox's Put are safe for concurrent use.
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"

	"github.com/sightline/sightline/internal/failure"
	"github.com/sightline/sightline/internal/ingest/otlp"
)

// Options configures the relay.
type Options struct {
	// HTTPAddr is where OTLP/HTTP is served (POST /v1/logs); empty
	// disables the relay. Apps use http://HTTPAddr as their OTLP endpoint.
	HTTPAddr string `yaml:"http_addr"`
	// GRPCAddr serves OTLP/gRPC logs when not empty.
	GRPCAddr string `yaml:"grpc_addr"`
	// MaxRequestBytes bounds one decompressed request.
	MaxRequestBytes int64 `yaml:"max_request_bytes"`
	// FullTimeout is how long a request waits for space in a full disk
	// buffer before it is answered 503 (the app should retry).
	FullTimeout time.Duration `yaml:"full_timeout"`
}

// DefaultOptions returns the defaults (relay disabled).
func DefaultOptions() Options {
	return Options{MaxRequestBytes: 16 << 20, FullTimeout: 5 * time.Second}
}

// Enabled reports whether any listener is configured.
func (o *Options) Enabled() bool { return o.HTTPAddr != "" || o.GRPCAddr != "" }

// Validate checks the options.
func (o *Options) Validate() error {
	if o.MaxRequestBytes <= 0 || o.FullTimeout <= 0 {
		return errors.New("validate relay options: max_request_bytes and full_timeout must be positive")
	}
	return nil
}

// Relay receives OTLP logs and puts them in an outbox.
type Relay struct {
	opts   Options
	out    *Outbox
	labels map[string]string
	log    *slog.Logger

	mu   sync.Mutex // guards addr, grpcAddr
	addr net.Addr
	gadr net.Addr
	recv *otlp.Receiver
}

// New returns a relay writing to out; labels are added to every
// resource that does not set them (the agent's static labels).
func New(opts Options, out *Outbox, labels map[string]string, log *slog.Logger, reg prometheus.Registerer) (*Relay, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Relay{opts: opts, out: out, labels: labels, log: log}
	r.recv = otlp.NewReceiver(otlp.Receiver{Logs: r, MaxRequestBytes: opts.MaxRequestBytes, Logger: log}, reg)
	return r, nil
}

// ConsumeLogs implements otlp.LogsSink: it returns once ld is durable.
func (r *Relay) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	n := ld.LogRecordCount()
	if n == 0 {
		return nil
	}
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		attrs := rls.At(i).Resource().Attributes()
		for k, v := range r.labels {
			if _, ok := attrs.Get(k); !ok {
				attrs.PutStr(k, v)
			}
		}
	}
	payload, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		return fmt.Errorf("encode relayed logs: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.FullTimeout)
	defer cancel()
	if err := r.out.Put(ctx, payload, n, ""); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("agent disk buffer full: %w", failure.ErrUnavailable)
		}
		return err
	}
	return nil
}

// Addr returns the OTLP/HTTP listener's address once Run has bound it.
func (r *Relay) Addr() net.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addr
}

// GRPCAddr returns the OTLP/gRPC listener's address once Run has bound it.
func (r *Relay) GRPCAddr() net.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gadr
}

// Listen binds the configured listeners; Serve then serves them until ctx
// ends. They are separate so the caller learns of a busy port at start-up.
func (r *Relay) Listen() (serve func(ctx context.Context) error, err error) {
	var hl, gl net.Listener
	defer func() {
		if err != nil {
			for _, l := range []net.Listener{hl, gl} {
				if l != nil {
					l.Close()
				}
			}
		}
	}()
	if r.opts.HTTPAddr != "" {
		if hl, err = net.Listen("tcp", r.opts.HTTPAddr); err != nil {
			return nil, fmt.Errorf("listen on relay http_addr %s: %w", r.opts.HTTPAddr, err)
		}
	}
	if r.opts.GRPCAddr != "" {
		if gl, err = net.Listen("tcp", r.opts.GRPCAddr); err != nil {
			return nil, fmt.Errorf("listen on relay grpc_addr %s: %w", r.opts.GRPCAddr, err)
		}
	}
	r.mu.Lock()
	if hl != nil {
		r.addr = hl.Addr()
	}
	if gl != nil {
		r.gadr = gl.Addr()
	}
	r.mu.Unlock()
	return func(ctx context.Context) error { return r.serve(ctx, hl, gl) }, nil
}

func (r *Relay) serve(ctx context.Context, hl, gl net.Listener) error {
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	if hl != nil {
		mux := http.NewServeMux()
		r.recv.Register(mux, "")
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		wg.Go(func() {
			if err := srv.Serve(hl); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serve OTLP/HTTP relay: %w", err)
			}
		})
		wg.Go(func() {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if srv.Shutdown(sctx) != nil {
				srv.Close()
			}
		})
	}
	if gl != nil {
		gs := grpc.NewServer(grpc.MaxRecvMsgSize(int(r.opts.MaxRequestBytes)))
		r.recv.RegisterGRPC(gs)
		wg.Go(func() {
			if err := gs.Serve(gl); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				errc <- fmt.Errorf("serve OTLP/gRPC relay: %w", err)
			}
		})
		wg.Go(func() {
			<-ctx.Done()
			done := make(chan struct{})
			go func() { gs.GracefulStop(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				gs.Stop()
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}
