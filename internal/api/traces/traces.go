// Package traces serves sightline's own trace JSON for the UI:
//
//	GET /api/v1/traces/{id}        the trace as a tree (depth-first order,
//	                               depth, self time, critical-path flag per
//	                               span), span events, and the log rows that
//	                               carry the same trace id
//	GET /api/v1/traces/search      trace summaries (service, operation, tags,
//	                               minDuration, maxDuration, start, end in
//	                               Unix ns or RFC 3339, limit)
//	GET /api/v1/traces/graph       service-graph edges from the metric store
//
// Every read is scoped to the tenant in the X-Scope-OrgID header (none:
// the default tenant).
//
// A *Handler is safe for concurrent use.
package traces

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/sightline/sightline/internal/failure"
	"github.com/sightline/sightline/internal/model"
	"github.com/sightline/sightline/internal/spanmetrics"
	"github.com/sightline/sightline/internal/tracestore"
)

// Store is what the API reads.
type Store interface {
	TraceByID(ctx context.Context, id model.TraceID, start, end int64) (tracestore.Trace, bool, error)
	Logs(ctx context.Context, id model.TraceID, start, end int64, limit int) ([]model.Event, error)
	SearchSummaries(ctx context.Context, q tracestore.Search) ([]tracestore.Summary, error)
}

// Handler serves the API.
type Handler struct {
	Store        Store
	Dependencies func(ctx context.Context, start, end time.Time) ([]spanmetrics.Edge, error)
	// MaxLogs caps the log rows returned with a trace. Default 1000.
	MaxLogs int
}

// Register mounts the API on mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/traces/search", h.search)
	mux.HandleFunc("GET /api/v1/traces/graph", h.graph)
	mux.HandleFunc("GET /api/v1/traces/{id}", h.trace)
}

type envelope struct {
	Status string `json:"status"`
	Data   any    `json:"data,omitempty"`
	Error  string `json:"error,omitempty"`
}

func write(w http.ResponseWriter, data any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(failure.HTTPStatus(err))
		_ = json.NewEncoder(w).Encode(envelope{Status: "error", Error: err.Error()})
		return
	}
	_ = json.NewEncoder(w).Encode(envelope{Status: "success", Data: data})
}

// SpanNode is a span in tree order.
type SpanNode struct {
	SpanID        string            `json:"spanId"`
	ParentSpanID  string            `json:"parentSpanId,omitempty"`
	Service       string            `json:"service"`
	Name          string            `json:"name"`
	Kind          string            `json:"kind"`
	Start         int64             `json:"startNs"`
	Duration      int64             `json:"durationNs"`
	SelfTime      int64             `json:"selfTimeNs"`
	Depth         int               `json:"depth"`
	Critical      bool              `json:"critical"`
	Status        string            `json:"status"`
	StatusMessage string            `json:"statusMessage,omitempty"`
	Attributes    map[string]string `json:"attributes"`
	Resource      map[string]string `json:"resource"`
	Events        []Event           `json:"events"`
	Links         []tracestore.Link `json:"links"`
}

// Event is a span event.
type Event struct {
	Time       int64             `json:"timeNs"`
	Name       string            `json:"name"`
	Attributes map[string]string `json:"attributes"`
}

// LogLine is a log row of the trace.
type LogLine struct {
	Time       int64             `json:"timeNs"`
	SpanID     string            `json:"spanId,omitempty"`
	Severity   string            `json:"severity,omitempty"`
	Body       string            `json:"body"`
	Stream     map[string]string `json:"stream"`
	Attributes map[string]string `json:"attributes"`
}

// Summary is a trace summary in JSON.
type Summary struct {
	TraceID       string   `json:"traceId"`
	RootService   string   `json:"rootService"`
	RootOperation string   `json:"rootOperation"`
	Start         int64    `json:"startNs"`
	Duration      int64    `json:"durationNs"`
	SpanCount     int      `json:"spanCount"`
	Services      []string `json:"services"`
	ErrorCount    int      `json:"errorCount"`
}

func summary(s tracestore.Summary) Summary {
	return Summary{TraceID: s.TraceID.String(), RootService: s.RootService, RootOperation: s.RootOperation,
		Start: s.Start, Duration: s.Duration, SpanCount: s.SpanCount, Services: s.Services, ErrorCount: s.ErrorCount}
}

// TraceView is the trace document.
type TraceView struct {
	TraceID      string     `json:"traceId"`
	Summary      Summary    `json:"summary"`
	Spans        []SpanNode `json:"spans"`
	CriticalPath []string   `json:"criticalPath"`
	Logs         []LogLine  `json:"logs"`
}

func attrMap(as []model.Attr) map[string]string {
	m := make(map[string]string, len(as))
	for _, a := range as {
		m[a.Key] = a.Value.Text()
	}
	return m
}

func statusName(c model.StatusCode) string {
	switch c {
	case model.StatusOK:
		return "ok"
	case model.StatusError:
		return "error"
	}
	return "unset"
}

// BuildView orders t's spans as a tree and marks the critical path.
func BuildView(t *tracestore.Trace, logs []model.Event) TraceView {
	v := TraceView{TraceID: t.ID.String(), Summary: summary(tracestore.Summarize(t)), Spans: []SpanNode{}, CriticalPath: []string{}, Logs: []LogLine{}}
	byID := map[model.SpanID]int{}
	for i := range t.Spans {
		byID[t.Spans[i].SpanID] = i
	}
	children := map[int][]int{}
	var roots []int
	for i := range t.Spans {
		p, ok := byID[t.Spans[i].ParentSpanID]
		if t.Spans[i].ParentSpanID.IsZero() || !ok || p == i {
			roots = append(roots, i)
			continue
		}
		children[p] = append(children[p], i)
	}
	critical := map[int]bool{}
	if len(roots) > 0 {
		root := roots[0]
		for _, r := range roots[1:] {
			if end(&t.Spans[r]) > end(&t.Spans[root]) {
				root = r
			}
		}
		markCritical(t, children, root, end(&t.Spans[root]), critical, 0)
	}
	visited := map[int]bool{}
	var walk func(i, depth int)
	walk = func(i, depth int) {
		if visited[i] {
			return
		}
		visited[i] = true
		s := &t.Spans[i]
		n := SpanNode{
			SpanID: s.SpanID.String(), Service: s.Service, Name: s.Name, Kind: tracestore.KindName(s.Kind),
			Start: s.Start, Duration: s.Duration, Depth: depth, Critical: critical[i], Status: statusName(s.StatusCode),
			StatusMessage: s.StatusMessage, Attributes: attrMap(s.Attrs), Resource: attrMap(s.Resource),
			Events: []Event{}, Links: s.Links,
		}
		if !s.ParentSpanID.IsZero() {
			n.ParentSpanID = s.ParentSpanID.String()
		}
		n.SelfTime = selfTime(t, children[i], s)
		for _, e := range s.Events {
			n.Events = append(n.Events, Event{Time: e.Time, Name: e.Name, Attributes: attrMap(e.Attrs)})
		}
		if n.Critical {
			v.CriticalPath = append(v.CriticalPath, n.SpanID)
		}
		v.Spans = append(v.Spans, n)
		for _, c := range children[i] {
			walk(c, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	for i := range t.Spans { // cycles: show what the walk missed
		walk(i, 0)
	}
	for _, l := range logs {
		ll := LogLine{Time: l.Time, Severity: l.Severity, Body: l.Body, Stream: l.Stream.Map(), Attributes: attrMap(l.Attrs)}
		if !l.SpanID.IsZero() {
			ll.SpanID = l.SpanID.String()
		}
		v.Logs = append(v.Logs, ll)
	}
	return v
}

func end(s *tracestore.Span) int64 { return s.Start + s.Duration }

// markCritical marks span i and, walking back from until, the children
// that last blocked it: the latest-ending child that ended by the current
// point, then the latest that ended before that child started, and so on
// (as Jaeger's critical path does).
func markCritical(t *tracestore.Trace, children map[int][]int, i int, until int64, out map[int]bool, depth int) {
	if depth > 1000 || out[i] {
		return
	}
	out[i] = true
	kids := append([]int(nil), children[i]...)
	sort.Slice(kids, func(a, b int) bool { return end(&t.Spans[kids[a]]) > end(&t.Spans[kids[b]]) })
	point := min(until, end(&t.Spans[i]))
	parentEnd := point
	for _, c := range kids {
		cs := &t.Spans[c]
		// A child counts when it starts before the point and ended by it
		// (a child outliving its parent is clipped to the parent's end).
		if cs.Start >= point || (end(cs) > point && point != parentEnd) {
			continue
		}
		markCritical(t, children, c, point, out, depth+1)
		point = cs.Start
	}
}

// selfTime is the span's duration minus the union of its children's
// intervals clipped to it.
func selfTime(t *tracestore.Trace, kids []int, s *tracestore.Span) int64 {
	type iv struct{ a, b int64 }
	var ivs []iv
	for _, c := range kids {
		a, b := max(t.Spans[c].Start, s.Start), min(end(&t.Spans[c]), end(s))
		if b > a {
			ivs = append(ivs, iv{a, b})
		}
	}
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].a < ivs[j].a })
	var covered, curA, curB int64
	for i, x := range ivs {
		if i == 0 || x.a > curB {
			covered += curB - curA
			curA, curB = x.a, x.b
		} else if x.b > curB {
			curB = x.b
		}
	}
	covered += curB - curA
	return s.Duration - covered
}

func (h *Handler) trace(w http.ResponseWriter, r *http.Request) {
	id, err := model.ParseTraceID(r.PathValue("id"))
	if err != nil {
		write(w, nil, fmt.Errorf("%w: %w", failure.ErrInvalid, err))
		return
	}
	t, ok, err := h.Store.TraceByID(tenantContext(r), id, 0, 0)
	if err != nil {
		write(w, nil, err)
		return
	}
	if !ok {
		write(w, nil, fmt.Errorf("trace %s: %w", id, failure.ErrNotFound))
		return
	}
	maxLogs := h.MaxLogs
	if maxLogs <= 0 {
		maxLogs = 1000
	}
	logs, err := h.Store.Logs(tenantContext(r), id, 0, 0, maxLogs)
	if err != nil {
		write(w, nil, err)
		return
	}
	write(w, BuildView(&t, logs), nil)
}

// tenantContext returns r's context carrying the tenant its X-Scope-OrgID
// header names ("" when absent: the default tenant), which the trace store
// and the service-graph reader scope every read to.
func tenantContext(r *http.Request) context.Context {
	return tracestore.WithTenant(r.Context(), tracestore.RequestTenant(r))
}

func parseTime(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("parse time %q (Unix ns or RFC 3339): %w", s, failure.ErrInvalid)
	}
	return t.UnixNano(), nil
}

func (h *Handler) search(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q := tracestore.Search{Service: v.Get("service"), Operation: v.Get("operation")}
	var err error
	if q.Start, err = parseTime(v.Get("start")); err == nil {
		q.End, err = parseTime(v.Get("end"))
	}
	if err == nil && v.Get("tags") != "" {
		q.Tags, err = tracestore.ParseTags(v.Get("tags"))
	}
	for _, p := range []struct {
		name string
		dst  *time.Duration
	}{{"minDuration", &q.MinDuration}, {"maxDuration", &q.MaxDuration}} {
		if s := v.Get(p.name); s != "" && err == nil {
			if *p.dst, err = time.ParseDuration(s); err != nil {
				err = fmt.Errorf("parse %s %q: %w", p.name, s, failure.ErrInvalid)
			}
		}
	}
	if s := v.Get("limit"); s != "" && err == nil {
		if q.Limit, err = strconv.Atoi(s); err != nil {
			err = fmt.Errorf("parse limit %q: %w", s, failure.ErrInvalid)
		}
	}
	if err != nil {
		write(w, nil, err)
		return
	}
	sums, err := h.Store.SearchSummaries(tenantContext(r), q)
	out := make([]Summary, len(sums))
	for i := range sums {
		out[i] = summary(sums[i])
	}
	write(w, out, err)
}

func (h *Handler) graph(w http.ResponseWriter, r *http.Request) {
	if h.Dependencies == nil {
		write(w, nil, fmt.Errorf("service graph: %w", failure.ErrUnavailable))
		return
	}
	v := r.URL.Query()
	endT := time.Now()
	start := endT.Add(-time.Hour)
	if s := v.Get("end"); s != "" {
		n, err := parseTime(s)
		if err != nil {
			write(w, nil, err)
			return
		}
		endT = time.Unix(0, n)
		start = endT.Add(-time.Hour)
	}
	if s := v.Get("start"); s != "" {
		n, err := parseTime(s)
		if err != nil {
			write(w, nil, err)
			return
		}
		start = time.Unix(0, n)
	}
	edges, err := h.Dependencies(tenantContext(r), start, endT)
	if edges == nil {
		edges = []spanmetrics.Edge{}
	}
	write(w, edges, err)
}
