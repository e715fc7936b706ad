package lokijson

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/query/logql"
)

func TestAppendResponse(t *testing.T) {
	cases := []struct {
		name string
		res  *logql.Result
		want string
	}{
		{
			name: "streams",
			res: &logql.Result{Type: logql.TypeStreams, Streams: []logql.Stream{{
				Labels:  labels.FromStrings("app", "a\"b"),
				Entries: []logql.StreamEntry{{Timestamp: 1700000000123456789, Line: "esc \x1b[31m red\u2028\n"}},
			}}},
			want: `[{"stream":{"app":"a\"b"},"values":[["1700000000123456789","esc \u001b[31m red\u2028\n"]]}]`,
		},
		{
			name: "matrix",
			res: &logql.Result{Type: logql.TypeMatrix, Matrix: []logql.Series{{
				Labels: labels.FromStrings("level", "info"),
				Points: []logql.Point{{T: 1700000000500000000, V: 0.25}, {T: 1700000060000000000, V: math.Inf(1)}},
			}}},
			want: `[{"metric":{"level":"info"},"values":[[1700000000.5,"0.25"],[1700000060,"+Inf"]]}]`,
		},
		{
			name: "vector",
			res: &logql.Result{Type: logql.TypeVector, Vector: []logql.Sample{{
				Labels: labels.EmptyLabels(), T: 1700000000000000000, V: math.NaN(),
			}}},
			want: `[{"metric":{},"value":[1700000000,"NaN"]}]`,
		},
		{
			name: "scalar",
			res:  &logql.Result{Type: logql.TypeScalar, Scalar: logql.Point{T: 1e9, V: 7}},
			want: `[1,"7"]`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(AppendResult(nil, tc.res)); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
			full := AppendResponse(nil, tc.res, 250*time.Millisecond)
			var resp struct {
				Status string `json:"status"`
				Data   struct {
					ResultType string          `json:"resultType"`
					Result     json.RawMessage `json:"result"`
					Stats      struct {
						Summary map[string]float64 `json:"summary"`
					} `json:"stats"`
				} `json:"data"`
			}
			if err := json.Unmarshal(full, &resp); err != nil {
				t.Fatalf("invalid JSON %s: %v", full, err)
			}
			if resp.Status != "success" || resp.Data.ResultType != string(tc.res.Type) || string(resp.Data.Result) != tc.want {
				t.Fatalf("bad envelope %s", full)
			}
			if resp.Data.Stats.Summary["execTime"] != 0.25 {
				t.Fatalf("stats %v", resp.Data.Stats.Summary)
			}
		})
	}
}

func FuzzAppendJSONString(f *testing.F) {
	f.Add("plain")
	f.Add("\x00\xff\"\\\u2028")
	f.Fuzz(func(t *testing.T, s string) {
		var got string
		if err := json.Unmarshal(appendJSONString(nil, s), &got); err != nil {
			t.Fatalf("invalid JSON for %q: %v", s, err)
		}
	})
}
