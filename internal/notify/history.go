package notify

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/common/model"
)

// Event is one alert state change.
type Event struct {
	Time         time.Time         `json:"time"`
	State        string            `json:"state"` // "firing" or "resolved"
	Fingerprint  string            `json:"fingerprint"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Event states.
const (
	StateFiring   = "firing"
	StateResolved = "resolved"
)

// History keeps the last Limit alert state changes in memory and in a file
// of JSON lines (one Event per line, appended; rewritten to the last Limit
// events when it holds twice as many). A torn or corrupt line is skipped on
// load. History is safe for concurrent use.
//
// It remembers only the alerts firing now. An alert the rules engine stops
// sending without resolving it (its rule was removed, or it was firing
// when the server stopped) is recorded as resolved once its last validity
// lapses, as Alertmanager treats it.
type History struct {
	path  string
	limit int

	mu        sync.Mutex // guards the fields below
	events    []Event
	firing    map[string]firingAlert // fingerprint → the alert, while firing
	lastSweep time.Time
	f         *os.File
	lines     int
}

// firingAlert is a firing alert's event and the end of its validity (zero:
// none).
type firingAlert struct {
	ev    Event
	until time.Time
}

// loadedValidity is how long an alert found firing in the file stays so
// without being sent again.
const loadedValidity = 15 * time.Minute

// OpenHistory loads (or creates) the history file.
func OpenHistory(path string, limit int) (*History, error) {
	if limit <= 0 {
		return nil, errors.New("open alert history: limit must be positive")
	}
	h := &History{path: path, limit: limit, firing: map[string]firingAlert{}}
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read alert history: %w", err)
	}
	h.events, h.lines = DecodeHistory(b)
	until := time.Now().Add(loadedValidity)
	for _, e := range h.events {
		if e.State == StateFiring {
			h.firing[e.Fingerprint] = firingAlert{ev: e, until: until}
		} else {
			delete(h.firing, e.Fingerprint)
		}
	}
	if len(h.events) > limit {
		h.events = slices.Clone(h.events[len(h.events)-limit:])
	}
	if err := h.rewriteLocked(); err != nil {
		return nil, err
	}
	return h, nil
}

// DecodeHistory parses a history file, skipping lines that do not decode
// to an event with a known state. It returns the events and the number of
// lines read.
func DecodeHistory(b []byte) ([]Event, int) {
	var out []Event
	n := 0
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		n++
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			continue
		}
		if (e.State != StateFiring && e.State != StateResolved) || e.Fingerprint == "" {
			continue
		}
		out = append(out, e)
	}
	return out, n
}

// Observe records a transition if the alert's state differs from the last
// one recorded for its fingerprint.
func (h *History) Observe(ls, ann model.LabelSet, genURL string, startsAt, endsAt, now time.Time) {
	fp := ls.Fingerprint().String()
	firing := endsAt.IsZero() || endsAt.After(now)
	h.mu.Lock()
	defer h.mu.Unlock()
	if now.Sub(h.lastSweep) >= time.Minute {
		h.lastSweep = now
		for k, fa := range h.firing {
			h.expireLocked(k, fa, now)
		}
	}
	fa, was := h.firing[fp]
	if was && h.expireLocked(fp, fa, now) {
		was = false
	}
	if was && firing {
		fa.until = endsAt
		h.firing[fp] = fa
		return
	}
	if !was && !firing {
		return
	}
	e := Event{Time: now.UTC(), State: StateResolved, Fingerprint: fp, Labels: stringMap(ls),
		Annotations: stringMap(ann), StartsAt: startsAt.UTC(), GeneratorURL: genURL}
	if firing {
		e.State = StateFiring
		h.firing[fp] = firingAlert{ev: e, until: endsAt}
	} else {
		e.EndsAt = endsAt.UTC()
		delete(h.firing, fp)
	}
	h.recordLocked(e)
}

// expireLocked records the firing alert fa (fingerprint fp) resolved at
// the end of its validity if that has passed, and reports whether it did.
func (h *History) expireLocked(fp string, fa firingAlert, now time.Time) bool {
	if fa.until.IsZero() || fa.until.After(now) {
		return false
	}
	e := fa.ev
	e.Time, e.State, e.EndsAt = fa.until.UTC(), StateResolved, fa.until.UTC()
	delete(h.firing, fp)
	h.recordLocked(e)
	return true
}

// recordLocked appends e to the kept events and the file.
func (h *History) recordLocked(e Event) {
	h.events = append(h.events, e)
	if len(h.events) > h.limit {
		h.events = slices.Delete(h.events, 0, len(h.events)-h.limit)
	}
	if h.f == nil {
		return
	}
	line, err := json.Marshal(e)
	if err != nil {
		return
	}
	if _, err := h.f.Write(append(line, '\n')); err == nil {
		h.lines++
	}
	if h.lines >= 2*h.limit {
		_ = h.rewriteLocked()
	}
}

// rewriteLocked replaces the file with the kept events (tmp, fsync,
// rename) and reopens it for appending.
func (h *History) rewriteLocked() error {
	if h.f != nil {
		h.f.Close()
		h.f = nil
	}
	tmp := h.path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("write alert history: %w", err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, e := range h.events {
		if err := enc.Encode(e); err != nil {
			f.Close()
			return fmt.Errorf("write alert history: %w", err)
		}
	}
	err = errors.Join(w.Flush(), f.Sync(), f.Close())
	if err == nil {
		err = os.Rename(tmp, h.path)
	}
	if err != nil {
		return fmt.Errorf("write alert history: %w", err)
	}
	if d, err := os.Open(filepath.Dir(h.path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	h.f, err = os.OpenFile(h.path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open alert history: %w", err)
	}
	h.lines = len(h.events)
	return nil
}

// Events returns up to limit events (0: all), newest first, whose labels
// include every pair in match.
func (h *History) Events(limit int, match map[string]string) []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Event
	for i := len(h.events) - 1; i >= 0; i-- {
		e := h.events[i]
		ok := true
		for k, v := range match {
			if e.Labels[k] != v {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		out = append(out, e)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out
}

// Close closes the file.
func (h *History) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.f == nil {
		return nil
	}
	err := h.f.Close()
	h.f = nil
	return err
}

// ServeHTTP answers GET /api/v1/alerts/history?limit=N&<label>=<value>…
// with {"status":"success","data":[events, newest first]}.
func (h *History) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 1000
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"status":"error","errorType":"bad_data","error":"limit must be a non-negative integer"}`)
			return
		}
		limit = n
	}
	match := map[string]string{}
	for k, v := range q {
		if k != "limit" && len(v) > 0 {
			match[k] = v[0]
		}
	}
	ev := h.Events(limit, match)
	if ev == nil {
		ev = []Event{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": ev})
}

func stringMap(ls model.LabelSet) map[string]string {
	if len(ls) == 0 {
		return nil
	}
	out := make(map[string]string, len(ls))
	for k, v := range ls {
		out[string(k)] = string(v)
	}
	return out
}
