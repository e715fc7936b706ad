package app

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/sightline/sightline/internal/api/jaeger"
	apitraces "github.com/sightline/sightline/internal/api/traces"
	"github.com/sightline/sightline/internal/config"
	"github.com/sightline/sightline/internal/ingest/otlp"
	"github.com/sightline/sightline/internal/ingest/zipkin"
	"github.com/sightline/sightline/internal/logstore"
	"github.com/sightline/sightline/internal/sampling"
	"github.com/sightline/sightline/internal/spanmetrics"
	"github.com/sightline/sightline/internal/tracestore"
	"github.com/sightline/sightline/internal/tracestore/pipeline"
)

// setupTraces wires the traces pillar: span ingest into the event store,
// span metrics and service-graph series into the metric store, and the
// trace query APIs on mux; it sets rcv.Traces for OTLP traces.
func (a *App) setupTraces(mux *http.ServeMux, rcv *otlp.Receiver) error {
	store := &tracestore.Store{Events: a.events}
	sopts, gopts := traceOptions(a.cfg.Traces)
	sopts.Logger = a.logger.With("component", "sampling")
	gopts.Logger = a.logger.With("component", "spanmetrics")
	smp, err := sampling.New(sopts, store.Append, a.reg)
	if err != nil {
		return fmt.Errorf("set up trace sampling: %w", err)
	}
	gen, err := spanmetrics.New(a.metrics, gopts, a.reg)
	if err != nil {
		return fmt.Errorf("set up span metrics: %w", err)
	}
	// On stop, buffered traces are decided and stored first, then the last
	// pending service-graph edges are written (pillar stops run newest
	// first).
	a.onStop(func(context.Context) error { return gen.Close() })
	a.onStop(func(context.Context) error { return smp.Close() })
	gen.Start()
	if !smp.PassThrough() {
		smp.Start()
	}
	// Spans carry the tenant of their request (X-Scope-OrgID header or
	// gRPC metadata); OTLP protobuf is decoded without pdata.
	pipe, err := pipeline.New(pipeline.Options{Sampler: smp, Derive: gen, Tenant: logstore.TenantFrom})
	if err != nil {
		return fmt.Errorf("set up trace pipeline: %w", err)
	}
	rcv.Traces = pipe

	maxReq := int64(a.cfg.Limits.MaxRequestBytes)
	(&zipkin.Handler{Sink: pipe, MaxRequestBytes: maxReq, Limiter: a.limiter, Logger: a.logger.With("component", "zipkin")}).Register(mux)

	deps := func(ctx context.Context, start, end time.Time) ([]spanmetrics.Edge, error) {
		return spanmetrics.Dependencies(ctx, a.metrics, start, end)
	}
	(&jaeger.Handler{Reader: store, Dependencies: deps}).Register(mux, "")
	(&apitraces.Handler{Store: store, Dependencies: deps}).Register(mux)
	return nil
}

// traceOptions maps the traces config section onto the engines' options.
func traceOptions(tc config.TracesConfig) (sampling.Options, spanmetrics.Options) {
	s := sampling.Options{
		Rate:             tc.SamplingRate,
		KeepErrors:       tc.KeepErrors,
		SlowerThan:       time.Duration(tc.KeepSlowerThan),
		DecisionWait:     time.Duration(tc.DecisionWait),
		MaxBufferedBytes: int64(tc.SamplingBufferBytes),
	}
	g := spanmetrics.DefaultOptions()
	g.WaitWindow = time.Duration(tc.ServiceGraphWait)
	g.MaxPendingEdges = tc.ServiceGraphMaxPending
	g.MaxSeries = tc.SpanMetricsMaxSeries
	g.StaleAfter = time.Duration(tc.SpanMetricsStaleAfter)
	if len(tc.SpanMetricsBuckets) > 0 {
		g.Buckets = tc.SpanMetricsBuckets
	}
	return s, g
}
