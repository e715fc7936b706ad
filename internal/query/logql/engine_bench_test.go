package logql_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/query/logql"
	"github.com/sightline/sightline/internal/query/logql/memsource"
)

// sliceSource replays a fixed slice without filtering, so benchmarks measure
// the engine rather than the in-memory store.
type sliceSource struct{ entries []logql.Entry }

type sliceIter struct {
	e []logql.Entry
	i int
}

func (it *sliceIter) Next() bool      { it.i++; return it.i < len(it.e) }
func (it *sliceIter) At() logql.Entry { return it.e[it.i] }
func (it *sliceIter) Err() error      { return nil }
func (it *sliceIter) Close() error    { return nil }
func (s *sliceSource) Select(context.Context, logql.SelectParams) (logql.Iterator, error) {
	return &sliceIter{e: s.entries, i: -1}, nil
}

func genEntries(n int) []logql.Entry {
	levels := []string{"info", "warn", "error", "debug"}
	streams := []labels.Labels{
		labels.FromStrings("app", "checkout", "env", "prod"),
		labels.FromStrings("app", "payment", "env", "prod"),
	}
	out := make([]logql.Entry, n)
	for i := range out {
		out[i] = logql.Entry{
			Timestamp: int64(i) * int64(time.Hour) / int64(n),
			Line: fmt.Sprintf(`{"ts":"2026-11-24T15:27:58Z","level":"%s","msg":"request handled","status":%d,"duration":"%dms","trace_id":"4bf92f3577b34da6a3ce929d0e0e%04x","http":{"method":"GET","path":"/api/v1/items/%d"}}`,
				levels[i%4], 200+i%5*100, i%300, i%65536, i%1000),
			Labels: streams[i%2],
		}
	}
	return out
}

func benchQuery(b *testing.B, q string, p logql.Params, n int) {
	src := &sliceSource{entries: genEntries(n)}
	eng, err := logql.NewEngine(src, logql.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := eng.Query(context.Background(), q, p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkEngineCountByLevel is "count_over_time ... by (level)" over an
// hour of JSON lines, 60 steps.
func BenchmarkEngineCountByLevel(b *testing.B) {
	benchQuery(b, `sum by (level) (count_over_time({env="prod"} | json [1m]))`,
		logql.Params{Start: time.Unix(0, 0), End: time.Unix(3600, 0), Step: time.Minute}, 100_000)
}

func BenchmarkEngineNeedleLogQuery(b *testing.B) {
	benchQuery(b, `{env="prod"} |= "0e0e00ff"`,
		logql.Params{Start: time.Unix(0, 0), End: time.Unix(3600, 0), Limit: 100}, 100_000)
}

// TestEngineConcurrentQueries runs queries from several goroutines (run
// with -race) to check the engine shares no mutable state between queries.
func TestEngineConcurrentQueries(t *testing.T) {
	src := memsource.New()
	for _, e := range genEntries(2000) {
		src.Add("", e)
	}
	eng, err := logql.NewEngine(src, logql.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	queries := []string{
		`sum by (level) (count_over_time({env="prod"} | json [10m]))`,
		`{app="checkout"} |= "error" | json | status >= 400 | line_format "{{.msg}}"`,
		`topk(2, sum by (app) (rate({env="prod"} | json | unwrap status [5m])))`,
	}
	want := make([]string, len(queries))
	p := logql.Params{Start: time.Unix(0, 0), End: time.Unix(3600, 0), Step: 5 * time.Minute, Limit: 50}
	for i, q := range queries {
		res, err := eng.Query(context.Background(), q, p)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = fmt.Sprint(res.Streams, res.Matrix)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, q := range queries {
				res, err := eng.Query(context.Background(), q, p)
				if err != nil {
					t.Error(err)
					return
				}
				if got := fmt.Sprint(res.Streams, res.Matrix); got != want[i] {
					t.Errorf("query %q differs under concurrency", q)
				}
			}
		}()
	}
	wg.Wait()
}

// TestGroupedSumPushdownEquivalence checks that grouping samples while
// reading (sum by over count/rate/bytes/sum_over_time) gives the same
// answer as evaluating every series and aggregating afterwards; the
// "> -Inf" filter defeats the pushdown without changing values.
func TestGroupedSumPushdownEquivalence(t *testing.T) {
	src := memsource.New()
	for _, e := range genEntries(1000) {
		src.Add("", e)
	}
	eng, err := logql.NewEngine(src, logql.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	ranges := []string{"7s", "5m"}
	steps := []time.Duration{0, 7 * time.Second, time.Minute}
	inners := []string{
		`count_over_time({env="prod"} | json [%s]%s)`,
		`rate({env="prod"} |= "GET" [%s]%s)`,
		`bytes_over_time({env="prod"} [%s]%s)`,
		`bytes_rate({env="prod"} | json | status >= 400 [%s]%s)`,
		`sum_over_time({env="prod"} | json | unwrap status [%s]%s)`,
		`rate({env="prod"} | json | unwrap status [%s]%s)`,
	}
	for _, inner := range inners {
		for _, rng := range ranges {
			for _, off := range []string{"", " offset 30s"} {
				for _, step := range steps {
					x := fmt.Sprintf(inner, rng, off)
					p := logql.Params{Start: time.Unix(600, 0), End: time.Unix(1800, 0), Step: step}
					for _, grouping := range []string{"by (level)", "without (trace_id, duration, http_path, ts, msg)", ""} {
						fast := fmt.Sprintf("sum %s (%s)", grouping, x)
						slow := fmt.Sprintf("sum %s (%s > -Inf)", grouping, x)
						a, err := eng.Query(context.Background(), fast, p)
						if err != nil {
							t.Fatalf("%s: %v", fast, err)
						}
						b, err := eng.Query(context.Background(), slow, p)
						if err != nil {
							t.Fatalf("%s: %v", slow, err)
						}
						if got, want := renderNumbers(a), renderNumbers(b); got != want {
							t.Fatalf("%s (step %s):\n pushed: %s\n   full: %s", fast, step, got, want)
						}
					}
				}
			}
		}
	}
}

func renderNumbers(r *logql.Result) string {
	var sb strings.Builder
	for _, s := range r.Matrix {
		sb.WriteString(s.Labels.String())
		for _, p := range s.Points {
			fmt.Fprintf(&sb, " %d:%.9g", p.T, p.V)
		}
		sb.WriteByte('\n')
	}
	for _, s := range r.Vector {
		fmt.Fprintf(&sb, "%s %d:%.9g\n", s.Labels, s.T, s.V)
	}
	return sb.String()
}
