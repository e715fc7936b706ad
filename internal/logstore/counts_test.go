package logstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/model"
	"github.com/sightline/sightline/internal/query/logql"
)

// TestCountsMatchEngine checks Counts against the LogQL engine's own
// evaluation of sum by (level) (count_over_time(...)).
func TestCountsMatchEngine(t *testing.T) {
	st := openStore(t)
	s := mustSchema(t)
	var rows []model.Event
	for i := range 3000 {
		r := s.NewRecord("", base.Add(time.Duration(i)*997*time.Millisecond).UnixNano())
		r.AddString("service.name", fmt.Sprintf("svc%d", i%3))
		r.SetSeverity([]string{"info", "warn", "error", "info"}[i%4])
		r.SetBody(fmt.Sprintf("req %d status=%d", i, 200+i%5*100))
		rows = append(rows, r.Event())
	}
	rows = append(rows, func() model.Event { // exactly on a window edge
		r := s.NewRecord("", base.Add(10*time.Minute).UnixNano())
		r.AddString("service.name", "svc0")
		r.SetBody("edge status=500")
		return r.Event()
	}())
	if err := st.Append(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	src := &Source{R: st, Schema: s}
	eng, _ := logql.NewEngine(src, logql.DefaultOptions())
	for _, tc := range []struct {
		sel         string
		step, rng   time.Duration
		steps       int
		group, expr string
	}{
		{`{service_name=~"svc.*"} |= "status=500"`, 5 * time.Minute, 5 * time.Minute, 10, "level", `sum by (level) (count_over_time(%s [%s]))`},
		{`{service_name="svc1"}`, time.Minute, 5 * time.Minute, 40, "", `sum(count_over_time(%s [%s]))`},
		{`{service_name=~"svc.*"} != "status=200"`, 0, 30 * time.Minute, 1, "service_name", `sum by (service_name) (count_over_time(%s [%s]))`},
	} {
		expr, err := logql.ParseLogExpr(tc.sel)
		if err != nil {
			t.Fatal(err)
		}
		var hints []logql.LineFilterHint
		for _, st := range expr.Stages {
			lf := st.(*logql.LineFilter)
			hints = append(hints, logql.LineFilterHint{Op: lf.Op, Values: lf.Values})
		}
		start := base.Add(10 * time.Minute)
		got, ok, err := src.Counts(context.Background(), st, CountQuery{
			Select: logql.SelectParams{Matchers: expr.Matchers, LineFilters: hints},
			Start:  start.UnixNano(), Step: int64(tc.step), Steps: tc.steps, Range: int64(tc.rng), GroupBy: tc.group,
		})
		if err != nil || !ok {
			t.Fatalf("%s: ok=%v err=%v", tc.sel, ok, err)
		}
		q := fmt.Sprintf(tc.expr, tc.sel, tc.rng)
		p := logql.Params{Start: start, End: start.Add(time.Duration(tc.steps-1) * tc.step), Step: tc.step}
		if tc.steps == 1 {
			p.End, p.Step = start, 0
		}
		res, err := eng.Query(context.Background(), q, p)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][]int64{}
		add := func(l labels.Labels, tms int64, v float64) {
			k := l.Get(tc.group)
			if tc.group == "" {
				k = ""
			}
			if want[k] == nil {
				want[k] = make([]int64, tc.steps)
			}
			i := 0
			if tc.steps > 1 {
				i = int((tms - start.UnixMilli()) / tc.step.Milliseconds())
			}
			want[k][i] = int64(v)
		}
		for _, sr := range res.Matrix {
			for _, pt := range sr.Points {
				add(sr.Labels, pt.T/1e6, pt.V)
			}
		}
		for _, smp := range res.Vector {
			add(smp.Labels, smp.T/1e6, smp.V)
		}
		for k, w := range want {
			if fmt.Sprint(got[k]) != fmt.Sprint(w) {
				t.Errorf("%s group %q: Counts %v, engine %v", q, k, got[k], w)
			}
		}
		for k, g := range got {
			var sum int64
			for _, c := range g {
				sum += c
			}
			if want[k] == nil && sum != 0 {
				t.Errorf("%s: group %q only in Counts: %v", q, k, g)
			}
		}
	}
}
