package logstore

import (
	"context"
	"fmt"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/eventstore"
	"github.com/sightline/sightline/internal/model"
	"github.com/sightline/sightline/internal/query/logql"
)

// Hitter counts rows per time bucket; *eventstore.Store implements it.
type Hitter interface {
	Hits(ctx context.Context, hq eventstore.HitsQuery) (eventstore.HitsResult, error)
}

// CountQuery asks for count_over_time of a selection at evaluation times
// Start, Start+Step, … (Steps of them), each over the window (t-Range, t].
type CountQuery struct {
	// Select holds tenant, matchers and hints (its Start, End, Direction
	// and Limit are ignored).
	Select logql.SelectParams
	Start  int64
	Step   int64
	Steps  int
	Range  int64
	// GroupBy is "" (one group), a stream label, or a metadata name such
	// as level.
	GroupBy string
}

// Counts answers a CountQuery inside the event store (block headers and
// filter columns only, no rows shipped), which is how
// `sum by (x) (count_over_time({…} |= "…" [r]))` should be evaluated.
// ok is false — and the caller must evaluate the query itself — when the
// hints cannot be applied exactly or the windows do not tile (Range must be
// a multiple of Step unless there is a single step). The result maps each
// group value to its count per step.
func (s *Source) Counts(ctx context.Context, h Hitter, q CountQuery) (counts map[string][]int64, ok bool, err error) {
	if q.Steps <= 0 || q.Range <= 0 || (q.Steps > 1 && (q.Step <= 0 || q.Range%q.Step != 0)) {
		return nil, false, nil
	}
	width := q.Range
	if q.Steps > 1 {
		width = q.Step
	}
	per := int(q.Range / width) // buckets per window
	// Bucket i covers [first+i*width, first+(i+1)*width); window k is the
	// per buckets ending at Start+k*Step, shifted by 1ns so that windows
	// are left-open and right-closed.
	first := q.Start - q.Range + 1
	nb := per + (q.Steps-1)*int(max(q.Step, 0)/width)
	sp := q.Select
	sp.Start, sp.End, sp.Limit = first, first+int64(nb)*width, 0
	plan, err := s.Plan(ctx, sp)
	if err != nil {
		return nil, false, err
	}
	if !plan.Exact {
		return nil, false, nil
	}
	group := q.GroupBy
	if group == MetaLevel {
		group = model.FieldSeverity
	} else if group != "" && !s.Schema.IsStreamLabel(group) && model.IsIntrinsic(group) && group != model.FieldTraceID && group != model.FieldSpanID {
		return nil, false, nil
	}
	hr, err := h.Hits(ctx, eventstore.HitsQuery{Query: plan.Query, Step: width, GroupBy: group})
	if err != nil {
		return nil, false, fmt.Errorf("count lines: %w", err)
	}
	counts = make(map[string][]int64, len(hr.Groups))
	stepBuckets := 1
	if q.Steps > 1 {
		stepBuckets = int(q.Step / width)
	}
	for _, g := range hr.Groups {
		out := make([]int64, q.Steps)
		for k := range out {
			lo := k * stepBuckets
			for b := lo; b < lo+per && b < len(g.Counts); b++ {
				out[k] += g.Counts[b]
			}
		}
		counts[g.Value] = out
	}
	return counts, true, nil
}

// SelectParamsOf returns the select parameters of a log query made only of
// a stream selector, |= != |~ !~ line filters and and-ed label matchers;
// ok is false for any other stage.
func SelectParamsOf(e *logql.LogExpr) (logql.SelectParams, bool) {
	sp := logql.SelectParams{Matchers: e.Matchers}
	for _, st := range e.Stages {
		switch x := st.(type) {
		case *logql.LineFilter:
			switch x.Op {
			case logql.LineContains, logql.LineNotContains, logql.LineRegex, logql.LineNotRegex:
				if !x.IP {
					sp.LineFilters = append(sp.LineFilters, logql.LineFilterHint{Op: x.Op, Values: x.Values})
					continue
				}
			}
		case *logql.LabelFilterStage:
			if ms, ok := andMatchers(x.Pred, nil); ok {
				sp.LabelFilters = append(sp.LabelFilters, ms...)
				continue
			}
		}
		return sp, false
	}
	return sp, true
}

func andMatchers(p logql.LabelPred, out []*labels.Matcher) ([]*labels.Matcher, bool) {
	switch x := p.(type) {
	case *logql.LabelMatch:
		if x.Matcher.Name == logql.ErrorLabel {
			return out, false
		}
		return append(out, x.Matcher), true
	case *logql.LabelBinary:
		if !x.And {
			return out, false
		}
		out, ok := andMatchers(x.L, out)
		if !ok {
			return out, false
		}
		return andMatchers(x.R, out)
	}
	return out, false
}
