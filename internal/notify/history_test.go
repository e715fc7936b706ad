package notify

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

func TestHistoryTransitionsAndPersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	h, err := OpenHistory(path, 3)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1000, 0)
	a := model.LabelSet{"alertname": "A", "service": "x"}
	b := model.LabelSet{"alertname": "B"}
	steps := []struct {
		ls     model.LabelSet
		endsAt time.Time
		now    time.Time
	}{
		{a, t0.Add(-time.Second), t0},                           // resolved, never seen firing: ignored
		{a, t0.Add(time.Minute), t0},                            // firing
		{a, t0.Add(2 * time.Minute), t0.Add(10 * time.Second)},  // still firing: ignored
		{b, time.Time{}, t0.Add(20 * time.Second)},              // firing (no end)
		{a, t0.Add(30 * time.Second), t0.Add(30 * time.Second)}, // resolved
		{a, t0.Add(30 * time.Second), t0.Add(40 * time.Second)}, // resolved again: ignored
	}
	for _, s := range steps {
		h.Observe(s.ls, nil, "http://x/metrics", t0, s.endsAt, s.now)
	}
	got := h.Events(0, nil)
	want := []string{"A resolved", "B firing", "A firing"}
	if len(got) != len(want) {
		t.Fatalf("events %+v", got)
	}
	for i, e := range got {
		if e.Labels["alertname"]+" "+e.State != want[i] {
			t.Errorf("event %d: %s %s, want %s", i, e.Labels["alertname"], e.State, want[i])
		}
	}
	if ev := h.Events(1, map[string]string{"alertname": "A"}); len(ev) != 1 || ev[0].State != StateResolved {
		t.Errorf("filtered %+v", ev)
	}
	// Bounded: a fourth and fifth event push the oldest out.
	h.Observe(b, nil, "", t0, t0.Add(50*time.Second), t0.Add(50*time.Second))
	h.Observe(a, nil, "", t0, t0.Add(time.Hour), t0.Add(60*time.Second))
	if n := len(h.Events(0, nil)); n != 3 {
		t.Errorf("kept %d events, limit 3", n)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	// A torn last line is skipped; state survives reopening.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"time":"2026-`)
	f.Close()
	h2, err := OpenHistory(path, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	if ev := h2.Events(0, nil); len(ev) != 3 || ev[0].Labels["alertname"] != "A" || ev[0].State != StateFiring {
		t.Fatalf("reopened %+v", ev)
	}
	// A is known firing: the same state is not recorded twice.
	h2.Observe(a, nil, "", t0, t0.Add(2*time.Hour), t0.Add(70*time.Second))
	if n := len(h2.Events(0, map[string]string{"alertname": "A"})); n != 2 {
		t.Errorf("A events after reopen: %d", n)
	}
	rec := httptest.NewRecorder()
	h2.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/alerts/history?limit=1&alertname=B", nil))
	if body := rec.Body.String(); rec.Code != 200 || !strings.Contains(body, `"status":"success"`) || strings.Count(body, `"fingerprint"`) != 1 || !strings.Contains(body, `"alertname":"B"`) {
		t.Errorf("http: %d %s", rec.Code, body)
	}
	rec = httptest.NewRecorder()
	h2.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/alerts/history?limit=x", nil))
	if rec.Code != 400 {
		t.Errorf("bad limit: %d", rec.Code)
	}
}

func FuzzDecodeHistory(f *testing.F) {
	f.Add([]byte(`{"time":"2026-01-01T00:00:00Z","state":"firing","fingerprint":"ab","labels":{"a":"b"},"startsAt":"2026-01-01T00:00:00Z"}` + "\n"))
	f.Add([]byte("{\n}\n\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, n := DecodeHistory(b)
		if len(ev) > n {
			t.Fatalf("%d events from %d lines", len(ev), n)
		}
		for _, e := range ev {
			if e.State != StateFiring && e.State != StateResolved || e.Fingerprint == "" {
				t.Fatalf("invalid event kept: %+v", e)
			}
		}
	})
}

// History remembers only firing alerts, and one the rules engine stopped
// sending without a resolution (its rule was removed) is recorded resolved
// when its validity lapses, before it fires again.
func TestHistoryForgetsResolvedAndExpiresSilentAlerts(t *testing.T) {
	h, err := OpenHistory(filepath.Join(t.TempDir(), "history.jsonl"), 100)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	t0 := time.Unix(1000, 0)
	for i := range 50 {
		ls := model.LabelSet{"alertname": "PodDown", "pod": model.LabelValue(fmt.Sprint("pod-", i))}
		h.Observe(ls, nil, "", t0, t0.Add(4*time.Minute), t0)
		h.Observe(ls, nil, "", t0, t0.Add(time.Second), t0.Add(time.Second))
	}
	if n := len(h.firing); n != 0 {
		t.Errorf("%d resolved alerts still remembered", n)
	}
	gone := model.LabelSet{"alertname": "Removed"}
	h.Observe(gone, nil, "", t0, t0.Add(4*time.Minute), t0)
	// Ten minutes later another alert is sent; Removed never was again.
	other := model.LabelSet{"alertname": "Other"}
	h.Observe(other, nil, "", t0, t0.Add(14*time.Minute), t0.Add(10*time.Minute))
	ev := h.Events(1, map[string]string{"alertname": "Removed"})
	if len(ev) != 1 || ev[0].State != StateResolved || !ev[0].Time.Equal(t0.Add(4*time.Minute)) {
		t.Fatalf("Removed after its validity lapsed: %+v, want resolved at %s", ev, t0.Add(4*time.Minute).UTC())
	}
	// It fires again: a new firing event follows the resolution.
	h.Observe(gone, nil, "", t0, t0.Add(20*time.Minute), t0.Add(16*time.Minute))
	if ev := h.Events(0, map[string]string{"alertname": "Removed"}); len(ev) != 3 || ev[0].State != StateFiring {
		t.Fatalf("Removed firing again: %+v", ev)
	}
}
