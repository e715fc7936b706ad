package spanmetrics

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sightline/sightline/internal/tracestore"
)

// memStore keeps the last value and exemplar per series.
type memStore struct {
	mu   sync.Mutex
	last map[string]float64
	ex   map[string]string
}

type memApp struct {
	storage.Appender
	s   *memStore
	buf map[string]float64
	ex  map[string]string
}

func (m *memStore) Appender(context.Context) storage.Appender {
	return &memApp{s: m, buf: map[string]float64{}, ex: map[string]string{}}
}

func (a *memApp) Append(_ storage.SeriesRef, l labels.Labels, _ int64, v float64) (storage.SeriesRef, error) {
	a.buf[l.String()] = v
	return 1, nil
}

func (a *memApp) AppendExemplar(_ storage.SeriesRef, l labels.Labels, e exemplar.Exemplar) (storage.SeriesRef, error) {
	a.ex[l.String()] = e.Labels.Get("trace_id")
	return 1, nil
}

func (a *memApp) Commit() error {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	for k, v := range a.buf {
		a.s.last[k] = v
	}
	for k, v := range a.ex {
		a.s.ex[k] = v
	}
	return nil
}

func (a *memApp) Rollback() error { return nil }

func (m *memStore) get(l labels.Labels) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last[l.String()]
}

type spanSpec struct {
	svc        string
	trace      byte
	id, parent byte
	name       string
	kind       ptrace.SpanKind
	dur        time.Duration
	err        bool
	attrs      map[string]string
}

func build(specs ...spanSpec) ptrace.Traces {
	td := ptrace.NewTraces()
	base := time.Unix(1700000000, 0)
	for _, s := range specs {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", s.svc)
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{15: s.trace})
		sp.SetSpanID(pcommon.SpanID{7: s.id})
		if s.parent != 0 {
			sp.SetParentSpanID(pcommon.SpanID{7: s.parent})
		}
		sp.SetName(s.name)
		sp.SetKind(s.kind)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(base))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(base.Add(s.dur)))
		if s.err {
			sp.Status().SetCode(ptrace.StatusCodeError)
		}
		for k, v := range s.attrs {
			sp.Attributes().PutStr(k, v)
		}
	}
	return td
}

func TestGenerator(t *testing.T) {
	st := &memStore{last: map[string]float64{}, ex: map[string]string{}}
	now := time.Unix(1800000000, 0)
	clock := func() time.Time { return now }
	g, err := New(st, Options{WaitWindow: 5 * time.Second, Now: clock}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for tr := byte(1); tr <= 3; tr++ {
		_ = g.ConsumeTraces(ctx, build(
			spanSpec{svc: "web", trace: tr, id: 1, name: "GET /", kind: ptrace.SpanKindServer, dur: 30 * time.Millisecond},
			spanSpec{svc: "web", trace: tr, id: 2, parent: 1, name: "call api", kind: ptrace.SpanKindClient, dur: 20 * time.Millisecond, err: tr == 3},
			spanSpec{svc: "api", trace: tr, id: 3, parent: 2, name: "Api.Do", kind: ptrace.SpanKindServer, dur: 10 * time.Millisecond},
			spanSpec{svc: "api", trace: tr, id: 4, parent: 3, name: "SELECT", kind: ptrace.SpanKindClient, dur: 3 * time.Millisecond, attrs: map[string]string{"db.system": "postgresql"}},
		))
	}
	if err := g.Flush(); err != nil {
		t.Fatal(err)
	}
	calls := func(svc, name, kind, status string) labels.Labels {
		return labels.FromStrings("__name__", CallsTotal, "service", svc, "span_name", name, "span_kind", kind, "status_code", status)
	}
	edge := func(name, c, s, conn string) labels.Labels {
		return labels.NewBuilder(labels.FromStrings("__name__", name, "client", c, "server", s, "connection_type", conn)).Labels()
	}
	tests := []struct {
		name string
		l    labels.Labels
		want float64
	}{
		{"server calls", calls("web", "GET /", "SPAN_KIND_SERVER", "STATUS_CODE_UNSET"), 3},
		{"client ok calls", calls("web", "call api", "SPAN_KIND_CLIENT", "STATUS_CODE_UNSET"), 2},
		{"client error calls", calls("web", "call api", "SPAN_KIND_CLIENT", "STATUS_CODE_ERROR"), 1},
		{"hist count", labels.FromStrings("__name__", Duration+"_count", "service", "api", "span_name", "Api.Do", "span_kind", "SPAN_KIND_SERVER", "status_code", "STATUS_CODE_UNSET"), 3},
		{"hist bucket below", labels.FromStrings("__name__", Duration+"_bucket", "service", "api", "span_name", "Api.Do", "span_kind", "SPAN_KIND_SERVER", "status_code", "STATUS_CODE_UNSET", "le", "0.008"), 0},
		{"hist bucket above", labels.FromStrings("__name__", Duration+"_bucket", "service", "api", "span_name", "Api.Do", "span_kind", "SPAN_KIND_SERVER", "status_code", "STATUS_CODE_UNSET", "le", "0.016"), 3},
		{"edge total", edge(GraphRequestTotal, "web", "api", ""), 3},
		{"edge failed", edge(GraphRequestFailed, "web", "api", ""), 1},
		{"edge server count", edge(GraphServerSeconds+"_count", "web", "api", ""), 3},
		{"db edge before expiry", edge(GraphRequestTotal, "api", "postgresql", ConnDatabase), 0},
	}
	for _, tc := range tests {
		if got := st.get(tc.l); got != tc.want {
			t.Errorf("%s: %s = %v, want %v", tc.name, tc.l, got, tc.want)
		}
	}
	if g.Pending() != 3 {
		t.Errorf("pending = %d, want the 3 db client halves", g.Pending())
	}
	now = now.Add(6 * time.Second)
	g.Expire(now)
	if err := g.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := st.get(edge(GraphRequestTotal, "api", "postgresql", ConnDatabase)); got != 3 {
		t.Errorf("db edge = %v, want 3", got)
	}
	if got := st.get(edge(GraphClientSeconds+"_count", "api", "postgresql", ConnDatabase)); got != 3 {
		t.Errorf("db client hist count = %v", got)
	}
	if g.Pending() != 0 {
		t.Errorf("pending = %d", g.Pending())
	}
	st.mu.Lock()
	ex := st.ex[calls("web", "GET /", "SPAN_KIND_SERVER", "STATUS_CODE_UNSET").String()]
	st.mu.Unlock()
	if ex != (pcommon.TraceID{15: 3}).String() {
		t.Errorf("exemplar trace id = %q", ex)
	}
}

func TestLimits(t *testing.T) {
	st := &memStore{last: map[string]float64{}, ex: map[string]string{}}
	g, err := New(st, Options{MaxSeries: 2, MaxPendingEdges: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := byte(1); i <= 5; i++ {
		_ = g.ConsumeTraces(context.Background(), build(spanSpec{svc: "s", trace: i, id: i, name: string('a' + rune(i)), kind: ptrace.SpanKindClient}))
	}
	g.mu.Lock()
	n := len(g.series)
	g.mu.Unlock()
	if n != 2 || g.Pending() != 1 {
		t.Errorf("series = %d, pending = %d; want 2 and 1", n, g.Pending())
	}
	if err := (Options{Buckets: []float64{1, 1}}).Validate(); err == nil {
		t.Error("non-increasing buckets accepted")
	}
}

// BenchmarkConsume measures deriving metrics and edges per span.
func BenchmarkConsume(b *testing.B) {
	st := &memStore{last: map[string]float64{}, ex: map[string]string{}}
	g, err := New(st, Options{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	var specs []spanSpec
	for tr := byte(1); tr <= 50; tr++ {
		specs = append(specs,
			spanSpec{svc: "web", trace: tr, id: 1, name: "GET /", kind: ptrace.SpanKindServer, dur: 30 * time.Millisecond},
			spanSpec{svc: "web", trace: tr, id: 2, parent: 1, name: "call api", kind: ptrace.SpanKindClient, dur: 20 * time.Millisecond},
			spanSpec{svc: "api", trace: tr, id: 3, parent: 2, name: "Api.Do", kind: ptrace.SpanKindServer, dur: 10 * time.Millisecond},
			spanSpec{svc: "api", trace: tr, id: 4, parent: 3, name: "SELECT", kind: ptrace.SpanKindInternal, dur: 3 * time.Millisecond})
	}
	td := build(specs...)
	rows := tracestore.AppendRows(nil, "", td)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		g.ConsumeRows(rows)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*td.SpanCount()), "ns/span")
}

// Span names and peers come and go (pods churn). A series no span updated
// for StaleAfter is dropped with a staleness marker, which frees its room
// under MaxSeries for new ones; live series are kept and rewritten.
func TestStaleSeriesAreDropped(t *testing.T) {
	st := &memStore{last: map[string]float64{}, ex: map[string]string{}}
	now := time.Unix(1800000000, 0)
	g, err := New(st, Options{MaxSeries: 4, StaleAfter: 5 * time.Minute, Now: func() time.Time { return now }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	span := func(tr byte, name string) ptrace.Traces {
		return build(spanSpec{svc: "web", trace: tr, id: 1, name: name, kind: ptrace.SpanKindInternal, dur: time.Millisecond})
	}
	calls := func(name string) labels.Labels {
		return labels.FromStrings("__name__", CallsTotal, "service", "web", "span_name", name, "span_kind", "SPAN_KIND_INTERNAL", "status_code", "STATUS_CODE_UNSET")
	}
	// Two span names: two counters and two histograms fill the limit.
	_ = g.ConsumeTraces(ctx, span(1, "old"))
	_ = g.ConsumeTraces(ctx, span(2, "live"))
	if err := g.Flush(); err != nil {
		t.Fatal(err)
	}
	// "live" keeps getting spans for ten minutes, "old" gets none.
	for range 10 {
		now = now.Add(time.Minute)
		_ = g.ConsumeTraces(ctx, span(3, "live"))
		if err := g.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if v := st.get(calls("old")); !value.IsStaleNaN(v) {
		t.Errorf("old series last sample %v, want a staleness marker", v)
	}
	if v := st.get(calls("live")); v != 11 {
		t.Errorf("live series = %v, want 11", v)
	}
	// The freed room takes a new span name; the limit still holds.
	_ = g.ConsumeTraces(ctx, span(4, "new"))
	if err := g.Flush(); err != nil {
		t.Fatal(err)
	}
	if v := st.get(calls("new")); v != 1 {
		t.Errorf("new series = %v, want 1 (room freed by the stale one)", v)
	}
	g.mu.Lock()
	n := len(g.series)
	g.mu.Unlock()
	if n != 4 {
		t.Errorf("%d series, want 4", n)
	}
	// The limit holds: with it full again, the old span name stays out.
	_ = g.ConsumeTraces(ctx, span(5, "old"))
	if err := g.Flush(); err != nil {
		t.Fatal(err)
	}
	if v := st.get(calls("old")); !value.IsStaleNaN(v) {
		t.Errorf("old span name came back while the limit is full: %v", v)
	}
}
