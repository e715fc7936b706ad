package sampling

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/model"
)

type sink struct {
	mu   sync.Mutex
	rows map[model.TraceID]int
}

func (s *sink) next(_ context.Context, rows []model.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rows {
		s.rows[r.TraceID]++
	}
	return nil
}

func span(id byte, dur time.Duration, status model.StatusCode) model.Event {
	return model.Event{Signal: model.SignalSpan, TraceID: model.TraceID{15: id, 0: id}, Duration: int64(dur), StatusCode: status}
}

func TestDecisions(t *testing.T) {
	now := time.Unix(1000, 0)
	k := &sink{rows: map[model.TraceID]int{}}
	s, err := New(Options{Rate: 0, KeepErrors: true, SlowerThan: time.Second, DecisionWait: 5 * time.Second,
		Now: func() time.Time { return now }}, k.next, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_ = s.Offer(ctx, []model.Event{span(1, time.Millisecond, 0), span(2, 2*time.Second, 0), span(3, time.Millisecond, model.StatusError), span(3, time.Millisecond, 0)})
	if n, _ := s.Buffered(); n != 3 || len(k.rows) != 0 {
		t.Fatalf("buffered %d, forwarded %d before the wait", n, len(k.rows))
	}
	now = now.Add(6 * time.Second)
	s.DecideOlderThan(now.Add(-5 * time.Second))
	tests := []struct {
		id   byte
		want int
	}{{1, 0}, {2, 1}, {3, 2}}
	for _, tc := range tests {
		if got := k.rows[model.TraceID{15: tc.id, 0: tc.id}]; got != tc.want {
			t.Errorf("trace %d: %d rows kept, want %d", tc.id, got, tc.want)
		}
	}
	// A late span of a kept trace passes at once; of a dropped one, never.
	_ = s.Offer(ctx, []model.Event{span(3, 0, 0), span(1, 0, 0)})
	if k.rows[model.TraceID{15: 3, 0: 3}] != 3 || k.rows[model.TraceID{15: 1, 0: 1}] != 0 {
		t.Errorf("late spans: %v", k.rows)
	}
}

func TestRateAndBound(t *testing.T) {
	k := &sink{rows: map[model.TraceID]int{}}
	s, err := New(Options{Rate: 0.25, DecisionWait: time.Hour, MaxBufferedBytes: 10_000}, k.next, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4000; i++ {
		r := model.Event{Signal: model.SignalSpan, TraceID: model.TraceID{0: byte(i), 1: byte(i >> 8), 2: 7}}
		_ = s.Offer(context.Background(), []model.Event{r})
		if _, b := s.Buffered(); b > 10_000 {
			t.Fatalf("buffered %d bytes over the bound", b)
		}
	}
	_ = s.Close()
	if n := len(k.rows); n < 800 || n > 1200 {
		t.Errorf("kept %d of 4000 at rate 0.25", n)
	}
	if err := (Options{Rate: 2}).Validate(); err == nil {
		t.Error("rate 2 accepted")
	}
}

func TestPassThrough(t *testing.T) {
	k := &sink{rows: map[model.TraceID]int{}}
	s, _ := New(DefaultOptions(), k.next, nil)
	_ = s.Offer(context.Background(), []model.Event{span(1, 0, 0)})
	if len(k.rows) != 1 || !s.PassThrough() {
		t.Errorf("pass-through did not forward at once")
	}
	_ = s.Close()
}

// TestTenantsDecidedApart sends the same trace id for two tenants: one
// tenant's error keeps only that tenant's trace.
func TestTenantsDecidedApart(t *testing.T) {
	now := time.Unix(1000, 0)
	kept := map[string]int{}
	var mu sync.Mutex
	next := func(_ context.Context, rows []model.Event) error {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range rows {
			kept[r.Tenant]++
		}
		return nil
	}
	s, err := New(Options{Rate: 0, KeepErrors: true, DecisionWait: time.Second, Now: func() time.Time { return now }}, next, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b := span(7, time.Millisecond, model.StatusError), span(7, time.Millisecond, 0)
	a.Tenant, b.Tenant = "a", "b"
	_ = s.Offer(context.Background(), []model.Event{a, b})
	if n, _ := s.Buffered(); n != 2 {
		t.Fatalf("buffered %d traces, want 2 (one per tenant)", n)
	}
	now = now.Add(2 * time.Second)
	s.DecideOlderThan(now.Add(-time.Second))
	// A late span of each: a's follows the keep verdict, b's the drop.
	_ = s.Offer(context.Background(), []model.Event{a, b})
	if kept["a"] != 2 || kept["b"] != 0 {
		t.Fatalf("kept rows per tenant %v, want a:2 b:0", kept)
	}
}
