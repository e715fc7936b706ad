package loki

import (
	"context"
	"sort"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/logstore"
	"github.com/sightline/sightline/internal/query/logql"
)

// Counter answers count_over_time windows inside the store; logstore's
// Source (with the store as Hitter) implements it.
type Counter interface {
	Counts(ctx context.Context, h logstore.Hitter, q logstore.CountQuery) (map[string][]int64, bool, error)
}

// fastCount evaluates the shapes log dashboards use most —
// count_over_time or rate of a selector with only push-down filters,
// optionally wrapped in sum or sum by (one label) — from the store's
// per-bucket counts instead of reading lines. ok is false for anything
// else, which the engine then evaluates.
func (a *API) fastCount(ctx context.Context, expr logql.Expr, p logql.Params) (*logql.Result, bool, error) {
	if a.o.Counter == nil {
		return nil, false, nil
	}
	group, inner := "", expr
	summed := false
	if va, ok := expr.(*logql.VectorAgg); ok {
		if va.Op != "sum" || (va.Grouping != nil && (va.Grouping.Without || len(va.Grouping.Labels) > 1)) {
			return nil, false, nil
		}
		if va.Grouping != nil && len(va.Grouping.Labels) == 1 {
			group = va.Grouping.Labels[0]
		}
		inner, summed = va.Inner, true
	}
	ra, ok := inner.(*logql.RangeAgg)
	if !ok || !summed || (ra.Op != "count_over_time" && ra.Op != "rate") || ra.Grouping != nil ||
		ra.Range.Offset != 0 || ra.Range.Unwrap != nil || ra.Range.Interval <= 0 {
		// Without the outer sum the series keep every stream and metadata
		// label, which bucket counts do not carry.
		return nil, false, nil
	}
	sp, ok := logstore.SelectParamsOf(ra.Range.Log)
	if !ok {
		return nil, false, nil
	}
	sp.Tenant = p.Tenant
	start, steps := p.Start, 1
	if p.Step > 0 {
		steps = int(p.End.Sub(p.Start)/p.Step) + 1
	} else {
		start = p.End
	}
	counts, ok, err := a.o.Counter.Counts(ctx, a.o.Index, logstore.CountQuery{
		Select: sp, Start: start.UnixNano(), Step: int64(p.Step), Steps: steps,
		Range: int64(ra.Range.Interval), GroupBy: group,
	})
	if err != nil || !ok {
		return nil, ok, err
	}
	scale := 1.0
	if ra.Op == "rate" {
		scale = 1 / ra.Range.Interval.Seconds()
	}
	res := &logql.Result{Type: logql.TypeMatrix}
	if p.Step == 0 {
		res.Type = logql.TypeVector
	}
	merged := map[string][]int64{} // values with the same labels ("" and absent) merge
	for v, cs := range counts {
		if prev := merged[v]; prev != nil {
			for i := range cs {
				prev[i] += cs[i]
			}
			continue
		}
		merged[v] = cs
	}
	keys := make([]string, 0, len(merged))
	for k := range merged {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, v := range keys {
		ls := labels.EmptyLabels()
		if group != "" && v != "" {
			ls = labels.FromStrings(group, v)
		}
		cs := merged[v]
		if res.Type == logql.TypeVector {
			if cs[0] > 0 {
				res.Vector = append(res.Vector, logql.Sample{Labels: ls, T: p.End.UnixNano(), V: float64(cs[0]) * scale})
			}
			continue
		}
		var pts []logql.Point
		for i, c := range cs {
			if c > 0 {
				pts = append(pts, logql.Point{T: start.Add(time.Duration(i) * p.Step).UnixNano(), V: float64(c) * scale})
			}
		}
		if len(pts) > 0 {
			res.Matrix = append(res.Matrix, logql.Series{Labels: ls, Points: pts})
		}
	}
	return res, true, nil
}
