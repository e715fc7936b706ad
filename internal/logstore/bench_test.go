package logstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/model"
	"github.com/sightline/sightline/internal/query/logql"
)

// BenchmarkIngestJSON measures JSON document → row conversion alone and
// with the store's Append (WAL fsync per batch of 1000), ~400-byte documents.
func BenchmarkIngestJSON(b *testing.B) {
	b.Run("convert", func(b *testing.B) { benchIngest(b, false) })
	b.Run("convert+append", func(b *testing.B) { benchIngest(b, true) })
}

func benchIngest(b *testing.B, store bool) {
	st := openStore(b)
	s, _ := NewSchema(Options{})
	w := NewWriter(st, WriterOptions{})
	doc := func(i int) []byte {
		return fmt.Appendf(nil, `{"_time":"%s","service.name":"svc%d","level":"info","message":"GET /api/v1/items/%d served in %dms for user u%d from 10.0.%d.%d","http":{"status":%d,"method":"GET","route":"/api/v1/items/:id"},"trace_id":"%032x","span_id":"%016x","pod":"svc-%d-abcde"}`,
			base.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), i%5, i, i%300, i%1000, i%256, i%200, 200+i%3*100, i*7919, i*104729, i%20)
	}
	docs := make([][]byte, 1000)
	for i := range docs {
		docs[i] = doc(i)
	}
	var bytes int64
	for _, d := range docs {
		bytes += int64(len(d))
	}
	b.SetBytes(bytes)
	b.ReportAllocs()
	b.ResetTimer()
	rows := make([]model.Event, 0, len(docs))
	for b.Loop() {
		rows = rows[:0]
		for _, d := range docs {
			m, err := ParseJSONObject(d)
			if err != nil {
				b.Fatal(err)
			}
			ev, err := s.FromJSON("", m, DefaultJSONMapping(), 0)
			if err != nil {
				b.Fatal(err)
			}
			rows = append(rows, ev)
		}
		if store {
			if err := w.Write(context.Background(), rows); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(docs))/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkQuery measures LogQL through the Source on 200k flushed rows.
func BenchmarkQuery(b *testing.B) {
	st := openStore(b)
	s, _ := NewSchema(Options{})
	var rows []model.Event
	for i := range 200_000 {
		r := s.NewRecord("", base.Add(time.Duration(i)*10*time.Millisecond).UnixNano())
		r.AddString("service.name", fmt.Sprintf("svc%d", i%4))
		r.SetSeverity([]string{"info", "warn", "error"}[i%3])
		body := fmt.Sprintf("request %d handled path=/api/item/%d user=u%d", i, i%97, i%13)
		if i == 123_456 {
			body += " needle-token-xyz"
		}
		r.SetBody(body)
		r.AddString("pod", fmt.Sprintf("pod-%d", i%50))
		rows = append(rows, r.Event())
		if len(rows) == 10_000 {
			if err := st.Append(context.Background(), rows); err != nil {
				b.Fatal(err)
			}
			rows = rows[:0]
		}
	}
	if err := st.Flush(); err != nil {
		b.Fatal(err)
	}
	eng, _ := logql.NewEngine(&Source{R: st, Schema: s}, logql.DefaultOptions())
	for _, q := range []string{
		`{service_name="svc0"} |= "needle-token-xyz"`,
		`{service_name=~"svc.*"} |= "needle-token-xyz"`,
		`sum by (level) (count_over_time({service_name=~"svc.*"}[1h]))`,
		`{service_name="svc1"} | pod="pod-9"`,
	} {
		b.Run("engine "+q, func(b *testing.B) {
			for b.Loop() {
				if _, err := eng.Query(context.Background(), q, logql.Params{Start: base, End: base.Add(time.Hour), Limit: 100}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("Counts sum by (level) count_over_time [1h]", func(b *testing.B) {
		src := &Source{R: st, Schema: s}
		ms, _ := logql.ParseMatchers(`{service_name=~"svc.*"}`)
		for b.Loop() {
			_, ok, err := src.Counts(context.Background(), st, CountQuery{
				Select: logql.SelectParams{Matchers: ms}, Start: base.Add(time.Hour).UnixNano(), Steps: 1, Range: int64(time.Hour), GroupBy: "level",
			})
			if err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
}
