// Package pipeline is the one path every span takes, whatever its
// protocol: decode into tracestore rows of the request's tenant, offer
// them to the sampler (which stores what it keeps), then derive span
// metrics and service-graph edges from them. Metrics are derived only
// after the store accepted the batch, so a refused batch the client
// retries counts once.
//
// OTLP protobuf requests are decoded straight into rows
// (tracestore.RowBuffer.DecodeProto), falling back to pdata only for what
// that decoder leaves to it; Zipkin and OTLP JSON arrive as pdata.
//
// A *Pipeline is safe for concurrent use.
package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/sightline/sightline/internal/failure"
	"github.com/sightline/sightline/internal/model"
	"github.com/sightline/sightline/internal/tracestore"
)

// Sampler takes rows and stores those it keeps (sampling.Sampler).
type Sampler interface {
	Offer(ctx context.Context, rows []model.Event) error
	// PassThrough reports that Offer stores rows at once and keeps no
	// reference to them, so their memory may be reused.
	PassThrough() bool
}

// Deriver derives data from stored rows (spanmetrics.Generator). It must
// copy what it keeps of the rows.
type Deriver interface {
	ConsumeRows(rows []model.Event)
}

// Options configure a Pipeline.
type Options struct {
	Sampler Sampler // required
	Derive  Deriver // nil: nothing is derived
	// Tenant returns the tenant of a request from its context (e.g.
	// logstore.TenantFrom, which reads X-Scope-OrgID from HTTP headers put
	// in the context and from gRPC metadata). nil: the default tenant.
	Tenant func(ctx context.Context) string
}

// Validate reports missing settings.
func (o Options) Validate() error {
	if o.Sampler == nil {
		return errors.New("validate trace pipeline options: a sampler is required")
	}
	return nil
}

// Pipeline decodes, samples, stores and derives spans.
type Pipeline struct {
	o    Options
	bufs sync.Pool // *tracestore.RowBuffer, reused when the sampler keeps no rows
}

// New returns a pipeline.
func New(o Options) (*Pipeline, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return &Pipeline{o: o}, nil
}

func (p *Pipeline) tenant(ctx context.Context) string {
	if p.o.Tenant == nil {
		return ""
	}
	return p.o.Tenant(ctx)
}

func (p *Pipeline) getBuf() *tracestore.RowBuffer {
	if b, ok := p.bufs.Get().(*tracestore.RowBuffer); ok {
		return b
	}
	return new(tracestore.RowBuffer)
}

func (p *Pipeline) offer(ctx context.Context, rows []model.Event) error {
	if err := p.o.Sampler.Offer(ctx, rows); err != nil {
		return err
	}
	if p.o.Derive != nil {
		p.o.Derive.ConsumeRows(rows)
	}
	return nil
}

// ConsumeTraces stores spans decoded into pdata (Zipkin, OTLP JSON).
func (p *Pipeline) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	tenant := p.tenant(ctx)
	if !p.o.Sampler.PassThrough() {
		return p.offer(ctx, tracestore.AppendRows(nil, tenant, td))
	}
	buf := p.getBuf()
	defer p.bufs.Put(buf)
	return p.offer(ctx, buf.Rows(tenant, td))
}

// ConsumeTracesProto stores the spans of an OTLP ExportTraceServiceRequest
// in protobuf form and returns how many there were. body is not used
// after the call returns.
func (p *Pipeline) ConsumeTracesProto(ctx context.Context, body []byte) (spans int, err error) {
	tenant := p.tenant(ctx)
	var buf *tracestore.RowBuffer
	if p.o.Sampler.PassThrough() {
		buf = p.getBuf()
		defer p.bufs.Put(buf)
	} else {
		// The sampler holds rows, whose strings share the body: give them
		// a body and a buffer nobody reuses.
		body = bytes.Clone(body)
		buf = new(tracestore.RowBuffer)
	}
	rows, err := buf.DecodeProto(tenant, body)
	if errors.Is(err, tracestore.ErrFallback) {
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			return 0, fmt.Errorf("decode OTLP traces: %v: %w", err, failure.ErrInvalid)
		}
		td := req.Traces()
		return td.SpanCount(), p.ConsumeTraces(ctx, td)
	}
	if err != nil {
		return 0, fmt.Errorf("decode OTLP traces: %w", err)
	}
	return tracestore.SpanCount(rows), p.offer(ctx, rows)
}
