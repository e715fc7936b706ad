package tracestore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/eventstore"
	"github.com/sightline/sightline/internal/failure"
	"github.com/sightline/sightline/internal/model"
)

// Events is the part of the event store the trace schema uses.
type Events interface {
	Append(ctx context.Context, rows []model.Event) error
	Query(ctx context.Context, q eventstore.Query, fn func(*model.Event) bool) (eventstore.QueryResult, error)
	TraceByID(ctx context.Context, tenant string, id model.TraceID, start, end int64) ([]model.Event, eventstore.QueryStats, error)
	FieldValues(ctx context.Context, q eventstore.Query, field string, limit int) ([]eventstore.ValueCount, eventstore.QueryStats, error)
	LabelValues(ctx context.Context, tenant string, start, end int64, name string, ms ...*labels.Matcher) ([]string, error)
}

// Store reads and writes spans in the event store. Reads are of Tenant,
// or of the tenant in their context when one was set with WithTenant (the
// query APIs set it from X-Scope-OrgID); writes keep the tenant each row
// carries.
type Store struct {
	Events Events
	Tenant string
}

// Append stores rows, translating the event store's refusals into failure
// kinds (overload → retry later; timestamps outside the window → invalid).
// The event store copies what it keeps, so the rows' memory (and the
// request buffer DecodeProto rows share) may be reused once Append
// returns; TestAppendCopiesRows guards this.
func (s *Store) Append(ctx context.Context, rows []model.Event) error {
	if len(rows) == 0 {
		return nil
	}
	err := s.Events.Append(ctx, rows)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, eventstore.ErrOverloaded):
		return fmt.Errorf("store spans: %w: %w", failure.ErrOverloaded, err)
	case errors.Is(err, eventstore.ErrTooOld), errors.Is(err, eventstore.ErrTooNew):
		return fmt.Errorf("store spans: %w: %w", failure.ErrInvalid, err)
	case errors.Is(err, eventstore.ErrClosed):
		return fmt.Errorf("store spans: %w: %w", failure.ErrUnavailable, err)
	}
	return fmt.Errorf("store spans: %w", err)
}

// TraceByID returns a trace's spans in start order; found is false when no
// span of it is stored. start and end (Unix ns, 0 = unbounded) narrow the
// search.
func (s *Store) TraceByID(ctx context.Context, id model.TraceID, start, end int64) (t Trace, found bool, err error) {
	rows, _, err := s.Events.TraceByID(ctx, s.tenant(ctx), id, start, end)
	if err != nil {
		return Trace{}, false, fmt.Errorf("read trace %s: %w", id, err)
	}
	ts := AssembleTrace(rows)
	for _, tr := range ts {
		if tr.ID == id {
			return tr, true, nil
		}
	}
	return Trace{ID: id}, false, nil
}

// Logs returns the log rows carrying trace id, oldest first.
func (s *Store) Logs(ctx context.Context, id model.TraceID, start, end int64, limit int) ([]model.Event, error) {
	rows, _, err := s.Events.TraceByID(ctx, s.tenant(ctx), id, start, end)
	if err != nil {
		return nil, fmt.Errorf("read trace %s: %w", id, err)
	}
	var out []model.Event
	for _, r := range rows {
		if r.Signal == model.SignalLog {
			out = append(out, r)
			if limit > 0 && len(out) >= limit {
				break
			}
		}
	}
	return out, nil
}

// Services lists the services with spans in [start, end).
func (s *Store) Services(ctx context.Context, start, end int64) ([]string, error) {
	m, _ := labels.NewMatcher(labels.MatchNotEqual, LabelService, "")
	vs, err := s.Events.LabelValues(ctx, s.tenant(ctx), start, end, LabelService, m)
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	sort.Strings(vs)
	return vs, nil
}

// Operation is a span name with its kind.
type Operation struct {
	Name string
	Kind model.SpanKind
}

// Operations lists the span names (with kinds) of service in [start, end);
// service "" means all services.
func (s *Store) Operations(ctx context.Context, service string, start, end int64) ([]Operation, error) {
	q := eventstore.Query{Tenant: s.tenant(ctx), Signals: []model.Signal{model.SignalSpan}, Start: start, End: end}
	if service != "" {
		q.Matchers = []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, LabelService, service)}
	}
	names, _, err := s.Events.FieldValues(ctx, q, model.FieldName, 0)
	if err != nil {
		return nil, fmt.Errorf("list operations: %w", err)
	}
	out := make([]Operation, 0, len(names))
	for _, n := range names {
		qk := q
		qk.Filters = []eventstore.Filter{{Field: model.FieldName, Op: eventstore.OpEqual, Value: n.Value}}
		kinds, _, err := s.Events.FieldValues(ctx, qk, model.FieldKind, 0)
		if err != nil {
			return nil, fmt.Errorf("list operation kinds: %w", err)
		}
		if len(kinds) == 0 {
			out = append(out, Operation{Name: n.Value})
		}
		for _, k := range kinds {
			kv, _ := strconv.Atoi(k.Value)
			out = append(out, Operation{Name: n.Value, Kind: model.SpanKind(kv)})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Kind < out[j].Kind
	})
	return out, nil
}

// Search selects traces with at least one span matching every condition.
type Search struct {
	Service   string
	Operation string
	// Tags are key=value conditions on span attributes (resource
	// attributes as "resource.<key>"); error=true means status ERROR.
	Tags        map[string]string
	MinDuration time.Duration // 0 = none
	MaxDuration time.Duration // 0 = none
	Start, End  int64         // Unix ns; End 0 = now
	Limit       int           // traces; default 20
}

// ParseTags parses Jaeger's tags parameter forms: a JSON object is handled
// by the caller; this takes "k=v k2=v2" (logfmt-like, space separated).
func ParseTags(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, f := range strings.Fields(s) {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("parse tag %q: want key=value: %w", f, failure.ErrInvalid)
		}
		out[k] = strings.Trim(v, `"`)
	}
	return out, nil
}

func (q *Search) query(tenant string) eventstore.Query {
	eq := eventstore.Query{Tenant: tenant, Signals: []model.Signal{model.SignalSpan}, Start: q.Start, End: q.End}
	if q.Service != "" {
		eq.Matchers = []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, LabelService, q.Service)}
	}
	if q.Operation != "" {
		eq.Filters = append(eq.Filters, eventstore.Filter{Field: model.FieldName, Op: eventstore.OpEqual, Value: q.Operation})
	}
	if q.MinDuration > 0 {
		eq.Filters = append(eq.Filters, eventstore.Filter{Field: model.FieldDuration, Op: eventstore.OpGE, Num: float64(q.MinDuration.Nanoseconds())})
	}
	if q.MaxDuration > 0 {
		eq.Filters = append(eq.Filters, eventstore.Filter{Field: model.FieldDuration, Op: eventstore.OpLE, Num: float64(q.MaxDuration.Nanoseconds())})
	}
	keys := make([]string, 0, len(q.Tags))
	for k := range q.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := q.Tags[k]
		switch {
		case k == "error" && (v == "true" || v == "1"):
			eq.Filters = append(eq.Filters, eventstore.Filter{Field: model.FieldStatusCode, Op: eventstore.OpEqual, Value: "2"})
		case k == "error" && v == "false":
			eq.Filters = append(eq.Filters, eventstore.Filter{Field: model.FieldStatusCode, Op: eventstore.OpEqual, Value: "2", Not: true})
		case k == "span.kind" || k == "kind":
			eq.Filters = append(eq.Filters, eventstore.Filter{Field: model.FieldKind, Op: eventstore.OpEqual, Value: strconv.Itoa(int(ParseKind(v)))})
		case k == "otel.status_code" || k == "status.code":
			eq.Filters = append(eq.Filters, eventstore.Filter{Field: model.FieldStatusCode, Op: eventstore.OpEqual, Value: strconv.Itoa(int(ParseStatus(v)))})
		case k == "otel.status_description" || k == "status.message":
			eq.Filters = append(eq.Filters, eventstore.Filter{Field: model.FieldStatusMessage, Op: eventstore.OpEqual, Value: v})
		case strings.HasPrefix(k, PrefixResource):
			eq.Filters = append(eq.Filters, eventstore.Filter{Field: k, Op: eventstore.OpEqual, Value: v})
		default:
			eq.Filters = append(eq.Filters, eventstore.Filter{Field: SpanAttrKey(k), Op: eventstore.OpEqual, Value: v})
		}
	}
	return eq
}

// FindTraceIDs returns the ids of the newest traces matching q (at most
// q.Limit), newest first, with the time of the matching span.
func (s *Store) FindTraceIDs(ctx context.Context, q Search) ([]model.TraceID, []int64, error) {
	if q.Limit <= 0 {
		q.Limit = 20
	}
	if q.MinDuration > 0 && q.MaxDuration > 0 && q.MaxDuration < q.MinDuration {
		return nil, nil, fmt.Errorf("search traces: maxDuration below minDuration: %w", failure.ErrInvalid)
	}
	seen := map[model.TraceID]struct{}{}
	var ids []model.TraceID
	var times []int64
	_, err := s.Events.Query(ctx, q.query(s.tenant(ctx)), func(e *model.Event) bool {
		if _, ok := seen[e.TraceID]; ok {
			return true
		}
		seen[e.TraceID] = struct{}{}
		ids = append(ids, e.TraceID)
		times = append(times, e.Time)
		return len(ids) < q.Limit
	})
	if err != nil {
		return nil, nil, fmt.Errorf("search traces: %w", err)
	}
	return ids, times, nil
}

// FindTraces returns the full traces matching q, newest first.
func (s *Store) FindTraces(ctx context.Context, q Search) ([]Trace, error) {
	ids, _, err := s.FindTraceIDs(ctx, q)
	if err != nil {
		return nil, err
	}
	out := make([]Trace, 0, len(ids))
	for _, id := range ids {
		t, ok, err := s.TraceByID(ctx, id, 0, 0)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, t)
		}
	}
	return out, nil
}

// SearchSummaries returns summaries of the traces matching q, newest first.
func (s *Store) SearchSummaries(ctx context.Context, q Search) ([]Summary, error) {
	ts, err := s.FindTraces(ctx, q)
	if err != nil {
		return nil, err
	}
	out := make([]Summary, len(ts))
	for i := range ts {
		out[i] = Summarize(&ts[i])
	}
	return out, nil
}

// ParseKind parses a span kind name: "server", "SPAN_KIND_SERVER", "2".
func ParseKind(s string) model.SpanKind {
	s = strings.ToLower(strings.TrimPrefix(strings.ToUpper(s), "SPAN_KIND_"))
	switch s {
	case "internal":
		return model.SpanKindInternal
	case "server":
		return model.SpanKindServer
	case "client":
		return model.SpanKindClient
	case "producer":
		return model.SpanKindProducer
	case "consumer":
		return model.SpanKindConsumer
	}
	n, _ := strconv.Atoi(s)
	if n < 0 || n > 5 {
		n = 0
	}
	return model.SpanKind(n)
}

// KindName returns the lowercase name Jaeger uses ("server", …; "" for
// unspecified).
func KindName(k model.SpanKind) string {
	switch k {
	case model.SpanKindInternal:
		return "internal"
	case model.SpanKindServer:
		return "server"
	case model.SpanKindClient:
		return "client"
	case model.SpanKindProducer:
		return "producer"
	case model.SpanKindConsumer:
		return "consumer"
	}
	return ""
}

// ParseStatus parses "ERROR", "STATUS_CODE_ERROR", "ok", "2".
func ParseStatus(s string) model.StatusCode {
	switch strings.ToUpper(strings.TrimPrefix(strings.ToUpper(s), "STATUS_CODE_")) {
	case "OK":
		return model.StatusOK
	case "ERROR":
		return model.StatusError
	case "UNSET":
		return model.StatusUnset
	}
	n, _ := strconv.Atoi(s)
	if n < 0 || n > 2 {
		n = 0
	}
	return model.StatusCode(n)
}
