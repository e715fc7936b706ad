package ingest

import (
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
