package app

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sightline/sightline/internal/api/jaeger"
	apitraces "github.com/sightline/sightline/internal/api/traces"
	"github.com/sightline/sightline/internal/config"
	"github.com/sightline/sightline/internal/ingest/otlp"
	"github.com/sightline/sightline/internal/ingest/zipkin"
	"github.com/sightline/sightline/internal/sampling"
	"github.com/sightline/sightline/internal/spanmetrics"
	"github.com/sightline/sightline/internal/tracestore"
)

// tracePipeline is the one path every span takes, whatever its protocol:
// rows into the event store (through the sampler), then span metrics and
// service-graph edges. Metrics are derived only after the store accepted
// the batch, so a refused batch that the client retries counts once.
type tracePipeline struct {
	tenant  string
	sampler *sampling.Sampler
	gen     *spanmetrics.Generator
	bufs    sync.Pool // *tracestore.RowBuffer, reused when the sampler does not keep rows
}

func (p *tracePipeline) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	var err error
	if p.sampler.PassThrough() {
		// The store copies what it keeps, so the rows' memory is reused.
		buf, _ := p.bufs.Get().(*tracestore.RowBuffer)
		if buf == nil {
			buf = new(tracestore.RowBuffer)
		}
		err = p.sampler.Offer(ctx, buf.Rows(p.tenant, td))
		p.bufs.Put(buf)
	} else {
		err = p.sampler.Offer(ctx, tracestore.AppendRows(nil, p.tenant, td))
	}
	if err != nil {
		return err
	}
	return p.gen.ConsumeTraces(ctx, td)
}

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
	pipe := &tracePipeline{sampler: smp, gen: gen}
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
	if len(tc.SpanMetricsBuckets) > 0 {
		g.Buckets = tc.SpanMetricsBuckets
	}
	return s, g
}
