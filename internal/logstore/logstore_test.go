package logstore

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/sightline/sightline/internal/eventstore"
	"github.com/sightline/sightline/internal/failure"
	"github.com/sightline/sightline/internal/model"
	"github.com/sightline/sightline/internal/query/logql"
	"github.com/sightline/sightline/internal/query/logql/lokijson"
)

var base = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func openStore(t testing.TB) *eventstore.Store {
	t.Helper()
	o := eventstore.DefaultOptions()
	o.Now = func() time.Time { return base.Add(time.Hour) }
	o.FlushInterval = time.Hour
	o.Logger = slog.New(slog.DiscardHandler)
	st, err := eventstore.Open(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func mustSchema(t *testing.T) *Schema {
	s, err := NewSchema(Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func query(t *testing.T, st *eventstore.Store, q string, limit int, dir logql.Direction) string {
	t.Helper()
	eng, err := logql.NewEngine(&Source{R: st, Schema: mustSchema(t)}, logql.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	res, err := eng.Query(context.Background(), q, logql.Params{Start: base, End: base.Add(time.Hour), Limit: limit, Direction: dir})
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return string(lokijson.AppendResult(nil, res))
}

func TestOTLPRoundTrip(t *testing.T) {
	st := openStore(t)
	w := NewWriter(st, WriterOptions{})
	sink := &OTLPSink{Schema: mustSchema(t), Writer: w}
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "cart")
	rl.Resource().Attributes().PutStr("host.name", "h1")
	sl := rl.ScopeLogs().AppendEmpty()
	for i := range 3 {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommonTS(base.Add(time.Duration(i) * time.Second)))
		lr.Body().SetStr(fmt.Sprintf("line %d", i))
		lr.SetSeverityText([]string{"INFO", "ERROR", "INFO"}[i])
		lr.Attributes().PutInt("http.status", int64(200+i))
		if i == 1 {
			lr.SetTraceID([16]byte{1, 2, 3})
		}
	}
	if err := sink.ConsumeLogs(context.Background(), ld); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ q, want string }{
		{`{service_name="cart"}`, `"line 2"`},
		{`{service_name="cart"} | level="ERROR"`, `"line 1"`},
		{`{service_name="cart"} | trace_id="01020300000000000000000000000000"`, `"line 1"`},
		{`{service_name="cart"} | http_status=202`, `"line 2"`},
		{`{service_name="cart"} |= "line 0"`, `"line 0"`},
		{`{service_name="cart"} | host_name="h1" != "line 1"`, `"line 2"`},
	} {
		got := query(t, st, tc.q, 100, logql.Backward)
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s: got %s, want it to contain %s", tc.q, got, tc.want)
		}
	}
	got := query(t, st, `{service_name="cart"} | level="ERROR"`, 100, logql.Backward)
	if strings.Count(got, `"line `) != 1 {
		t.Errorf("level filter: %s", got)
	}
}

func TestBatchIDExactlyOnce(t *testing.T) {
	st := openStore(t)
	s := mustSchema(t)
	w := NewWriter(st, WriterOptions{})
	mk := func() []model.Event {
		r := s.NewRecord("", base.UnixNano())
		r.SetBody("once")
		r.AddString("service.name", "a")
		return []model.Event{r.Event()}
	}
	ctx := WithBatchID(context.Background(), "b-1")
	for range 3 {
		if err := w.Write(ctx, mk()); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Count(query(t, st, `{service_name="a"}`, 100, logql.Forward), "once"); got != 1 {
		t.Fatalf("stored %d times, want 1", got)
	}
	// A fresh writer (a restart) recovers the id from the store.
	w2 := NewWriter(st, WriterOptions{})
	if err := w2.LoadBatchIDs(context.Background(), st, base.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := w2.Write(ctx, mk()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(query(t, st, `{service_name="a"}`, 100, logql.Forward), "once"); got != 1 {
		t.Fatalf("after restart stored %d times, want 1", got)
	}
	// The batch id is not visible as metadata.
	if q := query(t, st, `{service_name="a"} | _sightline_batch_id="b-1"`, 100, logql.Forward); strings.Contains(q, "once") {
		t.Fatalf("batch id visible to LogQL: %s", q)
	}
}

func TestTypeClashKeepsLines(t *testing.T) {
	st := openStore(t)
	s := mustSchema(t)
	w := NewWriter(st, WriterOptions{})
	var rows []model.Event
	for i, v := range []string{`{"code":5,"msg":"a"}`, `{"code":"five","msg":"b"}`, `{"code":5.5,"msg":"c"}`, `{"code":{"x":1},"msg":"d"}`} {
		m, err := ParseJSONObject([]byte(v))
		if err != nil {
			t.Fatal(err)
		}
		r := s.NewRecord("", base.Add(time.Duration(i)*time.Second).UnixNano())
		r.AddString("service.name", "clash")
		r.SetBody(m["msg"].(string))
		delete(m, "msg")
		r.AddFields(m)
		rows = append(rows, r.Event())
	}
	if err := w.Write(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	got := query(t, st, `{service_name="clash"}`, 100, logql.Forward)
	for _, l := range []string{`"a"`, `"b"`, `"c"`, `"d"`} {
		if !strings.Contains(got, l) {
			t.Errorf("line %s missing: %s", l, got)
		}
	}
	if got := query(t, st, `{service_name="clash"} | code="five"`, 100, logql.Forward); !strings.Contains(got, `"b"`) || strings.Contains(got, `"a"`) {
		t.Errorf("string filter: %s", got)
	}
	if got := query(t, st, `{service_name="clash"} | code_x="1"`, 100, logql.Forward); !strings.Contains(got, `"d"`) {
		t.Errorf("nested field: %s", got)
	}
}

func TestLimitWithPushdown(t *testing.T) {
	st := openStore(t)
	s := mustSchema(t)
	w := NewWriter(st, WriterOptions{})
	var rows []model.Event
	for i := range 50 {
		r := s.NewRecord("", base.Add(time.Duration(i)*time.Second).UnixNano())
		r.AddString("service.name", "lim")
		r.SetBody(fmt.Sprintf("n=%02d %s", i, []string{"odd", "even"}[(i+1)%2]))
		r.AddString("level", []string{"info", "warn"}[i%2])
		rows = append(rows, r.Event())
	}
	if err := w.Write(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		q    string
		dir  logql.Direction
		want []string
	}{
		{`{service_name="lim"} |= "even"`, logql.Backward, []string{"n=48", "n=46"}},
		{`{service_name="lim"} |= "even"`, logql.Forward, []string{"n=00", "n=02"}},
		{`{service_name="lim"} | level="warn"`, logql.Backward, []string{"n=49", "n=47"}},
		{`{service_name="lim"} |= "n=4" or "n=0"`, logql.Forward, []string{"n=00", "n=01"}},
		{`{service_name="lim"} | level=~"w.*" != "n=49"`, logql.Backward, []string{"n=47", "n=45"}},
		// "severity" is not a metadata label (it is shown as level): it is
		// "" for every row, so != "warn" keeps all of them.
		{`{service_name="lim"} | severity!="warn"`, logql.Backward, []string{"n=49", "n=48"}},
	} {
		got := query(t, st, tc.q, 2, tc.dir)
		if strings.Count(got, `"n=`) != 2 {
			t.Errorf("%s: want 2 lines: %s", tc.q, got)
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: want %s in %s", tc.q, w, got)
			}
		}
	}
}

func TestSanitizeAndBounds(t *testing.T) {
	for in, want := range map[string]string{"a.b": "a_b", "9x": "_9x", "ok_1": "ok_1", "é": "__", "": "_"} {
		if got := SanitizeKey(in, 0); got != want {
			t.Errorf("SanitizeKey(%q)=%q want %q", in, got, want)
		}
	}
	s, err := NewSchema(Options{MaxFields: 2, MaxValueBytes: 4, MaxFieldNameBytes: 3})
	if err != nil {
		t.Fatal(err)
	}
	r := s.NewRecord("", 1)
	r.AddString("aaaaaa", "héllo world")
	r.AddString("b", "x")
	r.AddString("c", "y")
	e := r.Event()
	if len(e.Attrs) != 3 || e.Attrs[0].Key != "aaa" || e.Attrs[0].Value.Str != "hél" || e.Attrs[2].Key != DroppedFieldsField {
		t.Fatalf("bounds not applied: %+v", e.Attrs)
	}
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	// Reserved names are renamed, not rejected.
	r = mustSchema(t).NewRecord("", 1)
	r.AddString("name", "n")
	r.AddString("level", "info")
	r.AddString("level", "warn") // severity is taken: kept as an attribute
	if e := r.Event(); e.Attrs[0].Key != "attr_name" || e.Severity != "info" || e.Attrs[1].Key != "attr_level" {
		t.Fatalf("got %+v", e.Attrs)
	}
}

func FuzzFlattenJSON(f *testing.F) {
	f.Add([]byte(`{"a":{"b":{"c":{"d":1}}},"level":"warn","trace_id":"0af7651916cd43dd8448eb211c80319c","n":1e400,"x":[1,{"y":2}],"_msg":"m","name":"n"}`))
	f.Add([]byte(`{"":"","9":null,"é.ü":true}`))
	s, _ := NewSchema(Options{MaxFields: 16, MaxDepth: 3, MaxValueBytes: 32, MaxFieldNameBytes: 16})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseJSONObject(b)
		if err != nil {
			return
		}
		ev, err := s.FromJSON("", m, DefaultJSONMapping(), 1)
		if err != nil {
			return
		}
		if err := ev.Validate(); err != nil {
			t.Fatal(err)
		}
		if len(ev.Attrs) > 17 {
			t.Fatalf("%d attributes beyond the bound", len(ev.Attrs))
		}
		seen := map[string]bool{}
		for _, a := range ev.Attrs {
			if seen[a.Key] || len(a.Key) > 16 || len(a.Value.Str) > 32 {
				t.Fatalf("bad attribute %+v", a)
			}
			seen[a.Key] = true
		}
	})
}

func TestWriterRefusesRowsOutsideWindow(t *testing.T) {
	st := openStore(t) // clock at base+1h, retention 30 days, max future 1h
	s := mustSchema(t)
	w := NewWriter(st, WriterOptions{})
	row := func(at time.Time, body string) model.Event {
		r := s.NewRecord("", at.UnixNano())
		r.AddString("service.name", "win")
		r.SetBody(body)
		return r.Event()
	}
	// Mixed: the old row is dropped, the good one stored.
	if err := w.Write(context.Background(), []model.Event{row(base.AddDate(0, -3, 0), "too old"), row(base, "fine")}); err != nil {
		t.Fatal(err)
	}
	got := query(t, st, `{service_name="win"}`, 100, logql.Forward)
	if !strings.Contains(got, "fine") || strings.Contains(got, "too old") {
		t.Fatalf("got %s", got)
	}
	// All refused: a 400-class error naming the row.
	err := w.Write(context.Background(), []model.Event{row(base.Add(48*time.Hour), "future")})
	if failure.HTTPStatus(err) != 400 || !strings.Contains(err.Error(), "row 0") {
		t.Fatalf("got %v (status %d)", err, failure.HTTPStatus(err))
	}
}

func TestRowsWithoutStreamGetUnknownService(t *testing.T) {
	r := mustSchema(t).NewRecord("", 1)
	r.SetBody("x")
	r.AddString("pod", "p")
	if e := r.Event(); e.Stream.String() != `{service_name="unknown_service"}` {
		t.Fatalf("stream %s", e.Stream)
	}
}

// TestLineFilterPushdownAgreesWithEngine: every pushed-down line filter must
// select exactly the rows the engine's own filter keeps (a row the store
// wrongly drops is a lost line), and `or` alternatives are pushed down.
func TestLineFilterPushdownAgreesWithEngine(t *testing.T) {
	st := openStore(t)
	s := mustSchema(t)
	w := NewWriter(st, WriterOptions{})
	bodies := []string{"alpha\nbeta", "alpha beta", "gamma", "Delta ray", "a.b", "omega\n\tat x.y(Z.java:1)"}
	var rows []model.Event
	for i, b := range bodies {
		r := s.NewRecord("", base.Add(time.Duration(i)*time.Second).UnixNano())
		r.AddString("service.name", "pd")
		r.SetBody(b)
		rows = append(rows, r.Event())
	}
	if err := w.Write(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	src := &Source{R: st, Schema: s}
	for _, tc := range []struct {
		q     string
		exact bool // every hint pushed down
		want  int
	}{
		{`{service_name="pd"} |~ "alpha.beta"`, true, 2},
		{`{service_name="pd"} !~ "alpha.beta"`, true, 4},
		{`{service_name="pd"} |= "gamma" or "ray"`, true, 2},
		{`{service_name="pd"} != "gamma" or "ray"`, true, 4},
		{`{service_name="pd"} |~ "gam+a" or "(?i)delta"`, true, 2},
		{`{service_name="pd"} |= "a.b" or "zzz"`, true, 1},
		{`{service_name="pd"} |~ "at .*java"`, true, 1},
		{`{service_name="pd"} |= "" or "gamma"`, false, 6},
	} {
		e, err := logql.ParseLogExpr(tc.q)
		if err != nil {
			t.Fatal(err)
		}
		sp, _ := SelectParamsOf(e)
		sp.Start, sp.End = base.UnixNano(), base.Add(time.Hour).UnixNano()
		plan, err := src.Plan(context.Background(), sp)
		if err != nil {
			t.Fatal(err)
		}
		if plan.Exact != tc.exact {
			t.Errorf("%s: exact=%v, want %v (filters %+v)", tc.q, plan.Exact, tc.exact, plan.Query.Filters)
		}
		stored := 0
		if _, err := st.Query(context.Background(), plan.Query, func(*model.Event) bool { stored++; return true }); err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(query(t, st, tc.q, 100, logql.Forward), `"`+"17"); stored != tc.want || got != tc.want {
			t.Errorf("%s: store returned %d rows, engine %d, want %d", tc.q, stored, got, tc.want)
		}
	}
}

// TestRecordKeepsEveryStreamLabel: every stream-key attribute and stream
// label of a row reaches its stream, sorted, the first value of a name
// winning (a cached ScratchBuilder result once kept only the first label).
func TestRecordKeepsEveryStreamLabel(t *testing.T) {
	s := mustSchema(t)
	r := s.NewRecord("", base.UnixNano())
	r.AddString("service.name", "cart")
	r.AddString("k8s.namespace.name", "shop")
	r.AddStreamLabel("env", "prod")
	r.AddString("service.name", "other") // the first value stays
	r.AddString("deployment.environment", "ignored-if-not-a-stream-key")
	ev := r.Event()
	got := ev.Stream.String()
	for _, want := range []string{`env="prod"`, `service_name="cart"`, `namespace="shop"`} {
		if !strings.Contains(got, want) {
			t.Errorf("stream %s lacks %s", got, want)
		}
	}
	if strings.Contains(got, "other") {
		t.Errorf("stream %s took a later service.name", got)
	}
	names := []string{}
	ev.Stream.Range(func(l labels.Label) { names = append(names, l.Name) })
	if !slices.IsSorted(names) {
		t.Errorf("stream labels not sorted: %v", names)
	}
}
