package tracestore

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/sightline/sightline/internal/model"
)

func marshalTraces(t testing.TB, td ptrace.Traces) []byte {
	t.Helper()
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pdataRows decodes body with pdata and converts it as the slow path does.
func pdataRows(body []byte, tenant string) ([]model.Event, error) {
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		return nil, err
	}
	return AppendRows(nil, tenant, req.Traces()), nil
}

func edgeCases(base time.Time) ptrace.Traces {
	td := ptrace.NewTraces()
	// A resource without service.name, namespace set, dropped attributes,
	// bytes and int values, a span with every optional field.
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.namespace", "shop")
	rs.Resource().Attributes().PutEmptyBytes("blob").FromRaw([]byte{0, 1, 2, 250})
	rs.Resource().SetDroppedAttributesCount(3)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().Attributes().PutInt("n", -7)
	sp := ss.Spans().AppendEmpty()
	sp.SetTraceID(tid(3))
	sp.SetSpanID(sid(3))
	sp.SetName("")
	sp.SetKind(ptrace.SpanKind(9)) // out of range: unspecified
	sp.Status().SetCode(ptrace.StatusCode(7))
	sp.Status().SetMessage("odd")
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Second)))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(base)) // negative duration
	sp.SetDroppedAttributesCount(1)
	sp.SetDroppedEventsCount(2)
	sp.SetDroppedLinksCount(3)
	sp.Attributes().PutEmpty("nothing")
	sp.Attributes().PutDouble("nan", math.NaN())
	sp.Attributes().PutBool("resource.x", false)
	sp.Attributes().PutStr("trace_id", "escaped")
	ev := sp.Events().AppendEmpty() // no time: the span's start
	ev.SetName("ev")
	ev.SetDroppedAttributesCount(4)
	ev.Attributes().PutStr("span_id", "escaped too")
	l := sp.Links().AppendEmpty()
	l.SetTraceID(tid(4))
	l.SetSpanID(sid(4))
	l.SetFlags(1)
	l.TraceState().FromRaw("a=b")
	l.SetDroppedAttributesCount(2)
	l.Attributes().PutDouble("w", 1.5)
	l.Attributes().PutEmptyBytes("raw").FromRaw([]byte("xy"))
	// Non-string service.name values.
	for i, put := range []func(pcommon.Map){
		func(m pcommon.Map) { m.PutInt("service.name", 42) },
		func(m pcommon.Map) { m.PutBool("service.name", true) },
		func(m pcommon.Map) { m.PutStr("service.name", "") },
		func(m pcommon.Map) { m.PutEmptyBytes("service.name").FromRaw([]byte("svc")) },
	} {
		rs := td.ResourceSpans().AppendEmpty()
		put(rs.Resource().Attributes())
		s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		s.SetTraceID(tid(byte(10 + i)))
		s.SetSpanID(sid(byte(10 + i)))
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(base))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Millisecond)))
	}
	// An empty resource spans and an empty scope spans.
	td.ResourceSpans().AppendEmpty()
	td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	return td
}

func TestDecodeProtoMatchesPdata(t *testing.T) {
	base := time.Unix(1_700_000_000, 123)
	bench, _ := benchTraces(rand.New(rand.NewPCG(3, 4)), 20, base)
	for _, tc := range []struct {
		name string
		td   ptrace.Traces
	}{
		{"sample", sample(base)},
		{"edge cases", edgeCases(base)},
		{"bench", bench},
		{"empty", ptrace.NewTraces()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := marshalTraces(t, tc.td)
			want, err := pdataRows(body, "acme")
			if err != nil {
				t.Fatal(err)
			}
			var buf RowBuffer
			got, err := buf.DecodeProto("acme", body)
			if err != nil {
				t.Fatalf("DecodeProto: %v", err)
			}
			if len(got) != len(want) {
				t.Fatalf("got %d rows, want %d", len(got), len(want))
			}
			for i := range want {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Fatalf("row %d:\n got %+v\nwant %+v", i, got[i], want[i])
				}
			}
			if n := SpanCount(got); n != tc.td.SpanCount() {
				t.Fatalf("SpanCount = %d, want %d", n, tc.td.SpanCount())
			}
			// The buffer is reusable: a second decode gives the same rows.
			again, err := buf.DecodeProto("acme", body)
			if err != nil || len(again) != len(want) || (len(want) > 0 && !reflect.DeepEqual(again, want)) {
				t.Fatalf("second decode differs (err %v)", err)
			}
		})
	}
}

func TestDecodeProtoFallback(t *testing.T) {
	base := time.Unix(1_700_000_000, 0)
	withSpan := func(f func(sp ptrace.Span, rs ptrace.ResourceSpans)) []byte {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "a")
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetTraceID(tid(1))
		sp.SetSpanID(sid(1))
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(base))
		f(sp, rs)
		return marshalTraces(t, td)
	}
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"map attribute", withSpan(func(sp ptrace.Span, _ ptrace.ResourceSpans) {
			sp.Attributes().PutEmptyMap("m").PutStr("k", "v")
		})},
		{"slice attribute", withSpan(func(sp ptrace.Span, _ ptrace.ResourceSpans) {
			sp.Attributes().PutEmptySlice("s").AppendEmpty().SetInt(1)
		})},
		{"double service name", withSpan(func(_ ptrace.Span, rs ptrace.ResourceSpans) {
			rs.Resource().Attributes().Remove("service.name")
			rs.Resource().Attributes().PutDouble("service.name", 1.5)
		})},
		{"truncated", withSpan(func(ptrace.Span, ptrace.ResourceSpans) {})[:20]},
		{"unknown request field", []byte{0x10, 0x01}},
		{"group wire type", []byte{0x0b}},
		{"short trace id", []byte{0x0a, 0x08, 0x12, 0x06, 0x12, 0x04, 0x0a, 0x02, 0x01, 0x02}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf RowBuffer
			if _, err := buf.DecodeProto("", tc.body); !errors.Is(err, ErrFallback) {
				t.Fatalf("err = %v, want ErrFallback", err)
			}
		})
	}
}

func TestDecodeProtoAllocations(t *testing.T) {
	td, _ := benchTraces(rand.New(rand.NewPCG(1, 1)), 100, time.Now())
	body := marshalTraces(t, td)
	var buf RowBuffer
	if _, err := buf.DecodeProto("", body); err != nil {
		t.Fatal(err)
	}
	// Per batch: the stream labels and prefixed resource keys of its one
	// resource; nothing per span.
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := buf.DecodeProto("", body); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 10 {
		t.Fatalf("%v allocations per 1000-span batch, want ≤ 10", allocs)
	}
}

// FuzzDecodeProto checks the fast decoder against pdata on the same bytes:
// whenever it accepts a request, pdata must accept it too and the rows
// must be identical.
func FuzzDecodeProto(f *testing.F) {
	base := time.Unix(1_700_000_000, 0)
	bench, _ := benchTraces(rand.New(rand.NewPCG(5, 6)), 2, base)
	for _, td := range []ptrace.Traces{sample(base), edgeCases(base), bench} {
		f.Add(marshalTraces(f, td))
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		var buf RowBuffer
		got, err := buf.DecodeProto("t", body)
		if err != nil {
			if !errors.Is(err, ErrFallback) {
				t.Fatalf("error %v is not ErrFallback", err)
			}
			return
		}
		want, err := pdataRows(body, "t")
		if err != nil {
			t.Fatalf("fast path accepted what pdata refuses: %v", err)
		}
		if len(got) != len(want) {
			t.Fatalf("got %d rows, want %d", len(got), len(want))
		}
		for i := range want {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("row %d:\n got %+v\nwant %+v", i, got[i], want[i])
			}
		}
	})
}

// cpuTime returns the process's user+system CPU time: on a shared
// machine wall time says little about the code.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDecodeProto measures protobuf → rows without pdata.
func BenchmarkDecodeProto(b *testing.B) {
	td, _ := benchTraces(rand.New(rand.NewPCG(1, 1)), 100, time.Now())
	body := marshalTraces(b, td)
	var buf RowBuffer
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if _, err := buf.DecodeProto("", body); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*td.SpanCount()), "cpu-ns/span")
}

// BenchmarkPdataDecodeRows measures the slow path on the same bytes:
// pdata unmarshal, then conversion reusing a RowBuffer.
func BenchmarkPdataDecodeRows(b *testing.B) {
	td, _ := benchTraces(rand.New(rand.NewPCG(1, 1)), 100, time.Now())
	body := marshalTraces(b, td)
	var buf RowBuffer
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			b.Fatal(err)
		}
		_ = buf.Rows("", req.Traces())
	}
	// Includes the garbage collection the allocations cause.
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*td.SpanCount()), "cpu-ns/span")
}

// TestAppendCopiesRows guards the contract the fast path relies on: the
// event store copies what it keeps, so rows whose strings share a request
// buffer may be stored and the buffer reused at once.
func TestAppendCopiesRows(t *testing.T) {
	ctx := context.Background()
	base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	s := openStore(t)
	body := marshalTraces(t, sample(base))
	var buf RowBuffer
	rows, err := buf.DecodeProto("", body)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, rows); err != nil {
		t.Fatal(err)
	}
	for i := range body {
		body[i] = 'X' // the receiver reuses its buffer
	}
	tr, ok, err := s.TraceByID(ctx, model.TraceID(tid(1)), 0, 0)
	if err != nil || !ok || len(tr.Spans) != 3 {
		t.Fatalf("trace: found=%v spans=%d err=%v", ok, len(tr.Spans), err)
	}
	if tr.Spans[0].Name != "GET /cart" || tr.Spans[0].Service != "frontend" {
		t.Fatalf("stored span changed with the request buffer: %q of %q", tr.Spans[0].Name, tr.Spans[0].Service)
	}
}
