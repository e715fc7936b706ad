package eventstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/model"
)

// TestTraceID64 covers 64-bit trace ids (Zipkin B3, older Jaeger), which
// are stored left-padded to 16 bytes: a trace_id filter written with the
// id's 16 hex digits finds its rows, in the head and in parts, and
// TraceByID reads only the blocks holding the id although every such id
// shares the trace directory's zero prefix.
func TestTraceID64(t *testing.T) {
	s := openTest(t, t.TempDir(), testOpts())
	defer s.Close()
	const services, perService = 8, 3000
	id64 := func(n int) model.TraceID {
		return model.TraceID{8: 0x46, 9: 0x3a, 10: 0xc3, 14: byte(n >> 8), 15: byte(n)}
	}
	var rows []model.Event
	for svc := range services {
		for i := range perService {
			rows = append(rows, model.Event{Tenant: "t1", Signal: model.SignalLog, Body: "line",
				Stream:  labels.FromStrings("service", fmt.Sprintf("svc-%d", svc)),
				Time:    baseTime.Add(time.Duration(i) * time.Millisecond).UnixNano(),
				TraceID: id64(svc*perService + i)})
		}
	}
	target := 5*perService + 17 // one row, in one service's stream
	short := fmt.Sprintf("463ac3%010x", target)
	if full := id64(target).String(); full != "0000000000000000"+short {
		t.Fatalf("test ids: %s is not %s padded", full, short)
	}
	check := func(stage string) {
		t.Helper()
		for _, v := range []string{short, "0000000000000000" + short} {
			got := queryAll(t, s, Query{Tenant: "t1", Filters: []Filter{{Field: model.FieldTraceID, Op: OpEqual, Value: v}}})
			if len(got) != 1 || got[0].TraceID != id64(target) {
				t.Errorf("%s: trace_id = %s: %d rows, want the one row of that trace", stage, v, len(got))
			}
		}
	}
	if err := s.Append(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	check("head")
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	check("part")
	got, st, err := s.TraceByID(context.Background(), "t1", id64(target), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("TraceByID: %d rows, want 1", len(got))
	}
	// Every block's ids share the zero prefix, so the directory lists all
	// of them; the blooms must leave only the one holding the id.
	if st.BlocksRead != 1 || st.BlocksBloom < services-1 {
		t.Errorf("TraceByID read %d blocks and skipped %d by bloom; want 1 read, ≥ %d skipped", st.BlocksRead, st.BlocksBloom, services-1)
	}
}
