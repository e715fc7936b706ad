package logstore

import (
	"context"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/eventstore"
	"github.com/sightline/sightline/internal/model"
	"github.com/sightline/sightline/internal/query/logql"
)

// FuzzLineFilterPushdown checks that a line filter pushed down to the event
// store keeps exactly the lines the engine's own filter keeps, for any body
// and any filter values: a store that drops a line the engine would keep
// loses it silently.
func FuzzLineFilterPushdown(f *testing.F) {
	f.Add("alpha\nbeta", "alpha.beta", "", uint8(2))
	f.Add("GET /api 500", "500", "404", uint8(0))
	f.Add("Caused by: x", "(?i)caused", "oom", uint8(3))
	f.Add("a.b", "a.b", "zzz", uint8(1))
	st := openStore(f)
	s, err := NewSchema(Options{})
	if err != nil {
		f.Fatal(err)
	}
	ops := []logql.LineFilterOp{logql.LineContains, logql.LineNotContains, logql.LineRegex, logql.LineNotRegex}
	var n int64
	f.Fuzz(func(t *testing.T, body, v1, v2 string, op uint8) {
		h := logql.LineFilterHint{Op: ops[int(op)%len(ops)], Values: []string{v1}}
		if v2 != "" {
			h.Values = append(h.Values, v2)
		}
		lm, err := logql.NewLineMatcher([]logql.LineFilterHint{h})
		if err != nil {
			return // the engine refuses the query
		}
		flt, ok := lineFilter(h)
		if !ok {
			return
		}
		n++
		ts := base.Add(time.Duration(n) * time.Microsecond).UnixNano()
		r := s.NewRecord("fuzz", ts)
		r.AddString("service.name", "fuzz")
		r.SetBody(body)
		ev := r.Event()
		if err := st.Append(context.Background(), []model.Event{ev}); err != nil {
			return // e.g. a body over the row limit
		}
		stored := false
		_, err = st.Query(context.Background(), eventstore.Query{
			Tenant: "fuzz", Signals: []model.Signal{model.SignalLog}, Start: ts, End: ts + 1,
			Filters: []eventstore.Filter{flt},
		}, func(e *model.Event) bool { stored = true; return true })
		if err != nil {
			t.Fatalf("query %+v: %v", flt, err)
		}
		if want := lm.Match(ev.Body); stored != want {
			t.Fatalf("body %q, filter %s %q: store kept=%v, engine kept=%v (pushed %+v)", ev.Body, h.Op, h.Values, stored, want, flt)
		}
	})
}
