package tracestore

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sightline/sightline/internal/model"
)

// benchTraces builds n traces of 10 spans (~500 bytes of OTLP each).
func benchTraces(rng *rand.Rand, n int, at time.Time) (ptrace.Traces, []model.TraceID) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	rs.Resource().Attributes().PutStr("host.name", "node-1")
	rs.Resource().Attributes().PutStr("k8s.pod.name", "checkout-7d9f8c6b5-x2x4q")
	sc := rs.ScopeSpans().AppendEmpty()
	sc.Scope().SetName("otelhttp")
	var ids []model.TraceID
	for t := 0; t < n; t++ {
		var tid pcommon.TraceID
		binary.LittleEndian.PutUint64(tid[:8], rng.Uint64())
		binary.LittleEndian.PutUint64(tid[8:], rng.Uint64())
		ids = append(ids, model.TraceID(tid))
		var parent pcommon.SpanID
		for k := 0; k < 10; k++ {
			sp := sc.Spans().AppendEmpty()
			var sid pcommon.SpanID
			binary.LittleEndian.PutUint64(sid[:], rng.Uint64())
			sp.SetTraceID(tid)
			sp.SetSpanID(sid)
			sp.SetParentSpanID(parent)
			parent = sid
			sp.SetName("GET /api/items/{id}")
			sp.SetKind(ptrace.SpanKindServer)
			st := at.Add(time.Duration(t)*time.Millisecond + time.Duration(k)*time.Microsecond)
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(st))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(st.Add(time.Duration(rng.IntN(50000)) * time.Microsecond)))
			a := sp.Attributes()
			a.PutStr("http.method", "GET")
			a.PutStr("http.url", "http://checkout:8080/api/items/"+strconv.Itoa(rng.IntN(100000)))
			a.PutInt("http.status_code", 200)
			a.PutStr("user.id", "u-"+strconv.Itoa(rng.IntN(5000)))
			a.PutStr("http.user_agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0")
		}
	}
	return td, ids
}

// BenchmarkAppendRows measures OTLP → row conversion per span.
func BenchmarkAppendRows(b *testing.B) {
	td, _ := benchTraces(rand.New(rand.NewPCG(1, 1)), 100, time.Now())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = AppendRows(nil, "", td)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*td.SpanCount()), "ns/span")
}

// BenchmarkRowBuffer measures conversion reusing memory across batches.
func BenchmarkRowBuffer(b *testing.B) {
	td, _ := benchTraces(rand.New(rand.NewPCG(1, 1)), 100, time.Now())
	var buf RowBuffer
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = buf.Rows("", td)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*td.SpanCount()), "ns/span")
}

// BenchmarkTraceByID measures a warm trace lookup among 100k spans in
// flushed parts.
func BenchmarkTraceByID(b *testing.B) {
	s := openStore(b)
	rng := rand.New(rand.NewPCG(2, 2))
	at := time.Now().Add(-time.Hour)
	var ids []model.TraceID
	for i := 0; i < 100; i++ {
		td, batch := benchTraces(rng, 100, at.Add(time.Duration(i)*100*time.Millisecond))
		ids = append(ids, batch...)
		if err := s.Append(context.Background(), AppendRows(nil, "", td)); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Events.(interface{ Flush() error }).Flush(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tr, ok, err := s.TraceByID(context.Background(), ids[rng.IntN(len(ids))], 0, 0)
		if err != nil || !ok || len(tr.Spans) != 10 {
			b.Fatalf("trace: %v %v %d", ok, err, len(tr.Spans))
		}
	}
}

// BenchmarkSearch measures a search for 20 traces with a duration filter.
func BenchmarkSearch(b *testing.B) {
	s := openStore(b)
	rng := rand.New(rand.NewPCG(3, 3))
	at := time.Now().Add(-time.Hour)
	for i := 0; i < 100; i++ {
		td, _ := benchTraces(rng, 100, at.Add(time.Duration(i)*100*time.Millisecond))
		if err := s.Append(context.Background(), AppendRows(nil, "", td)); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Events.(interface{ Flush() error }).Flush(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ts, err := s.SearchSummaries(context.Background(), Search{Service: "checkout", MinDuration: 45 * time.Millisecond, Limit: 20})
		if err != nil || len(ts) != 20 {
			b.Fatalf("search: %d %v", len(ts), err)
		}
	}
}
