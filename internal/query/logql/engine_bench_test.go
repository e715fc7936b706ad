package logql_test

import (
	"context"
	"fmt"
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
