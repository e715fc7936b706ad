package memsource

import (
	"context"
	"testing"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/query/logql"
)

func collect(t *testing.T, s *Source, p logql.SelectParams) []string {
	t.Helper()
	it, err := s.Select(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out []string
	for it.Next() {
		out = append(out, it.At().Line)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSelect(t *testing.T) {
	s := New()
	a := labels.FromStrings("app", "a")
	b := labels.FromStrings("app", "b")
	s.Add("t1", logql.Entry{Timestamp: 3, Line: "a3 GET", Labels: a, Metadata: labels.FromStrings("trace", "x")})
	s.Add("t1", logql.Entry{Timestamp: 1, Line: "a1 POST", Labels: a})
	s.Add("t1", logql.Entry{Timestamp: 2, Line: "b2 GET", Labels: b})
	s.Add("t2", logql.Entry{Timestamp: 2, Line: "other tenant", Labels: a})
	all := []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, "app", ".+")}

	cases := []struct {
		name string
		p    logql.SelectParams
		want []string
	}{
		{"backward across streams", logql.SelectParams{Tenant: "t1", Start: 0, End: 10, Matchers: all}, []string{"a3 GET", "b2 GET", "a1 POST"}},
		{"forward with limit", logql.SelectParams{Tenant: "t1", Start: 0, End: 10, Direction: logql.Forward, Limit: 2, Matchers: all}, []string{"a1 POST", "b2 GET"}},
		{"end is exclusive", logql.SelectParams{Tenant: "t1", Start: 1, End: 3, Direction: logql.Forward, Matchers: all}, []string{"a1 POST", "b2 GET"}},
		{"matchers", logql.SelectParams{Tenant: "t1", Start: 0, End: 10, Matchers: []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "app", "a")}}, []string{"a3 GET", "a1 POST"}},
		{"line hints", logql.SelectParams{Tenant: "t1", Start: 0, End: 10, Matchers: all, LineFilters: []logql.LineFilterHint{{Op: logql.LineNotContains, Values: []string{"POST"}}}}, []string{"a3 GET", "b2 GET"}},
		{"label hints see metadata", logql.SelectParams{Tenant: "t1", Start: 0, End: 10, Matchers: all, LabelFilters: []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "trace", "x")}}, []string{"a3 GET"}},
		{"tenant", logql.SelectParams{Tenant: "t2", Start: 0, End: 10, Matchers: all}, []string{"other tenant"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := collect(t, s, tc.p)
			if len(got) != len(tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %q, want %q", got, tc.want)
				}
			}
		})
	}
	if n := len(s.Selects()); n != len(cases) {
		t.Fatalf("recorded %d selects, want %d", n, len(cases))
	}
}
