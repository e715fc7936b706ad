// Package relay carries telemetry that does not come from files to the
// server as durably as file lines: the Outbox (a disk-buffered, ordered
// queue of OTLP batches with stable batch ids and a resume token, used by
// the OTLP relay and the journald input) and the Relay, a local OTLP
// endpoint (HTTP, and gRPC when configured) that applications send logs,
// and optionally traces and metrics, to. The relay acknowledges a request
// only after it is fsynced in its signal's outbox, so it survives a server
// outage and an agent crash. The server drops exact retries of log
// batches by id; relayed traces and metrics are delivered at least once.
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
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
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
	// Signals are the OTLP signals relayed: logs, traces, metrics.
	Signals []string `yaml:"signals"`
	// TracesPath and MetricsPath are the server's OTLP/HTTP paths for
	// relayed traces and metrics (logs use the shipper's path).
	TracesPath  string `yaml:"traces_path"`
	MetricsPath string `yaml:"metrics_path"`
}

// Relays reports whether signal is relayed.
func (o *Options) Relays(signal string) bool { return slices.Contains(o.Signals, signal) }

// DefaultOptions returns the defaults (relay disabled).
func DefaultOptions() Options {
	return Options{MaxRequestBytes: 16 << 20, FullTimeout: 5 * time.Second, Signals: []string{"logs", "traces", "metrics"},
		TracesPath: "/otlp/v1/traces", MetricsPath: "/otlp/v1/metrics"}
}

// Enabled reports whether any listener is configured.
func (o *Options) Enabled() bool { return o.HTTPAddr != "" || o.GRPCAddr != "" }

// Validate checks the options.
func (o *Options) Validate() error {
	if o.MaxRequestBytes <= 0 || o.FullTimeout <= 0 {
		return errors.New("validate relay options: max_request_bytes and full_timeout must be positive")
	}
	for _, sig := range o.Signals {
		if sig != "logs" && sig != "traces" && sig != "metrics" {
			return fmt.Errorf("validate relay options: signal %q is not one of logs, traces, metrics", sig)
		}
	}
	return nil
}

// Outboxes are where each signal goes; a nil outbox refuses the signal.
type Outboxes struct {
	Logs, Traces, Metrics *Outbox
}

// Relay receives OTLP data and puts it in outboxes.
type Relay struct {
	opts   Options
	out    *Outbox // logs
	outs   Outboxes
	labels map[string]string
	log    *slog.Logger

	mu   sync.Mutex // guards addr, grpcAddr
	addr net.Addr
	gadr net.Addr
	recv *otlp.Receiver
}

// New returns a relay writing to outs; labels are added to every
// resource that does not set them (the agent's static labels).
func New(opts Options, outs Outboxes, labels map[string]string, log *slog.Logger, reg prometheus.Registerer) (*Relay, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Relay{opts: opts, out: outs.Logs, outs: outs, labels: labels, log: log}
	recv := otlp.Receiver{MaxRequestBytes: opts.MaxRequestBytes, Logger: log}
	if outs.Logs != nil {
		recv.Logs = r
	}
	if outs.Traces != nil {
		recv.Traces = tracesSink{r}
	}
	if outs.Metrics != nil {
		recv.Metrics = metricsSink{r}
	}
	r.recv = otlp.NewReceiver(recv, reg)
	return r, nil
}

// fill adds the relay's labels to a resource that lacks them.
func (r *Relay) fill(attrs pcommon.Map) {
	for k, v := range r.labels {
		if _, ok := attrs.Get(k); !ok {
			attrs.PutStr(k, v)
		}
	}
}

// put stores payload in out, answering 503 when the buffer stays full.
func (r *Relay) put(ctx context.Context, out *Outbox, payload []byte, n int) error {
	ctx, cancel := context.WithTimeout(ctx, r.opts.FullTimeout)
	defer cancel()
	if err := out.Put(ctx, payload, n, ""); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("agent disk buffer full: %w", failure.ErrUnavailable)
		}
		return err
	}
	return nil
}

type tracesSink struct{ r *Relay }

// ConsumeTraces implements otlp.TracesSink: it returns once td is durable.
func (s tracesSink) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	n := td.SpanCount()
	if n == 0 {
		return nil
	}
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		s.r.fill(td.ResourceSpans().At(i).Resource().Attributes())
	}
	payload, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		return fmt.Errorf("encode relayed traces: %w", err)
	}
	return s.r.put(ctx, s.r.outs.Traces, payload, n)
}

type metricsSink struct{ r *Relay }

// ConsumeMetrics implements otlp.MetricsSink: it returns once md is durable.
func (s metricsSink) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	n := md.DataPointCount()
	if n == 0 {
		return nil
	}
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		s.r.fill(md.ResourceMetrics().At(i).Resource().Attributes())
	}
	payload, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	if err != nil {
		return fmt.Errorf("encode relayed metrics: %w", err)
	}
	return s.r.put(ctx, s.r.outs.Metrics, payload, n)
}

// ConsumeLogs implements otlp.LogsSink: it returns once ld is durable.
func (r *Relay) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	n := ld.LogRecordCount()
	if n == 0 {
		return nil
	}
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		r.fill(rls.At(i).Resource().Attributes())
	}
	payload, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		return fmt.Errorf("encode relayed logs: %w", err)
	}
	return r.put(ctx, r.out, payload, n)
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
