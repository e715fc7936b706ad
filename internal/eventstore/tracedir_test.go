package eventstore

import (
	"context"
	"encoding/hex"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/model"
)

// TestTraceIDFilterUsesDirectory: trace_id columns carry no bloom filter;
// a trace_id = X filter finds its blocks through the part's trace
// directory, reads only those, and returns exactly the rows of X.
func TestTraceIDFilterUsesDirectory(t *testing.T) {
	s := openTest(t, t.TempDir(), testOpts())
	defer s.Close()
	var rows []model.Event
	for i := range 40000 {
		e := model.Event{Tenant: "t1", Signal: model.SignalLog, Stream: labels.FromStrings("service", "api"),
			Time: baseTime.Add(time.Duration(i) * time.Millisecond).UnixNano(), Body: "line"}
		if i%3 != 0 {
			e.TraceID = model.TraceID{byte(i / 7 >> 16), byte(i / 7 >> 8), byte(i / 7), 9, 9}
		}
		rows = append(rows, e)
	}
	// Two parts, merged: the merged part's directory must list the blocks.
	for _, half := range [][]model.Event{rows[:25000], rows[25000:]} {
		if err := s.Append(context.Background(), half); err != nil {
			t.Fatal(err)
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := s.merge(2, true); !ok || err != nil {
		t.Fatalf("merge: %v %v", ok, err)
	}
	sn, err := s.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range sn.parts {
		for bi := range r.p.idx.blocks {
			bh := mustHeader(t, r.p.idx, bi)
			if c := bh.col(model.FieldTraceID); c != nil && c.bloomLen != 0 {
				t.Fatalf("block %d: trace_id column has a %d-byte bloom", bi, c.bloomLen)
			}
		}
	}
	if len(sn.parts) != 1 {
		t.Fatalf("%d parts after the merge", len(sn.parts))
	}
	sn.release()
	for _, k := range []int{1, 2000, 5713} { // 5713*7 = 39991: the last block
		id := model.TraceID{byte(k >> 16), byte(k >> 8), byte(k), 9, 9}
		want := 0
		for i := range rows {
			if rows[i].TraceID == id {
				want++
			}
		}
		n := 0
		res, err := s.Query(context.Background(), Query{Tenant: "t1", Filters: []Filter{{Field: model.FieldTraceID, Op: OpEqual, Value: hex.EncodeToString(id[:])}}},
			func(e *model.Event) bool {
				if e.TraceID != id {
					t.Errorf("row of trace %x", e.TraceID)
				}
				n++
				return true
			})
		if err != nil {
			t.Fatal(err)
		}
		st := res.Stats
		if n != want || want == 0 || st.BlocksRead != 1 || st.BlocksBloom != st.BlocksTotal-1 || st.BlocksTotal < 4 {
			t.Fatalf("trace %d: %d rows (want %d), stats %+v", k, n, want, st)
		}
	}
	// An id in no block reads nothing.
	res, err := s.Query(context.Background(), Query{Tenant: "t1", Filters: []Filter{{Field: model.FieldTraceID, Op: OpEqual, Value: "ffffffffffffffffffffffffffffffff"}}},
		func(*model.Event) bool { t.Error("row for an absent trace"); return true })
	if err != nil || res.Stats.BlocksRead != 0 {
		t.Fatalf("absent trace: %+v %v", res.Stats, err)
	}
}
