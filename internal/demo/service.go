package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
)

// service is one shop process's identity: its tracer and meter (OTLP to
// the server), its Prometheus registry (scraped on /metrics), its log file
// and the listener its /metrics (and, for the gateway, its API) answer on.
type service struct {
	name   string
	tracer trace.Tracer
	log    *logWriter
	reg    *prometheus.Registry
	httpLn net.Listener // /metrics (and the gateway's API)

	tp *sdktrace.TracerProvider
	mp *sdkmetric.MeterProvider

	requests  *prometheus.CounterVec
	durations *prometheus.HistogramVec
	otelCalls metric.Int64Counter
}

// newService sets up telemetry for name; otlpConn is a gRPC connection to
// the server's OTLP endpoint shared by every service.
func newService(ctx context.Context, name string, otlpConn *grpc.ClientConn, log *logWriter, metricInterval time.Duration) (*service, error) {
	res := resource.NewSchemaless(attribute.String("service.name", name), attribute.String("service.namespace", "shop"),
		attribute.String("service.version", "1.4.2"), attribute.String("deployment.environment.name", "demo"))
	texp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithGRPCConn(otlpConn))
	if err != nil {
		return nil, fmt.Errorf("create trace exporter: %w", err)
	}
	mexp, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithGRPCConn(otlpConn))
	if err != nil {
		return nil, fmt.Errorf("create metric exporter: %w", err)
	}
	s := &service{name: name, log: log, reg: prometheus.NewRegistry()}
	s.tp = sdktrace.NewTracerProvider(sdktrace.WithResource(res),
		sdktrace.WithBatcher(texp, sdktrace.WithBatchTimeout(time.Second)))
	s.mp = sdkmetric.NewMeterProvider(sdkmetric.WithResource(res),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(mexp, sdkmetric.WithInterval(metricInterval))))
	s.tracer = s.tp.Tracer("github.com/sightline/sightline/internal/demo")
	if s.otelCalls, err = s.mp.Meter("github.com/sightline/sightline/internal/demo").Int64Counter("shop.calls",
		metric.WithDescription("Requests handled, counted by the OpenTelemetry SDK.")); err != nil {
		return nil, fmt.Errorf("create counter: %w", err)
	}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shop_requests_total", Help: "Requests handled, by operation and result code.",
		ConstLabels: prometheus.Labels{"service": name},
	}, []string{"operation", "code"})
	s.durations = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "shop_request_duration_seconds", Help: "Time to handle a request.",
		ConstLabels: prometheus.Labels{"service": name},
		Buckets:     []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"operation"})
	s.reg.MustRegister(s.requests, s.durations)
	return s, nil
}

// observe records one handled request in both metric systems.
func (s *service) observe(op, code string, d time.Duration) {
	s.requests.WithLabelValues(op, code).Inc()
	s.durations.WithLabelValues(op).Observe(d.Seconds())
	s.otelCalls.Add(context.Background(), 1, metric.WithAttributes(attribute.String("operation", op), attribute.String("code", code)))
}

// serveHTTP serves h (which should include /metrics) on the service's
// listener until ctx ends.
func (s *service) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg})
}

// shutdown flushes and stops the telemetry pipelines.
func (s *service) shutdown(ctx context.Context) error {
	return errors.Join(s.tp.Shutdown(ctx), s.mp.Shutdown(ctx))
}
