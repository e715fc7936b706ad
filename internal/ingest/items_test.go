package ingest

import (
	"fmt"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/protobuf/encoding/protowire"
)

func TestCountProtoMatchesPdata(t *testing.T) {
	td := ptrace.NewTraces()
	spans, events := 0, 0
	for r := range 3 {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "svc")
		for sc := range 2 {
			ss := rs.ScopeSpans().AppendEmpty()
			for i := range r + sc + 1 {
				sp := ss.Spans().AppendEmpty()
				sp.SetName("op")
				for range i {
					sp.Events().AppendEmpty().SetName("ev")
					events++
				}
				spans++
			}
		}
	}
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	if n, err := CountProto(b, []protowire.Number{1, 2, 2}); err != nil || n != spans {
		t.Errorf("spans: %d, %v; want %d", n, err, spans)
	}
	if n, err := CountProto(b, []protowire.Number{1, 2, 2}, []protowire.Number{1, 2, 2, 11}); err != nil || n != spans+events {
		t.Errorf("spans and events: %d, %v; want %d", n, err, spans+events)
	}
	// An empty request has no items; a truncated one is an error.
	empty, _ := plogotlp.NewExportRequest().MarshalProto()
	if n, err := CountProto(empty, []protowire.Number{1, 2, 2}); err != nil || n != 0 {
		t.Errorf("empty: %d, %v", n, err)
	}
	if _, err := CountProto(b[:len(b)-3], []protowire.Number{1, 2, 2}); err == nil {
		t.Error("a truncated request was counted")
	}
}

// FuzzCountProto: any input gives a count or an error, never a panic, and
// a count never exceeds the input's length (each item takes a byte).
func FuzzCountProto(f *testing.F) {
	td := ptrace.NewTraces()
	td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty().Events().AppendEmpty()
	b, _ := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	f.Add(b)
	f.Add([]byte{0x0a, 0x02, 0x12, 0x00})
	f.Add([]byte{0x0a, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := CountProto(b, []protowire.Number{1, 2, 2}, []protowire.Number{1, 2, 2, 11}, []protowire.Number{1})
		if err == nil && n > len(b) {
			t.Fatalf("%d items in %d bytes", n, len(b))
		}
	})
}

// Every span and span event is a row carrying a copy of its resource's and
// scope's attributes: the estimate counts them per scope.
func TestOTLPRowsCost(t *testing.T) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	for i := range 10 {
		rs.Resource().Attributes().PutStr(fmt.Sprint("r", i), "v")
	}
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().Attributes().PutStr("s", "v")
	for range 3 {
		ss.Spans().AppendEmpty().Events().AppendEmpty()
	}
	rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty() // no scope attributes
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	rows, cost, err := OTLPRowsCost(b, true)
	want := int64(6)*(CostRow+CostAttr*11) + (CostRow + CostAttr*10)
	if err != nil || rows != 7 || cost != want {
		t.Fatalf("rows %d cost %d (%v), want 7 and %d", rows, cost, err, want)
	}
	if rows, _, _ := OTLPRowsCost(b, false); rows != 4 {
		t.Errorf("without events: %d rows, want 4", rows)
	}
	if _, _, err := OTLPRowsCost(b[:len(b)-2], true); err == nil {
		t.Error("a truncated request was estimated")
	}
}

// FuzzOTLPRowsCost: any input gives an estimate or an error, never a
// panic, and never more rows than bytes.
func FuzzOTLPRowsCost(f *testing.F) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("a", "b")
	rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty().Events().AppendEmpty()
	b, _ := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	f.Add(b)
	f.Add([]byte{0x0a, 0x04, 0x12, 0x02, 0x12, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		rows, cost, err := OTLPRowsCost(b, true)
		if err == nil && (rows > len(b) || cost < 0) {
			t.Fatalf("%d rows, cost %d from %d bytes", rows, cost, len(b))
		}
	})
}

// BenchmarkOTLPRowsCost estimates a 1000-span request (10 attributes per
// span, 20 on the resource) before decoding; BenchmarkOTLPTracesDecode is
// pdata's decoding of the same request, for scale.
func BenchmarkOTLPRowsCost(b *testing.B) {
	body := benchTraces(b)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, _, err := OTLPRowsCost(body, true); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOTLPTracesDecode(b *testing.B) {
	body := benchTraces(b)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			b.Fatal(err)
		}
	}
}

func benchTraces(b *testing.B) []byte {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	for i := range 20 {
		rs.Resource().Attributes().PutStr(fmt.Sprint("resource.attr.", i), "value")
	}
	ss := rs.ScopeSpans().AppendEmpty()
	for i := range 1000 {
		sp := ss.Spans().AppendEmpty()
		sp.SetName(fmt.Sprint("GET /item/", i%50))
		sp.SetTraceID([16]byte{byte(i), 1})
		sp.SetSpanID([8]byte{byte(i), 2})
		for k := range 10 {
			sp.Attributes().PutStr(fmt.Sprint("attr.", k), "some value")
		}
	}
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		b.Fatal(err)
	}
	return body
}
