// Package spanmetrics derives metrics from spans at ingest and writes them
// into the metric store as Prometheus series, named and labelled like
// Tempo's metrics generator:
//
//   - span RED metrics per service, span_name, span_kind and status_code:
//     traces_spanmetrics_calls_total and the classic histogram
//     traces_spanmetrics_duration_seconds_{bucket,sum,count}, with exemplars
//     carrying trace ids;
//   - service-graph edges per client, server and connection_type:
//     traces_service_graph_request_total, ..._request_failed_total,
//     ..._request_server_seconds_* and ..._request_client_seconds_*, from
//     client/server and producer/consumer span pairs matched within a wait
//     window, and from client spans naming an uninstrumented peer
//     (peer.service, db.system, server.address, messaging.system) once the
//     window passes without a server span.
//
// Tenants: series derived from spans of a tenant other than the default
// one carry a tenant="<id>" label (LabelTenant), so tenants never share a
// series and Dependencies returns only the edges of the tenant it is asked
// for.
//
// Memory is bounded: at most Options.MaxSeries series (new ones beyond are
// dropped and counted) and Options.MaxPendingEdges half-matched edges
// (further spans are dropped from the graph and counted). A series no span
// updated for Options.StaleAfter is forgotten and ended with a staleness
// marker, so span names, peers and services that went away (pods churn)
// give their room back; one that comes back starts again from zero.
//
// A *Generator is safe for concurrent use.
package spanmetrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sightline/sightline/internal/model"
	"github.com/sightline/sightline/internal/tracestore"
)

// Metric names.
const (
	CallsTotal          = "traces_spanmetrics_calls_total"
	Duration            = "traces_spanmetrics_duration_seconds"
	GraphRequestTotal   = "traces_service_graph_request_total"
	GraphRequestFailed  = "traces_service_graph_request_failed_total"
	GraphServerSeconds  = "traces_service_graph_request_server_seconds"
	GraphClientSeconds  = "traces_service_graph_request_client_seconds"
	GraphUnpairedTotal  = "traces_service_graph_unpaired_spans_total"
	ConnMessaging       = "messaging_system"
	ConnDatabase        = "database"
	ConnVirtualNode     = "virtual_node"
	defaultFlushEvery   = 2 * time.Second
	defaultRefreshEvery = time.Minute
)

// DefaultBuckets are the duration histogram bounds in seconds (2ms·2^n up
// to ~16s), as Tempo uses.
var DefaultBuckets = []float64{0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384}

// PeerAttributes name an uninstrumented peer of a client or producer span,
// in order of preference.
var PeerAttributes = []string{"peer.service", "db.system", "server.address", "messaging.system"}

// Options configure a Generator.
type Options struct {
	// Buckets are the histogram upper bounds in seconds, increasing.
	Buckets []float64
	// WaitWindow is how long half an edge waits for its other half.
	// Default 10s.
	WaitWindow time.Duration
	// MaxPendingEdges bounds half-matched edges held. Default 100k
	// (about 200 bytes each).
	MaxPendingEdges int
	// MaxSeries bounds the series kept. Default 100k.
	MaxSeries int
	// FlushInterval is how often changed series are written. Default 2s;
	// every live series is rewritten each minute so none goes stale.
	FlushInterval time.Duration
	// StaleAfter is how long a series may go without a span before it is
	// dropped (with a staleness marker). Default 15m.
	StaleAfter time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// DefaultOptions returns the defaults.
func DefaultOptions() Options {
	return Options{Buckets: DefaultBuckets, WaitWindow: 10 * time.Second, MaxPendingEdges: 100_000,
		MaxSeries: 100_000, FlushInterval: defaultFlushEvery, StaleAfter: 15 * time.Minute}
}

// Validate reports invalid settings.
func (o Options) Validate() error {
	for i := range o.Buckets {
		if math.IsNaN(o.Buckets[i]) || (i > 0 && o.Buckets[i] <= o.Buckets[i-1]) {
			return errors.New("validate span metrics options: buckets must increase")
		}
	}
	if o.WaitWindow < 0 || o.MaxPendingEdges < 0 || o.MaxSeries < 0 || o.FlushInterval < 0 || o.StaleAfter < 0 {
		return errors.New("validate span metrics options: negative setting")
	}
	return nil
}

func (o *Options) fill() {
	d := DefaultOptions()
	if len(o.Buckets) == 0 {
		o.Buckets = d.Buckets
	}
	if o.WaitWindow == 0 {
		o.WaitWindow = d.WaitWindow
	}
	if o.MaxPendingEdges == 0 {
		o.MaxPendingEdges = d.MaxPendingEdges
	}
	if o.MaxSeries == 0 {
		o.MaxSeries = d.MaxSeries
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = d.FlushInterval
	}
	if o.StaleAfter == 0 {
		o.StaleAfter = d.StaleAfter
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// series is one counter or histogram family instance.
type series struct {
	hist    bool
	count   float64   // counter value, or histogram count
	sum     float64   // histogram sum
	buckets []float64 // cumulative per bound, histogram only
	// lsets: counter: [name]; histogram: bucket per bound + +Inf, sum, count.
	lsets   []labels.Labels
	refs    []storage.SeriesRef
	dirty   bool
	written bool          // a sample was written before (else a 0 is written first)
	updated int64         // unix ms of the flush that last found it changed
	exTrace model.TraceID // zero: no exemplar yet
	exValue float64
	exTime  int64
}

// seriesKey identifies a series without building a string.
type seriesKey struct {
	family     byte
	tenant     string
	a, b, c, d string
}

type edgeKey struct {
	tenant string
	trace  model.TraceID
	span   model.SpanID
}

type half struct {
	ok       bool // the half was seen
	failed   bool
	service  string
	seconds  float64
	peer     string // client half: uninstrumented peer name, if any
	peerType string
}

type edge struct {
	client, server half
	messaging      bool
	expires        time.Time
}

// Generator turns spans into series.
type Generator struct {
	app  storage.Appendable
	opts Options

	mu      sync.Mutex
	series  map[seriesKey]*series // guarded by mu
	pending map[edgeKey]*edge     // guarded by mu
	names   map[string]string     // guarded by mu: interned service and peer names
	lastTS  int64                 // guarded by mu: last written sample time (ms)
	lastAll time.Time             // guarded by mu: last full rewrite

	// flushMu serialises flushes so sample times increase.
	flushMu sync.Mutex

	droppedSeries prometheus.Counter
	staleSeries   prometheus.Counter
	droppedEdges  prometheus.Counter
	writeErrors   prometheus.Counter

	stop chan struct{}
	done chan struct{}
}

// New returns a generator writing into app; Start begins its background
// loop (flushing and expiring edges) and Close ends it.
func New(app storage.Appendable, opts Options, reg prometheus.Registerer) (*Generator, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.fill()
	g := &Generator{
		app: app, opts: opts,
		series:  map[seriesKey]*series{},
		pending: map[edgeKey]*edge{},
		names:   map[string]string{},
		droppedSeries: prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_spanmetrics_dropped_series_total",
			Help: "Span-metric series not created because the series limit was reached."}),
		staleSeries: prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_spanmetrics_stale_series_total",
			Help: "Span-metric series dropped after no span updated them for the stale period."}),
		droppedEdges: prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_service_graph_dropped_spans_total",
			Help: "Spans left out of the service graph because the pending-edge limit was reached."}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "sightline_spanmetrics_write_errors_total",
			Help: "Failed writes of derived span series into the metric store."}),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	if reg != nil {
		reg.MustRegister(g.droppedSeries, g.staleSeries, g.droppedEdges, g.writeErrors)
	}
	return g, nil
}

// Start runs the background loop.
func (g *Generator) Start() {
	go g.run()
}

func (g *Generator) run() {
	defer close(g.done)
	tick := time.NewTicker(min(g.opts.FlushInterval, g.opts.WaitWindow/2+time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-tick.C:
			g.Expire(g.opts.Now())
			if err := g.Flush(); err != nil {
				g.opts.Logger.Warn("write span metrics", "err", err)
			}
		}
	}
}

// Close stops the loop, completes pending virtual-node edges and writes
// everything once more.
func (g *Generator) Close() error {
	select {
	case <-g.stop:
		return nil
	default:
	}
	close(g.stop)
	<-g.done
	g.Expire(g.opts.Now().Add(g.opts.WaitWindow + time.Nanosecond))
	return g.Flush()
}

func kindLabel(k model.SpanKind) string {
	switch k {
	case model.SpanKindInternal:
		return "SPAN_KIND_INTERNAL"
	case model.SpanKindServer:
		return "SPAN_KIND_SERVER"
	case model.SpanKindClient:
		return "SPAN_KIND_CLIENT"
	case model.SpanKindProducer:
		return "SPAN_KIND_PRODUCER"
	case model.SpanKindConsumer:
		return "SPAN_KIND_CONSUMER"
	}
	return "SPAN_KIND_UNSPECIFIED"
}

func statusLabel(c model.StatusCode) string {
	switch c {
	case model.StatusOK:
		return "STATUS_CODE_OK"
	case model.StatusError:
		return "STATUS_CODE_ERROR"
	}
	return "STATUS_CODE_UNSET"
}

// ConsumeTraces updates the series and edges from td as spans of the
// tenant in ctx (tracestore.WithTenant). It never fails: the derived data
// must not refuse spans. Ingest paths that already hold rows call
// ConsumeRows instead.
func (g *Generator) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	g.ConsumeRows(tracestore.AppendRows(nil, tracestore.TenantFrom(ctx), td))
	return nil
}

// ConsumeRows updates the series and edges from the span rows among rows
// (rows as tracestore makes them; other signals are skipped). Strings it
// keeps are copied, so rows may share memory the caller reuses afterwards.
func (g *Generator) ConsumeRows(rows []model.Event) {
	now := g.opts.Now()
	nowMs := now.UnixMilli()
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range rows {
		r := &rows[i]
		if r.Signal != model.SignalSpan {
			continue
		}
		svc := r.Stream.Get(tracestore.LabelService)
		if svc == "" {
			svc = tracestore.UnknownService
		}
		secs := float64(r.Duration) / 1e9
		g.observeSpanLocked(svc, r, secs, nowMs)
		g.edgeLocked(svc, r, secs, now)
	}
}

func (g *Generator) observeSpanLocked(svc string, r *model.Event, secs float64, nowMs int64) {
	kind, status := kindLabel(r.Kind), statusLabel(r.StatusCode)
	if s := g.getLocked(seriesKey{'c', r.Tenant, svc, r.Name, kind, status}, false, callsLabels); s != nil {
		s.count++
		s.dirty = true
		s.exTrace, s.exValue, s.exTime = r.TraceID, secs, nowMs
	}
	if s := g.getLocked(seriesKey{'h', r.Tenant, svc, r.Name, kind, status}, true, durationLabels); s != nil {
		s.observe(g.opts.Buckets, secs)
		s.exTrace, s.exValue, s.exTime = r.TraceID, secs, nowMs
	}
}

// LabelTenant is the label naming the tenant of derived series; series of
// the default tenant ("") do not have it.
const LabelTenant = "tenant"

func withTenant(tenant string, kv ...string) labels.Labels {
	if tenant != "" {
		kv = append(kv, LabelTenant, tenant)
	}
	return labels.FromStrings(kv...)
}

// labelFunc builds the labels of a new series from its key.
type labelFunc func(k seriesKey) labels.Labels

func callsLabels(k seriesKey) labels.Labels {
	return withTenant(k.tenant, "__name__", CallsTotal, "service", k.a, "span_name", k.b, "span_kind", k.c, "status_code", k.d)
}

func durationLabels(k seriesKey) labels.Labels {
	return withTenant(k.tenant, "__name__", Duration, "service", k.a, "span_name", k.b, "span_kind", k.c, "status_code", k.d)
}

func (s *series) observe(bounds []float64, v float64) {
	s.count++
	s.sum += v
	for i, b := range bounds {
		if v <= b {
			s.buckets[i]++
		}
	}
	s.dirty = true
}

// getLocked returns the series under key, creating it with the labels mk
// builds (nil when the series limit is reached). The key's strings are
// copied when the series is created.
func (g *Generator) getLocked(key seriesKey, hist bool, mk labelFunc) *series {
	if s, ok := g.series[key]; ok {
		return s
	}
	if len(g.series) >= g.opts.MaxSeries {
		g.droppedSeries.Inc()
		return nil
	}
	key.tenant, key.a, key.b = strings.Clone(key.tenant), strings.Clone(key.a), strings.Clone(key.b)
	key.c, key.d = strings.Clone(key.c), strings.Clone(key.d)
	base := labels.NewBuilder(mk(key)).Labels() // drops empty values, as the TSDB would
	s := &series{hist: hist}
	if !hist {
		s.lsets = []labels.Labels{base}
	} else {
		name := base.Get("__name__")
		b := labels.NewBuilder(base)
		for _, bound := range g.opts.Buckets {
			b.Set("__name__", name+"_bucket")
			b.Set("le", strconv.FormatFloat(bound, 'f', -1, 64))
			s.lsets = append(s.lsets, b.Labels())
		}
		b.Set("le", "+Inf")
		s.lsets = append(s.lsets, b.Labels())
		b.Del("le")
		b.Set("__name__", name+"_sum")
		s.lsets = append(s.lsets, b.Labels())
		b.Set("__name__", name+"_count")
		s.lsets = append(s.lsets, b.Labels())
		s.buckets = make([]float64, len(g.opts.Buckets))
	}
	s.refs = make([]storage.SeriesRef, len(s.lsets))
	g.series[key] = s
	return s
}

func peerOf(r *model.Event) (name, typ string) {
	for _, k := range PeerAttributes {
		for i := range r.Attrs {
			a := &r.Attrs[i]
			if a.Key != k {
				continue
			}
			if v := a.Value.Text(); v != "" {
				switch k {
				case "db.system":
					typ = ConnDatabase
				case "messaging.system":
					typ = ConnMessaging
				default:
					typ = ConnVirtualNode
				}
				return v, typ
			}
			break
		}
	}
	return "", ""
}

// internLocked returns a copy of s owned by the generator, shared by
// every caller asking for the same text (service and peer names repeat).
func (g *Generator) internLocked(s string) string {
	if v, ok := g.names[s]; ok {
		return v
	}
	if len(g.names) >= maxInterned {
		clear(g.names)
	}
	v := strings.Clone(s)
	g.names[v] = v
	return v
}

const maxInterned = 10_000

func (g *Generator) edgeLocked(svc string, r *model.Event, secs float64, now time.Time) {
	var key edgeKey
	var client bool
	switch r.Kind {
	case model.SpanKindClient, model.SpanKindProducer:
		key, client = edgeKey{r.Tenant, r.TraceID, r.SpanID}, true
	case model.SpanKindServer, model.SpanKindConsumer:
		if r.ParentSpanID == (model.SpanID{}) {
			return
		}
		key = edgeKey{r.Tenant, r.TraceID, r.ParentSpanID}
	default:
		return
	}
	messaging := r.Kind == model.SpanKindProducer || r.Kind == model.SpanKindConsumer
	h := half{service: g.internLocked(svc), seconds: secs, failed: r.StatusCode == model.StatusError, ok: true}
	if client {
		if peer, typ := peerOf(r); peer != "" {
			h.peer, h.peerType = g.internLocked(peer), typ
		}
	}
	e, ok := g.pending[key]
	if !ok {
		if len(g.pending) >= g.opts.MaxPendingEdges {
			g.droppedEdges.Inc()
			return
		}
		key.tenant = g.internLocked(key.tenant)
		e = &edge{expires: now.Add(g.opts.WaitWindow), messaging: messaging}
		g.pending[key] = e
	}
	if client {
		e.client = h
	} else {
		e.server = h
	}
	if e.client.ok && e.server.ok {
		delete(g.pending, key)
		conn := ""
		if e.messaging {
			conn = ConnMessaging
		}
		g.recordEdgeLocked(key.tenant, e.client.service, e.server.service, conn, e.client.failed || e.server.failed,
			e.server.seconds, e.client.seconds, true)
	}
}

func graphLabels(name string) labelFunc {
	return func(k seriesKey) labels.Labels {
		return withTenant(k.tenant, "__name__", name, "client", k.a, "server", k.b, "connection_type", k.c)
	}
}

var (
	graphTotalLabels  = graphLabels(GraphRequestTotal)
	graphFailedLabels = graphLabels(GraphRequestFailed)
	graphServerLabels = graphLabels(GraphServerSeconds)
	graphClientLabels = graphLabels(GraphClientSeconds)
)

func (g *Generator) recordEdgeLocked(tenant, client, server, conn string, failed bool, serverSecs, clientSecs float64, hasServer bool) {
	if s := g.getLocked(seriesKey{'t', tenant, client, server, conn, ""}, false, graphTotalLabels); s != nil {
		s.count++
		s.dirty = true
	}
	if failed {
		if s := g.getLocked(seriesKey{'f', tenant, client, server, conn, ""}, false, graphFailedLabels); s != nil {
			s.count++
			s.dirty = true
		}
	}
	if hasServer {
		if s := g.getLocked(seriesKey{'s', tenant, client, server, conn, ""}, true, graphServerLabels); s != nil {
			s.observe(g.opts.Buckets, serverSecs)
		}
	}
	if s := g.getLocked(seriesKey{'l', tenant, client, server, conn, ""}, true, graphClientLabels); s != nil {
		s.observe(g.opts.Buckets, clientSecs)
	}
}

// Expire completes or drops the half edges whose wait ended before now: a
// client half naming a peer becomes an edge to that virtual node; other
// lone halves are counted as unpaired.
func (g *Generator) Expire(now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for k, e := range g.pending {
		if e.expires.After(now) {
			continue
		}
		delete(g.pending, k)
		if e.client.ok && e.client.peer != "" {
			g.recordEdgeLocked(k.tenant, e.client.service, e.client.peer, e.client.peerType, e.client.failed, 0, e.client.seconds, false)
			continue
		}
		side, svc := "client", ""
		if e.client.ok {
			svc = e.client.service
		} else {
			side, svc = "server", e.server.service
		}
		if s := g.getLocked(seriesKey{'u', k.tenant, side, svc, "", ""}, false, unpairedLabels); s != nil {
			s.count++
			s.dirty = true
		}
	}
}

func unpairedLabels(k seriesKey) labels.Labels {
	return withTenant(k.tenant, "__name__", GraphUnpairedTotal, k.a, k.b)
}

// Pending reports the half-matched edges held.
func (g *Generator) Pending() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.pending)
}

// countSeries counts the distinct series of samples (grouped per series).
func countSeries(samples []sample) int {
	n := 0
	for i := range samples {
		if i == 0 || samples[i].s != samples[i-1].s {
			n++
		}
	}
	return n
}

type sample struct {
	s      *series
	i      int
	v      float64
	ex     bool
	exT    model.TraceID
	exV    float64
	exTime int64
}

// Flush writes the series changed since the last flush (every series once a
// minute) at the current time. A series' first write is preceded by a 0
// one millisecond earlier, so rate() sees its first increments. In the
// once-a-minute pass, series unchanged for StaleAfter are dropped and get a
// staleness marker instead.
func (g *Generator) Flush() error {
	g.flushMu.Lock()
	defer g.flushMu.Unlock()
	now := g.opts.Now()
	g.mu.Lock()
	ts := max(now.UnixMilli(), g.lastTS+2)
	all := now.Sub(g.lastAll) >= defaultRefreshEvery
	if all {
		g.lastAll = now
	}
	var zeros, out, stale []sample
	staleBefore := ts - g.opts.StaleAfter.Milliseconds()
	for k, s := range g.series {
		if s.dirty {
			s.updated = ts
		} else if !all {
			continue
		} else if s.updated < staleBefore {
			delete(g.series, k)
			if s.written {
				for i := range s.lsets {
					stale = append(stale, sample{s: s, i: i, v: math.Float64frombits(value.StaleNaN)})
				}
			}
			continue
		}
		first := !s.written
		s.dirty, s.written = false, true
		if !s.hist {
			if first {
				zeros = append(zeros, sample{s: s, i: 0})
			}
			out = append(out, sample{s: s, i: 0, v: s.count, ex: s.exTrace != (model.TraceID{}), exT: s.exTrace, exV: s.exValue, exTime: s.exTime})
			continue
		}
		n := len(s.buckets)
		for i := 0; i < n+3; i++ {
			if first {
				zeros = append(zeros, sample{s: s, i: i})
			}
			var v float64
			switch {
			case i < n:
				v = s.buckets[i]
			case i == n, i == n+2:
				v = s.count
			default:
				v = s.sum
			}
			sm := sample{s: s, i: i, v: v}
			if s.exTrace != (model.TraceID{}) && i <= n && (i == n || s.exValue <= g.opts.Buckets[i]) && (i == 0 || i == n || s.exValue > g.opts.Buckets[i-1]) {
				sm.ex, sm.exT, sm.exV, sm.exTime = true, s.exTrace, s.exValue, s.exTime
			}
			out = append(out, sm)
		}
	}
	g.lastTS = ts
	g.mu.Unlock()
	g.staleSeries.Add(float64(countSeries(stale)))
	out = append(out, stale...)
	if len(out) == 0 {
		return nil
	}
	app := g.app.Appender(context.Background())
	var errs []error
	for _, z := range zeros {
		ref, err := app.Append(z.s.refs[z.i], z.s.lsets[z.i], ts-1, 0)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		z.s.refs[z.i] = ref
	}
	for _, o := range out {
		ref, err := app.Append(o.s.refs[o.i], o.s.lsets[o.i], ts, o.v)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		o.s.refs[o.i] = ref
		if o.ex {
			_, _ = app.AppendExemplar(ref, o.s.lsets[o.i], exemplar.Exemplar{
				Labels: labels.FromStrings("trace_id", o.exT.String()), Value: o.exV, Ts: o.exTime, HasTs: true,
			})
		}
	}
	if err := app.Commit(); err != nil {
		g.writeErrors.Inc()
		return fmt.Errorf("commit span metrics: %w", err)
	}
	if len(errs) > 0 {
		g.writeErrors.Add(float64(len(errs)))
		return fmt.Errorf("append span metrics: %w", errors.Join(errs[:min(len(errs), 3)]...))
	}
	return nil
}
