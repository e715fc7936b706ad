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
