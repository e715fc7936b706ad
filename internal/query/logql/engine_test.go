package logql_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/query/logql"
	"github.com/sightline/sightline/internal/query/logql/memsource"
)

func newTestEngine(t *testing.T, opts logql.Options) (*logql.Engine, *memsource.Source) {
	t.Helper()
	src := memsource.New()
	for i := 0; i < 20; i++ {
		line := "GET /x status=200"
		if i%2 == 1 {
			line = "POST /y status=500"
		}
		src.Add("t", logql.Entry{
			Timestamp: int64(i+1) * int64(time.Second),
			Line:      line,
			Labels:    labels.FromStrings("app", "api", "pod", string(rune('a'+i%4))),
		})
	}
	eng, err := logql.NewEngine(src, opts)
	if err != nil {
		t.Fatal(err)
	}
	return eng, src
}

func TestPushdownHintsAndLimit(t *testing.T) {
	cases := []struct {
		name       string
		query      string
		wantHints  []logql.LineFilterHint
		wantLimit  int
		wantLabels string
	}{
		{
			name:       "label filters on stored labels are hints too",
			query:      `{app="api"} | pod=~"a|b" |= "GET" | pod!="b"`,
			wantHints:  []logql.LineFilterHint{{Op: logql.LineContains, Values: []string{"GET"}}},
			wantLabels: `[pod=~"a|b" pod!="b"]`,
			wantLimit:  3,
		},
		{
			name:      "label filters after a parser are not hints",
			query:     `{app="api"} | logfmt | pod="a" |= "GET"`,
			wantHints: []logql.LineFilterHint{{Op: logql.LineContains, Values: []string{"GET"}}},
		},
		{
			name:       "or predicates are not hints",
			query:      `{app="api"} | pod="a" or pod="b" | pod="a" and pod!="c"`,
			wantLabels: `[pod="a" pod!="c"]`,
		},
		{
			name:      "pure filters push the limit down",
			query:     `{app="api"} |= "GET" !~ "q|z"`,
			wantHints: []logql.LineFilterHint{{Op: logql.LineContains, Values: []string{"GET"}}, {Op: logql.LineNotRegex, Values: []string{"q|z"}}},
			wantLimit: 3,
		},
		{
			name:      "filters after a parser still act on the stored line",
			query:     `{app="api"} |= "GET" | logfmt | status="200" != "nope" or "never"`,
			wantHints: []logql.LineFilterHint{{Op: logql.LineContains, Values: []string{"GET"}}, {Op: logql.LineNotContains, Values: []string{"nope", "never"}}},
		},
		{
			name:      "line_format ends pushdown",
			query:     `{app="api"} |~ "GET|POST" | line_format "{{.pod}}" |= "a"`,
			wantHints: []logql.LineFilterHint{{Op: logql.LineRegex, Values: []string{"GET|POST"}}},
		},
		{
			name:  "pattern filters are not hints",
			query: `{app="api"} |> "GET <_>"`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eng, src := newTestEngine(t, logql.DefaultOptions())
			res, err := eng.Query(context.Background(), tc.query, logql.Params{
				Tenant: "t", Start: time.Unix(0, 0), End: time.Unix(100, 0), Limit: 3,
			})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, s := range res.Streams {
				n += len(s.Entries)
			}
			if n != 3 {
				t.Fatalf("got %d entries, want 3", n)
			}
			sel := src.Selects()
			if len(sel) != 1 {
				t.Fatalf("got %d selects", len(sel))
			}
			if !reflect.DeepEqual(sel[0].LineFilters, tc.wantHints) {
				t.Fatalf("hints = %+v, want %+v", sel[0].LineFilters, tc.wantHints)
			}
			if got := fmt.Sprint(sel[0].LabelFilters); (tc.wantLabels != "" || len(sel[0].LabelFilters) > 0) && got != tc.wantLabels {
				t.Fatalf("label hints = %s, want %s", got, tc.wantLabels)
			}
			if sel[0].Limit != tc.wantLimit {
				t.Fatalf("limit = %d, want %d", sel[0].Limit, tc.wantLimit)
			}
			if sel[0].Tenant != "t" || sel[0].Start != 0 || sel[0].End != 100e9 {
				t.Fatalf("bad select params %+v", sel[0])
			}
		})
	}
}

func TestMetricSelectRange(t *testing.T) {
	eng, src := newTestEngine(t, logql.DefaultOptions())
	_, err := eng.Query(context.Background(), `count_over_time({app="api"}[10s] offset 5s)`, logql.Params{
		Tenant: "t", Start: time.Unix(30, 0), End: time.Unix(60, 0), Step: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	sel := src.Selects()[0]
	// First window is (30-5-10, 30-5], last ends at 60-5; Start is inclusive, End exclusive.
	if sel.Start != 15e9+1 || sel.End != 55e9+1 {
		t.Fatalf("select range [%d, %d)", sel.Start, sel.End)
	}
}

func TestRequiredSubstrings(t *testing.T) {
	cases := []struct {
		hint logql.LineFilterHint
		want []string
	}{
		{logql.LineFilterHint{Op: logql.LineContains, Values: []string{"abc"}}, []string{"abc"}},
		{logql.LineFilterHint{Op: logql.LineContains, Values: []string{"a", "b"}}, nil},
		{logql.LineFilterHint{Op: logql.LineNotContains, Values: []string{"abc"}}, nil},
		{logql.LineFilterHint{Op: logql.LineRegex, Values: []string{"foo.*bar"}}, []string{"foo", "bar"}},
		{logql.LineFilterHint{Op: logql.LineRegex, Values: []string{"(?i)foo"}}, nil},
		{logql.LineFilterHint{Op: logql.LineRegex, Values: []string{"foo|bar"}}, nil},
		{logql.LineFilterHint{Op: logql.LineRegex, Values: []string{"trace_id=([0-9a-f]+) done"}}, []string{"trace_id=", " done"}},
	}
	for _, tc := range cases {
		if got := tc.hint.RequiredSubstrings(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%+v: got %q, want %q", tc.hint, got, tc.want)
		}
	}
}

func TestLineMatcher(t *testing.T) {
	m, err := logql.NewLineMatcher([]logql.LineFilterHint{
		{Op: logql.LineContains, Values: []string{"GET", "PUT"}},
		{Op: logql.LineNotRegex, Values: []string{`status=5\d\d`}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for line, want := range map[string]bool{
		"GET /a status=200": true,
		"PUT /a status=201": true,
		"GET /a status=503": false,
		"POST /a":           false,
	} {
		if got := m.Match(line); got != want {
			t.Errorf("Match(%q) = %v, want %v", line, got, want)
		}
	}
}

func TestParseErrorPosition(t *testing.T) {
	_, err := logql.ParseExpr("sum(\n  count_over_time({app=\"a\"}[5m]) by (x)")
	var pe *logql.ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("got %v, want *ParseError", err)
	}
	if pe.Line != 2 || pe.Col != 3 {
		t.Fatalf("position %d:%d, want 2:3 (%v)", pe.Line, pe.Col, err)
	}
	if !strings.HasPrefix(err.Error(), "parse error at line 2, col 3: ") {
		t.Fatalf("message %q", err)
	}
}

func TestLimitsAndErrors(t *testing.T) {
	opts := logql.DefaultOptions()
	opts.MaxEntries, opts.MaxSeries, opts.MaxPoints = 10, 2, 5
	eng, _ := newTestEngine(t, opts)
	ctx := context.Background()
	base := logql.Params{Tenant: "t", Start: time.Unix(0, 0), End: time.Unix(100, 0)}
	var qe *logql.QueryError

	p := base
	p.Limit = 11
	if _, err := eng.Query(ctx, `{app="api"}`, p); !errors.As(err, &qe) {
		t.Fatalf("limit above MaxEntries: got %v", err)
	}
	p = base
	p.End = time.Unix(20, 0)
	if _, err := eng.Query(ctx, `count_over_time({app="api"}[1m])`, p); !errors.As(err, &qe) || !strings.Contains(err.Error(), "maximum number of series") {
		t.Fatalf("too many series: got %v", err)
	}
	p = base
	p.Step = time.Second
	if _, err := eng.Query(ctx, `sum(count_over_time({app="api"}[1m]))`, p); !errors.As(err, &qe) || !strings.Contains(err.Error(), "resolution") {
		t.Fatalf("too many points: got %v", err)
	}
	p = base
	p.Step = time.Nanosecond
	if _, err := eng.Query(ctx, `sum(count_over_time({app="api"}[1m]))`, p); !errors.As(err, &qe) || !strings.Contains(err.Error(), "resolution") {
		t.Fatalf("tiny step: got %v", err)
	}
	p = base
	p.End = time.Unix(-1, 0)
	if _, err := eng.Query(ctx, `{app="api"}`, p); !errors.As(err, &qe) {
		t.Fatalf("end before start: got %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := eng.Query(cctx, `{app="api"}`, base); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: got %v", err)
	}
	if _, err := logql.NewEngine(nil, logql.DefaultOptions()); err == nil {
		t.Fatal("nil source accepted")
	}
	if err := (logql.Options{}).Validate(); err == nil {
		t.Fatal("zero options accepted")
	}
}

func TestPipelineProcess(t *testing.T) {
	e, err := logql.ParseLogExpr(`{app="x"} |= "level" | json | level="error" | line_format "{{.msg}} ({{.app}}/{{.trace}})"`)
	if err != nil {
		t.Fatal(err)
	}
	p, err := logql.NewPipeline(e.Stages)
	if err != nil {
		t.Fatal(err)
	}
	stream := labels.FromStrings("app", "x")
	meta := labels.FromStrings("trace", "t1")
	line, ok := p.Process(1, `{"level":"error","msg":"boom"}`, stream, meta)
	if !ok || line != "boom (x/t1)" {
		t.Fatalf("got %q, %v", line, ok)
	}
	want := labels.FromStrings("app", "x", "level", "error", "msg", "boom", "trace", "t1")
	if got := p.Labels(); !labels.Equal(got, want) {
		t.Fatalf("labels %s, want %s", got, want)
	}
	if _, ok := p.Process(2, `{"level":"info","msg":"fine"}`, stream, meta); ok {
		t.Fatal("info line kept")
	}
	if _, ok := p.Process(3, `no match`, stream, meta); ok {
		t.Fatal("line without the filter string kept")
	}
}

func TestParseDirection(t *testing.T) {
	for in, want := range map[string]logql.Direction{"": logql.Backward, "forward": logql.Forward, "BACKWARD": logql.Backward} {
		got, err := logql.ParseDirection(in)
		if err != nil || got != want {
			t.Errorf("ParseDirection(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := logql.ParseDirection("sideways"); err == nil {
		t.Error("sideways accepted")
	}
}

func TestLineFilterRegexDotMatchesNewline(t *testing.T) {
	e, err := logql.ParseLogExpr(`{app="x"} |~ "start.+end"`)
	if err != nil {
		t.Fatal(err)
	}
	p, err := logql.NewPipeline(e.Stages)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Process(0, "start\nmiddle\nend", labels.FromStrings("app", "x"), labels.EmptyLabels()); !ok {
		t.Fatal("multi-line entry not matched: '.' must match newlines in line filters")
	}
}

func TestTemplateFunctions(t *testing.T) {
	cases := map[string]string{
		`{{ trunc -5 "hello world" }}`:                                    "world",
		`{{ substr 6 11 "hello world" }}`:                                 "world",
		`{{ alignLeft 5 "hi" }}|{{ alignRight 5 "hi" }}`:                  "hi   |   hi",
		`{{ trimAll "$" "$5.00" }}`:                                       "5.00",
		`{{ count "a|b" "abab" }}`:                                        "4",
		`{{ add 3 2 5 }} {{ addf 3.5 2 5 }} {{ sub 5 2 }}`:                "10 10.5 3",
		`{{ subf 5.5 2 1.5 }} {{ divf 10 2 4 }} {{ mul 5 2 3 }}`:          "2 1.25 30",
		`{{ mulf 5.5 2 2.5 }} {{ mod 10 3 }} {{ div 10 2 }}`:              "27.5 1 5",
		`{{ max 1 2 3 }} {{ min 1 2 3 }} {{ maxf 1 2.5 3 }}`:              "3 1 3",
		`{{ round 123.555555 3 }} {{ round 123.88571428571 5 .2 }}`:       "123.556 123.88572",
		`{{ ceil 123.001 }} {{ floor 123.9999 }}`:                         "124 123",
		`{{ "3" | int }} {{ "3.5" | float64 }}`:                           "3 3.5",
		`{{ title "hello world" }} {{ upper "a" }}{{ lower "B" }}`:        "Hello World Ab",
		`{{ repeat 3 "ab" }} {{ replace "hello" "world" "hello world" }}`: "ababab world world",
		`{{ default "-" "" }} {{ default "-" "foo" }}`:                    "- foo",
		`{{ b64enc "hi" }} {{ b64dec "aGk=" }} {{ urlencode "a b" }}`:     "aGk= hi a+b",
		`{{ date "2006-01-02" (unixToTime "1679577215") }}`:               "2023-03-23",
		`{{ toDateInZone "2006-01-02" "UTC" "2021-11-02" | unixEpoch }}`:  "1635811200",
		`{{ (fromJson "{\"foo\": 55}").foo }}`:                            "55",
		`{{ regexReplaceAllLiteral "(ts=)" "ts=1" "timestamp=" }}`:        "timestamp=1",
		`{{ if contains "he" "hello" }}yes{{ end }}`:                      "yes",
		`{{ indent 2 "a\nb" }}`:                                           "  a\n  b",
	}
	for tmpl, want := range cases {
		e, err := logql.ParseLogExpr("{app=\"x\"} | line_format `" + tmpl + "`")
		if err != nil {
			t.Fatalf("%s: %v", tmpl, err)
		}
		p, err := logql.NewPipeline(e.Stages)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := p.Process(0, "line", labels.FromStrings("app", "x"), labels.EmptyLabels())
		if got != want {
			t.Errorf("%s = %q, want %q", tmpl, got, want)
		}
	}
}

func TestSelectors(t *testing.T) {
	e, err := logql.ParseExpr(`sum(rate({a="1"}[1m])) / on () label_replace(count_over_time({b=~"2|3"} | json [1m]), "x", "y", "z", "w")`)
	if err != nil {
		t.Fatal(err)
	}
	sel := logql.Selectors(e)
	if len(sel) != 2 || sel[0][0].String() != `a="1"` || sel[1][0].String() != `b=~"2|3"` {
		t.Fatalf("got %v", sel)
	}
}

func TestLogFilter(t *testing.T) {
	f, err := logql.NewLogFilter(`{app="x"} | logfmt | level="error" | line_format "{{.msg}}"`)
	if err != nil {
		t.Fatal(err)
	}
	line, lbls, ok := f.Match(logql.Entry{Line: `level=error msg=boom`, Labels: labels.FromStrings("app", "x")})
	if !ok || line != "boom" || lbls.String() != `{app="x", level="error", msg="boom"}` {
		t.Fatalf("got %q %s %v", line, lbls, ok)
	}
	if _, _, ok := f.Match(logql.Entry{Line: `level=error msg=boom`, Labels: labels.FromStrings("app", "y")}); ok {
		t.Fatal("entry of another stream matched")
	}
	if _, _, ok := f.Match(logql.Entry{Line: `level=info msg=ok`, Labels: labels.FromStrings("app", "x")}); ok {
		t.Fatal("filtered entry matched")
	}
	if _, err := logql.NewLogFilter(`count_over_time({app="x"}[1m])`); err == nil {
		t.Fatal("metric query accepted")
	}
}

// TestLogQueryLimitWithManySeries checks that the newest entries win even
// when every line forms its own series and the kept set is compacted.
func TestLogQueryLimitWithManySeries(t *testing.T) {
	src := memsource.New()
	for i := 0; i < 5000; i++ {
		src.Add("", logql.Entry{
			Timestamp: int64(i),
			Line:      fmt.Sprintf(`{"id":"%d"}`, i),
			Labels:    labels.FromStrings("app", "x"),
		})
	}
	eng, err := logql.NewEngine(src, logql.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	res, err := eng.Query(context.Background(), `{app="x"} | json`, logql.Params{Start: time.Unix(0, 0), End: time.Unix(1, 0), Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range res.Streams {
		got = append(got, s.Labels.Get("id")+"="+s.Entries[0].Line)
	}
	want := []string{`4997={"id":"4997"}`, `4998={"id":"4998"}`, `4999={"id":"4999"}`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestOrderedSourceStopsEarly(t *testing.T) {
	eng, _ := newTestEngine(t, logql.DefaultOptions())
	res, err := eng.Query(context.Background(), `{app="api"} | logfmt | status="500"`, logql.Params{
		Tenant: "t", Start: time.Unix(0, 0), End: time.Unix(100, 0), Limit: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Newest first: entries 20 (500), 19 (200), 18 (500) give two hits.
	if res.Stats.EntriesScanned != 3 {
		t.Fatalf("scanned %d entries, want 3", res.Stats.EntriesScanned)
	}
	var ts []int64
	for _, s := range res.Streams {
		for _, e := range s.Entries {
			ts = append(ts, e.Timestamp/int64(time.Second))
		}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	if fmt.Sprint(ts) != "[18 20]" {
		t.Fatalf("got entries at %v", ts)
	}
}
