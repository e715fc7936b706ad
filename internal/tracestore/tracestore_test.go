package tracestore

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sightline/sightline/internal/eventstore"
	"github.com/sightline/sightline/internal/model"
)

func tid(b byte) pcommon.TraceID { return pcommon.TraceID{15: b, 0: 0xab} }
func sid(b byte) pcommon.SpanID  { return pcommon.SpanID{7: b, 0: 0xcd} }

// sample builds two traces: trace 1 frontend→cart (cart errors, with an
// event and a link), trace 2 a single slow frontend span.
func sample(base time.Time) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "frontend")
	rs.Resource().Attributes().PutStr("host.name", "h1")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("lib")
	ss.Scope().SetVersion("1.2")
	ss.Scope().Attributes().PutBool("scoped", true)
	root := ss.Spans().AppendEmpty()
	root.SetTraceID(tid(1))
	root.SetSpanID(sid(1))
	root.SetName("GET /cart")
	root.SetKind(ptrace.SpanKindServer)
	root.SetStartTimestamp(pcommon.NewTimestampFromTime(base))
	root.SetEndTimestamp(pcommon.NewTimestampFromTime(base.Add(30 * time.Millisecond)))
	root.Attributes().PutInt("http.status_code", 500)
	root.Attributes().PutStr("name", "collides with an intrinsic")
	root.Attributes().PutDouble("ratio", 0.5)
	root.TraceState().FromRaw("k=v")
	root.SetFlags(1)
	cl := ss.Spans().AppendEmpty()
	cl.SetTraceID(tid(1))
	cl.SetSpanID(sid(2))
	cl.SetParentSpanID(sid(1))
	cl.SetName("call cart")
	cl.SetKind(ptrace.SpanKindClient)
	cl.SetStartTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Millisecond)))
	cl.SetEndTimestamp(pcommon.NewTimestampFromTime(base.Add(20 * time.Millisecond)))
	slow := ss.Spans().AppendEmpty()
	slow.SetTraceID(tid(2))
	slow.SetSpanID(sid(9))
	slow.SetName("GET /slow")
	slow.SetKind(ptrace.SpanKindServer)
	slow.SetStartTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Second)))
	slow.SetEndTimestamp(pcommon.NewTimestampFromTime(base.Add(3 * time.Second)))

	rs2 := td.ResourceSpans().AppendEmpty()
	rs2.Resource().Attributes().PutStr("service.name", "cart")
	sp := rs2.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(tid(1))
	sp.SetSpanID(sid(3))
	sp.SetParentSpanID(sid(2))
	sp.SetName("Cart.Get")
	sp.SetKind(ptrace.SpanKindServer)
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(base.Add(2 * time.Millisecond)))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(base.Add(18 * time.Millisecond)))
	sp.Status().SetCode(ptrace.StatusCodeError)
	sp.Status().SetMessage("boom")
	ev := sp.Events().AppendEmpty()
	ev.SetName("exception")
	ev.SetTimestamp(pcommon.NewTimestampFromTime(base.Add(10 * time.Millisecond)))
	ev.Attributes().PutStr("exception.message", "boom")
	ln := sp.Links().AppendEmpty()
	ln.SetTraceID(tid(7))
	ln.SetSpanID(sid(7))
	ln.Attributes().PutInt("n", 3)
	return td
}

func openStore(t testing.TB) *Store {
	t.Helper()
	opts := eventstore.DefaultOptions()
	es, err := eventstore.Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { es.Close() })
	return &Store{Events: es}
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	s := openStore(t)
	rows := AppendRows(nil, "", sample(base))
	if len(rows) != 5 { // 4 spans + 1 event
		t.Fatalf("rows = %d", len(rows))
	}
	for i := range rows {
		if err := rows[i].Validate(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Append(ctx, rows); err != nil {
		t.Fatal(err)
	}
	tr, ok, err := s.TraceByID(ctx, model.TraceID(tid(1)), 0, 0)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if len(tr.Spans) != 3 {
		t.Fatalf("spans = %d", len(tr.Spans))
	}
	root, cart := tr.Spans[0], tr.Spans[2]
	if root.Name != "GET /cart" || root.Service != "frontend" || root.Kind != model.SpanKindServer ||
		root.Duration != int64(30*time.Millisecond) || root.TraceState != "k=v" || root.Flags != 1 ||
		root.ScopeName != "lib" || root.ScopeVersion != "1.2" || len(root.ScopeAttrs) != 1 {
		t.Errorf("root = %+v", root)
	}
	if v, ok := root.Attr("name"); !ok || v.Text() != "collides with an intrinsic" {
		t.Errorf("escaped attribute lost: %v %v", v, ok)
	}
	if v, ok := root.Attr("http.status_code"); !ok || v.Type != model.TypeInt || v.Int() != 500 {
		t.Errorf("int attr = %v", v)
	}
	if v, ok := root.Attr("ratio"); !ok || v.Float() != 0.5 {
		t.Errorf("float attr = %v", v)
	}
	var host bool
	for _, a := range root.Resource {
		host = host || (a.Key == "host.name" && a.Value.Text() == "h1")
	}
	if !host {
		t.Errorf("resource = %v", root.Resource)
	}
	if cart.Service != "cart" || cart.StatusCode != model.StatusError || cart.StatusMessage != "boom" ||
		cart.ParentSpanID != model.SpanID(sid(2)) {
		t.Errorf("cart = %+v", cart)
	}
	if len(cart.Events) != 1 || cart.Events[0].Name != "exception" || cart.Events[0].Attrs[0].Value.Text() != "boom" {
		t.Errorf("events = %+v", cart.Events)
	}
	if len(cart.Links) != 1 || cart.Links[0].TraceID != model.TraceID(tid(7)).String() || cart.Links[0].Attrs[0].Value.Int() != 3 {
		t.Errorf("links = %+v", cart.Links)
	}
	var buf RowBuffer
	for i := 0; i < 3; i++ { // reused memory converts the same
		again := buf.Rows("", sample(base))
		if len(again) != len(rows) {
			t.Fatalf("RowBuffer rows = %d", len(again))
		}
		for j := range rows {
			if again[j].Name != rows[j].Name || len(again[j].Attrs) != len(rows[j].Attrs) || again[j].SpanID != rows[j].SpanID {
				t.Fatalf("RowBuffer row %d differs: %+v vs %+v", j, again[j], rows[j])
			}
			for k := range rows[j].Attrs {
				if again[j].Attrs[k] != rows[j].Attrs[k] {
					t.Fatalf("RowBuffer row %d attr %d: %v vs %v", j, k, again[j].Attrs[k], rows[j].Attrs[k])
				}
			}
		}
	}
	sum := Summarize(&tr)
	if sum.RootService != "frontend" || sum.RootOperation != "GET /cart" || sum.SpanCount != 3 || sum.ErrorCount != 1 ||
		sum.Duration != int64(30*time.Millisecond) || len(sum.Services) != 2 {
		t.Errorf("summary = %+v", sum)
	}

	tests := []struct {
		name string
		q    Search
		want []model.TraceID
	}{
		{"service", Search{Service: "frontend"}, []model.TraceID{model.TraceID(tid(2)), model.TraceID(tid(1))}},
		{"operation", Search{Service: "cart", Operation: "Cart.Get"}, []model.TraceID{model.TraceID(tid(1))}},
		{"error", Search{Tags: map[string]string{"error": "true"}}, []model.TraceID{model.TraceID(tid(1))}},
		{"tag", Search{Tags: map[string]string{"http.status_code": "500"}}, []model.TraceID{model.TraceID(tid(1))}},
		{"resource tag", Search{Tags: map[string]string{"resource.host.name": "h1"}}, []model.TraceID{model.TraceID(tid(2)), model.TraceID(tid(1))}},
		{"min duration", Search{MinDuration: time.Second}, []model.TraceID{model.TraceID(tid(2))}},
		{"max duration", Search{Service: "frontend", MaxDuration: 25 * time.Millisecond}, []model.TraceID{model.TraceID(tid(1))}},
		{"limit", Search{Limit: 1}, []model.TraceID{model.TraceID(tid(2))}},
		{"time range", Search{Start: base.UnixNano(), End: base.Add(500 * time.Millisecond).UnixNano()}, []model.TraceID{model.TraceID(tid(1))}},
		{"no match", Search{Service: "nope"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ids, _, err := s.FindTraceIDs(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) != len(tc.want) {
				t.Fatalf("ids = %v, want %v", ids, tc.want)
			}
			for i := range ids {
				if ids[i] != tc.want[i] {
					t.Fatalf("ids = %v, want %v", ids, tc.want)
				}
			}
		})
	}
	svcs, err := s.Services(ctx, 0, 0)
	if err != nil || len(svcs) != 2 || svcs[0] != "cart" {
		t.Errorf("services = %v %v", svcs, err)
	}
	ops, err := s.Operations(ctx, "frontend", 0, 0)
	if err != nil || len(ops) != 3 || ops[0].Name != "GET /cart" || ops[0].Kind != model.SpanKindServer {
		t.Errorf("ops = %+v %v", ops, err)
	}
}

func FuzzAppendRows(f *testing.F) {
	m := ptrace.ProtoMarshaler{}
	b, _ := m.MarshalTraces(sample(time.Unix(1700000000, 0)))
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(data)
		if err != nil {
			return
		}
		rows := AppendRows(nil, "t", td)
		if len(rows) < td.SpanCount() {
			t.Fatalf("rows %d < spans %d", len(rows), td.SpanCount())
		}
		for i := range rows {
			if err := rows[i].Validate(); err != nil {
				t.Fatalf("row %d invalid: %v", i, err)
			}
		}
		for _, tr := range AssembleTrace(rows) {
			_ = Summarize(&tr)
		}
	})
}
