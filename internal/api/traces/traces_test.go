package traces

import (
	"testing"

	"github.com/sightline/sightline/internal/model"
	"github.com/sightline/sightline/internal/tracestore"
)

func TestBuildView(t *testing.T) {
	sp := func(id, parent byte, start, dur int64) tracestore.Span {
		s := tracestore.Span{SpanID: model.SpanID{7: id}, Start: start, Duration: dur, Service: "s", Name: string('a' + rune(id))}
		if parent != 0 {
			s.ParentSpanID = model.SpanID{7: parent}
		}
		return s
	}
	// root 0..100; children: 2 (10..40), 3 (20..90, the last to finish),
	// 4 (5..15, overlaps nothing after 3 starts → on the path before 3);
	// 5 is a child of 3 at 30..80.
	tr := tracestore.Trace{Spans: []tracestore.Span{
		sp(1, 0, 0, 100), sp(4, 1, 5, 10), sp(2, 1, 10, 30), sp(3, 1, 20, 70), sp(5, 3, 30, 50),
	}}
	logs := []model.Event{{Signal: model.SignalLog, Body: "hello", SpanID: model.SpanID{7: 5}}}
	v := BuildView(&tr, logs)
	if len(v.Spans) != 5 {
		t.Fatalf("spans = %d", len(v.Spans))
	}
	want := []struct {
		id       byte
		depth    int
		critical bool
		self     int64
	}{
		{1, 0, true, 100 - 85}, // children cover 5..90
		{4, 1, true, 10},
		{2, 1, false, 30},
		{3, 1, true, 70 - 50},
		{5, 2, true, 50},
	}
	for i, w := range want {
		got := v.Spans[i]
		if got.SpanID != (model.SpanID{7: w.id}).String() || got.Depth != w.depth || got.Critical != w.critical || got.SelfTime != w.self {
			t.Errorf("span %d = %s depth %d critical %v self %d; want %d %d %v %d",
				i, got.SpanID, got.Depth, got.Critical, got.SelfTime, w.id, w.depth, w.critical, w.self)
		}
	}
	if len(v.Logs) != 1 || v.Logs[0].Body != "hello" || v.Logs[0].SpanID != (model.SpanID{7: 5}).String() {
		t.Errorf("logs = %+v", v.Logs)
	}
	if v.Summary.SpanCount != 5 || v.Summary.Duration != 100 {
		t.Errorf("summary = %+v", v.Summary)
	}
}
