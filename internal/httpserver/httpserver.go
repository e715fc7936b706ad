// Package httpserver runs sightline's HTTP listeners: it binds addresses
// (so callers learn the real port of ":0"), serves a handler wrapped in the
// middleware every route gets (panic recovery, request metrics) and shuts
// down gracefully. It also provides the operational endpoints: /metrics,
// /-/healthy, /-/ready and /debug/pprof/.
//
// A *Server is safe for concurrent use.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server is one HTTP listener.
type Server struct {
	name   string
	ln     net.Listener
	srv    *http.Server
	logger *slog.Logger
	done   chan error
}

// Listen binds addr; Serve must follow.
func Listen(name, addr string, h http.Handler, logger *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for %s on %s: %w", name, addr, err)
	}
	return &Server{
		name: name,
		ln:   ln,
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		},
		logger: logger,
		done:   make(chan error, 1),
	}, nil
}

// SetHandler sets the handler; call it before Serve.
func (s *Server) SetHandler(h http.Handler) { s.srv.Handler = h }

// Addr is the bound address (with the real port when ":0" was asked for).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve starts serving in the background.
func (s *Server) Serve() {
	s.logger.Info("listening", "listener", s.name, "addr", s.Addr())
	go func() {
		err := s.srv.Serve(s.ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
}

// Shutdown stops accepting, waits for in-flight requests until ctx ends,
// then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	return err
}

// Metrics are the request metrics shared by all listeners:
// sightline_http_requests_total{listener,handler,code} and
// sightline_http_request_duration_seconds{listener,handler}.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics creates the request metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sightline_http_requests_total",
			Help: "HTTP requests by listener, route and status code.",
		}, []string{"listener", "handler", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:                        "sightline_http_request_duration_seconds",
			Help:                        "HTTP request latency by listener and route.",
			Buckets:                     prometheus.DefBuckets,
			NativeHistogramBucketFactor: 1.1,
		}, []string{"listener", "handler"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration)
	}
	return m
}

// Middleware wraps every request of a listener with panic recovery and
// request metrics. route names a request for the metrics; keep its
// cardinality low.
func (m *Metrics) Middleware(listener string, h http.Handler, route func(*http.Request) string, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		name := route(r)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				logger.Error("HTTP handler panicked", "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				if !rw.wrote {
					// A wrapped handler may have announced a compressed
					// body already; the error below is plain text.
					rw.Header().Del("Content-Encoding")
					rw.Header().Del("Content-Length")
					http.Error(rw, "internal error", http.StatusInternalServerError)
				}
				rw.code = http.StatusInternalServerError
			}
			m.requests.WithLabelValues(listener, name, strconv.Itoa(rw.code)).Inc()
			m.duration.WithLabelValues(listener, name).Observe(time.Since(start).Seconds())
		}()
		h.ServeHTTP(rw, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Flush lets streaming handlers (live tail, SSE) flush through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the underlying writer (hijacking for
// websockets, deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// RegisterOps mounts /metrics, /-/healthy, /-/ready and /debug/pprof/.
func RegisterOps(mux *http.ServeMux, g prometheus.Gatherer, ready func() bool) {
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintln(w, "sightline is healthy.")
	})
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, "sightline is not ready: stores are opening or closing.", http.StatusServiceUnavailable)
			return
		}
		_, _ = fmt.Fprintln(w, "sightline is ready.")
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}
