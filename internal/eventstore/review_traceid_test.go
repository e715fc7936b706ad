package eventstore

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/model"
)

// TestReviewTraceIDFilterForms: every form of trace_id filter gives the
// rows a direct check on the events gives, whether the rows sit in the
// head, in parts (trace_id columns without bloom, found through the trace
// directory) or in a merged part: = in lower and upper case, = on ids that
// share a directory prefix, = "" (rows without a trace), negations, a
// regexp, and ids that are not 16 bytes of hex.
func TestReviewTraceIDFilterForms(t *testing.T) {
	s := openTest(t, t.TempDir(), testOpts())
	defer s.Close()
	var rows []model.Event
	for i := range 12000 {
		e := model.Event{Tenant: "t1", Signal: model.SignalLog,
			Stream: labels.FromStrings("service", []string{"a", "b"}[i%2]),
			Time:   baseTime.Add(time.Duration(i) * time.Millisecond).UnixNano(), Body: "line"}
		switch i % 4 {
		case 1: // ids sharing the 4-byte prefix 01020304
			e.TraceID = model.TraceID{1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, byte(i / 40 >> 8), byte(i / 40)}
		case 2: // 64-bit ids as ParseTraceID pads them: prefix 0
			e.TraceID = model.TraceID{8: 0xab, 14: byte(i / 40 >> 8), 15: byte(i / 40)}
		case 3:
			e.TraceID = model.TraceID{byte(i >> 8), byte(i), 0xcd, 0xef, 15: 1}
		}
		rows = append(rows, e)
	}
	pick := func(i int) string { return hex.EncodeToString(rows[i].TraceID[:]) }
	filters := []Filter{
		{Field: model.FieldTraceID, Op: OpEqual, Value: pick(41)},
		{Field: model.FieldTraceID, Op: OpEqual, Value: strings.ToUpper(pick(5001))},
		{Field: model.FieldTraceID, Op: OpEqual, Value: pick(42)},
		{Field: model.FieldTraceID, Op: OpEqual, Value: pick(11999)},
		{Field: model.FieldTraceID, Op: OpEqual, Value: "01020304000000000000000000000000"},
		{Field: model.FieldTraceID, Op: OpEqual, Value: ""},
		{Field: model.FieldTraceID, Op: OpEqual, Value: "", Not: true},
		{Field: model.FieldTraceID, Op: OpEqual, Value: pick(41), Not: true},
		{Field: model.FieldTraceID, Op: OpRegex, Value: "^01020304.*0002$"},
		{Field: model.FieldTraceID, Op: OpSubstring, Value: "cdef"},
		{Field: model.FieldTraceID, Op: OpEqual, Value: "abcd"},        // too short
		{Field: model.FieldTraceID, Op: OpEqual, Value: "not-a-trace"}, // not hex
		{Field: model.FieldTraceID, Op: OpExists},
	}
	check := func(stage string) {
		for _, f := range filters {
			cf, err := compileFilters([]Filter{f})
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			for i := range rows {
				if cf[0].matchEvent(&rows[i]) {
					want++
				}
			}
			got := len(queryAll(t, s, Query{Tenant: "t1", Filters: []Filter{f}}))
			if got != want {
				t.Errorf("%s: %+v: %d rows, want %d", stage, f, got, want)
			}
		}
	}
	if err := s.Append(context.Background(), rows[:6000]); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(context.Background(), rows[6000:]); err != nil {
		t.Fatal(err)
	}
	check("part and head")
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	check("two parts")
	if _, err := s.merge(2, true); err != nil {
		t.Fatal(err)
	}
	check("merged")
}

// TestReviewTraceIDPaddedSkipsBlocks: 64-bit trace ids (stored padded on the
// left, as ParseTraceID makes them) all have the trace directory prefix 0,
// so after trace_id columns lost their bloom (4bc28fd) trace_id = X read
// every block holding any such id (7 of 7 here). Blocks holding them keep
// the bloom, so the lookup reads about one block again.
func TestReviewTraceIDPaddedSkipsBlocks(t *testing.T) {
	s := openTest(t, t.TempDir(), testOpts())
	defer s.Close()
	var rows []model.Event
	for i := range 40000 {
		e := model.Event{Tenant: "t1", Signal: model.SignalLog, Stream: labels.FromStrings("service", "api"),
			Time: baseTime.Add(time.Duration(i) * time.Millisecond).UnixNano(), Body: "line"}
		e.TraceID = model.TraceID{8: 0x46, 9: 0x3a, 13: byte(i / 7 >> 16), 14: byte(i / 7 >> 8), 15: byte(i / 7)}
		rows = append(rows, e)
	}
	if err := s.Append(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, k := range []int{0, 20000, 39999} {
		id := rows[k].TraceID
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
		want := 0
		for i := range rows {
			if rows[i].TraceID == id {
				want++
			}
		}
		if st := res.Stats; n != want || st.BlocksTotal < 4 || st.BlocksRead > 2 {
			t.Fatalf("row %d's trace: %d rows (want %d), stats %+v", k, n, want, st)
		}
	}
}
