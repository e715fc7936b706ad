package eventstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/model"
)

var baseTime = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func testOpts() Options {
	o := DefaultOptions()
	o.Now = func() time.Time { return baseTime.Add(time.Hour) }
	o.FlushInterval = time.Hour // tests flush explicitly
	o.Retention = 90 * 24 * time.Hour
	o.Logger = slog.New(slog.DiscardHandler)
	return o
}

func openTest(t *testing.T, dir string, o Options) *Store {
	t.Helper()
	s, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// genRows makes n log rows over services, one per millisecond from baseTime.
func genRows(n, off int) []model.Event {
	rows := make([]model.Event, n)
	svcs := []string{"cart", "checkout", "payment"}
	for i := range rows {
		k := i + off
		e := model.Event{
			Tenant: "t1", Signal: model.SignalLog,
			Stream:   labels.FromStrings("service", svcs[k%3], "env", "prod"),
			Time:     baseTime.Add(time.Duration(k) * time.Millisecond).UnixNano(),
			Body:     fmt.Sprintf("request %d handled path=/api/item/%d user=u%d", k, k%97, k%13),
			Severity: []string{"info", "warn", "error"}[k%7%3],
			Attrs: []model.Attr{
				{Key: "seq", Value: model.IntValue(int64(k))},
				{Key: "latency", Value: model.FloatValue(float64(k%100) / 10)},
				{Key: "http.status", Value: model.IntValue(int64(200 + 100*(k%4)))},
				{Key: "pod", Value: model.StringValue(fmt.Sprintf("pod-%d", k%5))},
			},
		}
		if k%10 == 0 {
			e.TraceID = model.TraceID{1, byte(k >> 8), byte(k)}
			e.SpanID = model.SpanID{2, byte(k)}
		}
		if k%1000 == 500 {
			e.Body += " needle=zymurgy"
		}
		rows[i] = e
	}
	return rows
}

func queryAll(t *testing.T, s *Store, q Query) []model.Event {
	t.Helper()
	var out []model.Event
	if _, err := s.Query(context.Background(), q, func(e *model.Event) bool { out = append(out, *e); return true }); err != nil {
		t.Fatal(err)
	}
	return out
}

func seqs(evs []model.Event) []int64 {
	out := make([]int64, len(evs))
	for i := range evs {
		v, _ := evs[i].Field("seq")
		out[i] = v.Int()
	}
	return out
}

func TestAppendQueryFlushReopen(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, testOpts())
	ctx := context.Background()
	const n = 20000
	rows := genRows(n, 0)
	for i := 0; i < n; i += 1000 {
		if err := s.Append(ctx, rows[i:i+1000]); err != nil {
			t.Fatal(err)
		}
	}
	check := func(stage string) {
		t.Helper()
		all := queryAll(t, s, Query{Tenant: "t1"})
		if len(all) != n {
			t.Fatalf("%s: %d rows, want %d", stage, len(all), n)
		}
		got := seqs(all)
		for i, v := range got {
			if v != int64(n-1-i) {
				t.Fatalf("%s: row %d has seq %d, want %d (newest first)", stage, i, v, n-1-i)
			}
		}
		fwd := queryAll(t, s, Query{Tenant: "t1", Direction: Forward, Limit: 5})
		if !slices.Equal(seqs(fwd), []int64{0, 1, 2, 3, 4}) {
			t.Fatalf("%s: forward = %v", stage, seqs(fwd))
		}
		// The original row comes back exactly.
		want := rows[1234]
		one := queryAll(t, s, Query{Tenant: "t1", Filters: []Filter{{Field: "seq", Op: OpEqual, Value: "1234"}}})
		if len(one) != 1 {
			t.Fatalf("%s: seq=1234 gave %d rows", stage, len(one))
		}
		got1 := one[0]
		if got1.Body != want.Body || got1.Time != want.Time || got1.Severity != want.Severity ||
			!labels.Equal(got1.Stream, want.Stream) || got1.TraceID != want.TraceID || len(got1.Attrs) != len(want.Attrs) {
			t.Fatalf("%s: row mismatch\n got %+v\nwant %+v", stage, got1, want)
		}
		for _, a := range want.Attrs {
			if v, ok := got1.Field(a.Key); !ok || v != a.Value {
				t.Fatalf("%s: attr %s = %v, want %v", stage, a.Key, v, a.Value)
			}
		}
		needles := queryAll(t, s, Query{Tenant: "t1", Filters: []Filter{{Op: OpPhrase, Value: "zymurgy"}}})
		if len(needles) != n/1000 {
			t.Fatalf("%s: needle hits %d, want %d", stage, len(needles), n/1000)
		}
		cart := queryAll(t, s, Query{Tenant: "t1", Matchers: []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, "service", "ca.*")}})
		if len(cart) != (n+2)/3 {
			t.Fatalf("%s: service=~ca.* gave %d", stage, len(cart))
		}
		k := 1230
		tid := model.TraceID{1, byte(k >> 8), byte(k)}
		tr, _, err := s.TraceByID(ctx, "t1", tid, 0, 0)
		if err != nil || len(tr) == 0 {
			t.Fatalf("%s: trace by id = %d rows, %v", stage, len(tr), err)
		}
		for _, e := range tr {
			if e.TraceID != tid {
				t.Fatalf("%s: wrong trace row %v", stage, e.TraceID)
			}
		}
	}
	check("head")
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Parts != 1 || st.HeadRows != 0 || st.Rows != n {
		t.Fatalf("after flush: %+v", st)
	}
	check("parts")
	// Half in the head, half in parts.
	more := genRows(1000, n)
	if err := s.Append(ctx, more); err != nil {
		t.Fatal(err)
	}
	if got := len(queryAll(t, s, Query{Tenant: "t1"})); got != n+1000 {
		t.Fatalf("mixed: %d", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir, testOpts())
	defer s.Close()
	if got := len(queryAll(t, s, Query{Tenant: "t1"})); got != n+1000 {
		t.Fatalf("reopen: %d", got)
	}
}

func TestWALReplayWithoutFlush(t *testing.T) {
	dir := t.TempDir()
	o := testOpts()
	s := openTest(t, dir, o)
	if err := s.Append(context.Background(), genRows(500, 0)); err != nil {
		t.Fatal(err)
	}
	// Simulate a crash: close the WAL without flushing.
	close(s.stop)
	s.wg.Wait()
	s.wal.Close()
	for _, r := range s.parts {
		r.p.close()
	}
	s2 := openTest(t, dir, o)
	defer s2.Close()
	if st := s2.Stats(); st.HeadRows != 500 || st.Parts != 0 {
		t.Fatalf("after replay: %+v", st)
	}
	if got := len(queryAll(t, s2, Query{Tenant: "t1"})); got != 500 {
		t.Fatalf("replayed rows queryable: %d", got)
	}
}

func TestCursorPagination(t *testing.T) {
	for _, flush := range []bool{false, true} {
		for _, dir := range []Direction{Backward, Forward} {
			t.Run(fmt.Sprintf("flush=%v/dir=%d", flush, dir), func(t *testing.T) {
				s := openTest(t, t.TempDir(), testOpts())
				defer s.Close()
				rows := genRows(3000, 0)
				// Duplicate timestamps across streams to exercise ties.
				for i := range rows {
					rows[i].Time = baseTime.Add(time.Duration(i/7) * time.Millisecond).UnixNano()
				}
				if err := s.Append(context.Background(), rows); err != nil {
					t.Fatal(err)
				}
				if flush {
					if err := s.Flush(); err != nil {
						t.Fatal(err)
					}
				}
				seen := map[int64]bool{}
				cursor := ""
				pages := 0
				for {
					q := Query{Tenant: "t1", Limit: 250, Cursor: cursor, Direction: dir}
					var page []model.Event
					res, err := s.Query(context.Background(), q, func(e *model.Event) bool { page = append(page, *e); return true })
					if err != nil {
						t.Fatal(err)
					}
					for _, v := range seqs(page) {
						if seen[v] {
							t.Fatalf("row %d returned twice", v)
						}
						seen[v] = true
					}
					pages++
					if res.Cursor == "" {
						break
					}
					cursor = res.Cursor
					if pages > 100 {
						t.Fatal("pagination does not end")
					}
				}
				if len(seen) != 3000 {
					t.Fatalf("paged %d rows, want 3000", len(seen))
				}
			})
		}
	}
}

func TestFilters(t *testing.T) {
	s := openTest(t, t.TempDir(), testOpts())
	defer s.Close()
	rows := genRows(2000, 0)
	if err := s.Append(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	count := func(fs ...Filter) func(t *testing.T) int {
		return func(t *testing.T) int { return len(queryAll(t, s, Query{Tenant: "t1", Filters: fs})) }
	}
	expect := func(pred func(e *model.Event) bool) int {
		n := 0
		for i := range rows {
			if pred(&rows[i]) {
				n++
			}
		}
		return n
	}
	tests := []struct {
		name string
		got  func(t *testing.T) int
		want int
	}{
		{"severity equal", count(Filter{Field: model.FieldSeverity, Op: OpEqual, Value: "error"}), expect(func(e *model.Event) bool { return e.Severity == "error" })},
		{"not equal", count(Filter{Field: model.FieldSeverity, Op: OpEqual, Value: "error", Not: true}), expect(func(e *model.Event) bool { return e.Severity != "error" })},
		{"substring", count(Filter{Op: OpSubstring, Value: "item/4"}), expect(func(e *model.Event) bool { return containsSub(e.Body, "item/4") })},
		{"phrase", count(Filter{Op: OpPhrase, Value: "user=u3"}), expect(func(e *model.Event) bool { return containsPhrase(e.Body, "user=u3") })},
		{"regex", count(Filter{Op: OpRegex, Value: `item/(1|2)\d `}), expect(func(e *model.Event) bool { return regexp.MustCompile(`item/(1|2)\d `).MatchString(e.Body) })},
		{"int gt", count(Filter{Field: "http.status", Op: OpGE, Num: 400}), expect(func(e *model.Event) bool { v, _ := e.Field("http.status"); return v.Int() >= 400 })},
		{"float lt", count(Filter{Field: "latency", Op: OpLT, Num: 1}), expect(func(e *model.Event) bool { v, _ := e.Field("latency"); return v.Float() < 1 })},
		{"exists", count(Filter{Field: model.FieldTraceID, Op: OpExists}), 200},
		{"not exists", count(Filter{Field: model.FieldTraceID, Op: OpExists, Not: true}), 1800},
		{"and", count(Filter{Field: "pod", Op: OpEqual, Value: "pod-1"}, Filter{Field: model.FieldSeverity, Op: OpEqual, Value: "warn"}),
			expect(func(e *model.Event) bool { v, _ := e.Field("pod"); return v.Str == "pod-1" && e.Severity == "warn" })},
	}
	for _, phase := range []string{"head", "parts"} {
		if phase == "parts" {
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range tests {
			t.Run(phase+"/"+tc.name, func(t *testing.T) {
				if got := tc.got(t); got != tc.want {
					t.Fatalf("got %d rows, want %d", got, tc.want)
				}
			})
		}
	}
}

func containsSub(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestHitsAndValues(t *testing.T) {
	s := openTest(t, t.TempDir(), testOpts())
	defer s.Close()
	rows := genRows(6000, 0) // 6 s of data
	if err := s.Append(context.Background(), rows[:3000]); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(context.Background(), rows[3000:]); err != nil {
		t.Fatal(err)
	}
	q := Query{Tenant: "t1", Start: baseTime.UnixNano(), End: baseTime.Add(6 * time.Second).UnixNano()}
	res, err := s.Hits(context.Background(), HitsQuery{Query: q, Step: int64(time.Second), GroupBy: "service"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Groups) != 3 {
		t.Fatalf("groups %+v", res.Groups)
	}
	for _, g := range res.Groups {
		total := int64(0)
		for _, c := range g.Counts {
			total += c
		}
		if total != 2000 {
			t.Fatalf("group %s total %d", g.Value, total)
		}
	}
	qf := q
	qf.Filters = []Filter{{Field: model.FieldSeverity, Op: OpEqual, Value: "error"}}
	res, err = s.Hits(context.Background(), HitsQuery{Query: qf, Step: int64(2 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	var errs int64
	for _, c := range res.Groups[0].Counts {
		errs += c
	}
	wantErr := 0
	for i := range rows {
		if rows[i].Severity == "error" {
			wantErr++
		}
	}
	if errs != int64(wantErr) || len(res.Groups[0].Counts) != 3 {
		t.Fatalf("error hits %d in %d buckets, want %d in 3", errs, len(res.Groups[0].Counts), wantErr)
	}
	vals, _, err := s.FieldValues(context.Background(), q, "pod", 0)
	if err != nil || len(vals) != 5 || vals[0].Count != 1200 {
		t.Fatalf("pod values %+v, %v", vals, err)
	}
	lv, err := s.LabelValues(context.Background(), "t1", 0, 0, "service")
	if err != nil || !slices.Equal(lv, []string{"cart", "checkout", "payment"}) {
		t.Fatalf("label values %v %v", lv, err)
	}
	ln, err := s.LabelNames(context.Background(), "t1", 0, 0, labels.MustNewMatcher(labels.MatchEqual, "service", "cart"))
	if err != nil || !slices.Equal(ln, []string{"env", "service"}) {
		t.Fatalf("label names %v %v", ln, err)
	}
	fn, err := s.FieldNames(context.Background(), q)
	if err != nil || !slices.Contains(fn, "http.status") || !slices.Contains(fn, model.FieldBody) {
		t.Fatalf("field names %v %v", fn, err)
	}
	if other, _ := s.LabelValues(context.Background(), "t2", 0, 0, "service"); len(other) != 0 {
		t.Fatalf("tenant isolation: %v", other)
	}
}

func TestTimeBoundsAndOverload(t *testing.T) {
	o := testOpts()
	o.MaxHeadBytes = 1 << 20
	o.FlushBytes = 1 << 19
	o.FlushInterval = time.Hour
	s := openTest(t, t.TempDir(), o)
	defer s.Close()
	old := genRows(1, 0)
	old[0].Time = baseTime.Add(-100 * 24 * time.Hour).UnixNano()
	if err := s.Append(context.Background(), old); !errors.Is(err, ErrTooOld) {
		t.Fatalf("old row: %v", err)
	}
	future := genRows(1, 0)
	future[0].Time = baseTime.Add(3 * time.Hour).UnixNano()
	if err := s.Append(context.Background(), future); !errors.Is(err, ErrTooNew) {
		t.Fatalf("future row: %v", err)
	}
	badLabel := genRows(1, 0)
	badLabel[0].Stream = labels.FromStrings("service", "a\xffb")
	if err := s.Append(context.Background(), badLabel); err == nil || !strings.Contains(err.Error(), "0xFE/0xFF") {
		t.Fatalf("label with 0xFF: %v", err)
	}
	// Block the flusher so the head cannot drain, then fill it.
	s.pubMu.Lock()
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		err = s.Append(context.Background(), genRows(100, i*100))
	}
	s.pubMu.Unlock()
	if !errors.Is(err, ErrOverloaded) {
		t.Fatalf("filling the head: %v, want ErrOverloaded", err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(context.Background(), genRows(100, 0)); err != nil {
		t.Fatalf("after flush: %v", err)
	}
}

// A cursor taken while rows are in the head resumes exactly after a flush
// moved them to a part: head rows (ordered by fields read from their
// encoding) and block rows break timestamp ties the same way.
func TestCursorAcrossFlush(t *testing.T) {
	for _, dir := range []Direction{Backward, Forward} {
		s := openTest(t, t.TempDir(), testOpts())
		rows := genRows(2000, 0)
		for i := range rows {
			rows[i].Time = baseTime.Add(time.Duration(i/9) * time.Millisecond).UnixNano()
		}
		if err := s.Append(context.Background(), rows); err != nil {
			t.Fatal(err)
		}
		page := func(cursor string) ([]int64, string) {
			var got []model.Event
			res, err := s.Query(context.Background(), Query{Tenant: "t1", Limit: 333, Cursor: cursor, Direction: dir},
				func(e *model.Event) bool { got = append(got, *e); return true })
			if err != nil {
				t.Fatal(err)
			}
			return seqs(got), res.Cursor
		}
		seen := map[int64]bool{}
		first, cursor := page("")
		for _, v := range first {
			seen[v] = true
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
		for cursor != "" {
			var got []int64
			got, cursor = page(cursor)
			for _, v := range got {
				if seen[v] {
					t.Fatalf("direction %d: row %d returned again after the flush", dir, v)
				}
				seen[v] = true
			}
		}
		if len(seen) != len(rows) {
			t.Fatalf("direction %d: %d rows paged across the flush, want %d", dir, len(seen), len(rows))
		}
		s.Close()
	}
}
