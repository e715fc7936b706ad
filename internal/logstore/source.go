package logstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/grafana/regexp"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/eventstore"
	"github.com/sightline/sightline/internal/model"
	"github.com/sightline/sightline/internal/query/logql"
)

// MetaLevel is the structured-metadata name under which a row's severity
// is shown to LogQL (an attribute named "level" is stored as "attr_level").
const MetaLevel = "level"

// Reader is the part of the event store a Source needs; *eventstore.Store
// implements it.
type Reader interface {
	Query(ctx context.Context, q eventstore.Query, fn func(*model.Event) bool) (eventstore.QueryResult, error)
	LabelNames(ctx context.Context, tenant string, start, end int64, ms ...*labels.Matcher) ([]string, error)
}

// Source serves log rows to the LogQL engine.
type Source struct {
	R      Reader
	Schema *Schema
}

var _ logql.Source = (*Source)(nil)

// Plan is the eventstore query for a Select and whether every hint was
// pushed down exactly.
type Plan struct {
	Query eventstore.Query
	Exact bool
}

// Plan translates SelectParams into an eventstore query.
func (s *Source) Plan(ctx context.Context, p logql.SelectParams) (Plan, error) {
	q := eventstore.Query{
		Tenant: p.Tenant, Signals: []model.Signal{model.SignalLog},
		Start: p.Start, End: p.End, Matchers: p.Matchers,
	}
	if p.Direction == logql.Forward {
		q.Direction = eventstore.Forward
	}
	exact := true
	for _, h := range p.LineFilters {
		f, ok := lineFilter(h)
		if !ok {
			exact = false
			continue
		}
		q.Filters = append(q.Filters, f)
	}
	var streamNames []string
	if len(p.LabelFilters) > 0 {
		var err error
		streamNames, err = s.R.LabelNames(ctx, p.Tenant, p.Start, p.End, p.Matchers...)
		if err != nil {
			return Plan{}, fmt.Errorf("plan log query: %w", err)
		}
	}
	for _, m := range p.LabelFilters {
		if s.Schema.IsStreamLabel(m.Name) {
			q.Matchers = append(q.Matchers, m)
			continue
		}
		if slices.Contains(streamNames, m.Name) {
			exact = false // a stream label the metadata may shadow: leave it to the engine
			continue
		}
		f, ok := labelFilter(m)
		if !ok {
			exact = false
			continue
		}
		q.Filters = append(q.Filters, f)
	}
	if exact && p.Limit > 0 {
		q.Limit = p.Limit
	}
	return Plan{Query: q, Exact: exact}, nil
}

// lineFilter turns a line filter hint into a body filter that keeps
// exactly the lines the engine's filter keeps: regexes get (?s) as the
// engine compiles them ('.' matches a newline in a multi-line record), and
// `or` alternatives become one alternation. A hint with an empty
// alternative (which matches every line) is left to the engine.
func lineFilter(h logql.LineFilterHint) (eventstore.Filter, bool) {
	if len(h.Values) == 0 || slices.Contains(h.Values, "") {
		return eventstore.Filter{}, false
	}
	switch h.Op {
	case logql.LineContains, logql.LineNotContains:
		f := eventstore.Filter{Op: eventstore.OpSubstring, Value: h.Values[0], Not: h.Op == logql.LineNotContains}
		if len(h.Values) > 1 {
			alts := make([]string, len(h.Values))
			for i, v := range h.Values {
				if !utf8.ValidString(v) {
					return eventstore.Filter{}, false // not expressible as a regexp
				}
				alts[i] = regexp.QuoteMeta(v)
			}
			f.Op, f.Value = eventstore.OpRegex, strings.Join(alts, "|")
		}
		return f, true
	case logql.LineRegex, logql.LineNotRegex:
		alts := make([]string, len(h.Values))
		for i, v := range h.Values {
			if _, err := regexp.Compile(v); err != nil {
				return eventstore.Filter{}, false // the engine reports it
			}
			alts[i] = "(?:" + v + ")"
		}
		return eventstore.Filter{Op: eventstore.OpRegex, Value: "(?s)" + strings.Join(alts, "|"), Not: h.Op == logql.LineNotRegex}, true
	}
	return eventstore.Filter{}, false
}

// fieldFor maps a metadata name to the stored field.
func fieldFor(name string) string {
	if name == MetaLevel {
		return model.FieldSeverity
	}
	return name
}

// labelFilter pushes a matcher on a metadata name down as a field filter
// when the two agree on rows without the field (whose value is "").
func labelFilter(m *labels.Matcher) (eventstore.Filter, bool) {
	if m.Name == BatchIDField {
		return eventstore.Filter{}, false
	}
	if model.IsIntrinsic(m.Name) && m.Name != model.FieldTraceID && m.Name != model.FieldSpanID {
		// Metadata has no label of that name (severity is "level", the
		// others do not apply to logs); a field filter would disagree.
		return eventstore.Filter{}, false
	}
	field := fieldFor(m.Name)
	switch m.Type {
	case labels.MatchEqual:
		return eventstore.Filter{Field: field, Op: eventstore.OpEqual, Value: m.Value}, true
	case labels.MatchNotEqual:
		if m.Value == "" {
			return eventstore.Filter{Field: field, Op: eventstore.OpEqual, Value: "", Not: true}, true
		}
		return eventstore.Filter{Field: field, Op: eventstore.OpEqual, Value: m.Value, Not: true}, true
	case labels.MatchRegexp:
		if m.Matches("") {
			return eventstore.Filter{}, false
		}
		if _, err := regexp.Compile(m.Value); err != nil {
			return eventstore.Filter{}, false
		}
		return eventstore.Filter{Field: field, Op: eventstore.OpRegex, Value: "^(?:" + m.Value + ")$"}, true
	case labels.MatchNotRegexp:
		if !m.Matches("") {
			return eventstore.Filter{}, false
		}
		return eventstore.Filter{Field: field, Op: eventstore.OpRegex, Value: "^(?:" + m.Value + ")$", Not: true}, true
	}
	return eventstore.Filter{}, false
}

// Metadata returns the structured metadata LogQL sees for a row: its
// attributes (minus internal ones), level, trace_id and span_id.
func Metadata(e *model.Event) labels.Labels {
	b := labels.NewScratchBuilder(len(e.Attrs) + 3)
	for i := range e.Attrs {
		a := &e.Attrs[i]
		if a.Key == BatchIDField || a.Value.Type == model.TypeNone {
			continue
		}
		b.Add(a.Key, a.Value.Text())
	}
	if e.Severity != "" {
		b.Add(MetaLevel, e.Severity)
	}
	if !e.TraceID.IsZero() {
		b.Add(model.FieldTraceID, e.TraceID.String())
	}
	if !e.SpanID.IsZero() {
		b.Add(model.FieldSpanID, e.SpanID.String())
	}
	b.Sort()
	return b.Labels()
}

// Entry converts a row to a LogQL entry.
func Entry(e *model.Event) logql.Entry {
	return logql.Entry{Timestamp: e.Time, Line: e.Body, Labels: e.Stream, Metadata: Metadata(e)}
}

// Select implements logql.Source. Entries arrive in p.Direction order.
func (s *Source) Select(ctx context.Context, p logql.SelectParams) (logql.Iterator, error) {
	plan, err := s.Plan(ctx, p)
	if err != nil {
		return nil, err
	}
	var lm *logql.LineMatcher
	if p.Limit > 0 && !plan.Exact {
		if lm, err = logql.NewLineMatcher(p.LineFilters); err != nil {
			return nil, fmt.Errorf("select logs: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	it := &iterator{ch: make(chan []logql.Entry, 2), cancel: cancel}
	it.wg.Add(1)
	go func() {
		defer it.wg.Done()
		defer close(it.ch)
		batch := make([]logql.Entry, 0, 256)
		matched := 0
		_, qerr := s.R.Query(ctx, plan.Query, func(e *model.Event) bool {
			en := Entry(e)
			if lm != nil {
				if !lm.Match(en.Line) || !logql.MatchEntryLabels(p.LabelFilters, en.Labels, en.Metadata) {
					return true
				}
				matched++
			}
			batch = append(batch, en)
			if len(batch) == cap(batch) {
				select {
				case it.ch <- batch:
				case <-ctx.Done():
					return false
				}
				batch = make([]logql.Entry, 0, 256)
			}
			return lm == nil || matched < p.Limit
		})
		if len(batch) > 0 && qerr == nil {
			select {
			case it.ch <- batch:
			case <-ctx.Done():
			}
		}
		if qerr != nil && ctx.Err() == nil {
			it.err = fmt.Errorf("query event store: %w", qerr)
		}
	}()
	return it, nil
}

type iterator struct {
	ch     chan []logql.Entry
	cancel context.CancelFunc
	wg     sync.WaitGroup
	cur    []logql.Entry
	i      int
	err    error // set by the producer before ch is closed
	closed bool
	done   bool // ch was drained by Next
}

func (it *iterator) Next() bool {
	it.i++
	for it.i >= len(it.cur) {
		b, ok := <-it.ch
		if !ok {
			it.done = true
			return false
		}
		it.cur, it.i = b, 0
	}
	return true
}

func (it *iterator) At() logql.Entry { return it.cur[it.i] }
func (it *iterator) Ordered() bool   { return true }

// Err reports the producer's error once Next has returned false (the
// channel close orders the write of err before this read).
func (it *iterator) Err() error {
	if !it.done {
		return nil
	}
	return it.err
}

func (it *iterator) Close() error {
	if it.closed {
		return nil
	}
	it.closed = true
	it.cancel()
	for range it.ch {
	}
	it.wg.Wait()
	return nil
}
