package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// The faults the shop can suffer; each one has a shipped alert rule.
const (
	// FaultLatency slows the catalog's product lookups to about a second.
	FaultLatency = "latency"
	// FaultErrors makes about half of payment's charges fail.
	FaultErrors = "errors"
	// FaultPool shrinks checkout's database pool to one connection held
	// for long, so other queries time out waiting for it.
	FaultPool = "pool"
	// FaultForbidden makes cart call payment directly, an edge the
	// architecture forbids.
	FaultForbidden = "forbidden-call"
)

// FaultNames lists every fault, in the timer's order.
var FaultNames = []string{FaultLatency, FaultErrors, FaultPool, FaultForbidden}

// Faults is the set of switched-on faults. Safe for concurrent use.
type Faults struct {
	mu sync.Mutex      // guards on
	on map[string]bool // name → switched on
}

// NewFaults returns a set with every fault off.
func NewFaults() *Faults { return &Faults{on: map[string]bool{}} }

// Set switches a fault on or off.
func (f *Faults) Set(name string, on bool) error {
	if !slices.Contains(FaultNames, name) {
		return fmt.Errorf("set fault: unknown fault %q (known: %s)", name, strings.Join(FaultNames, ", "))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.on[name] = on
	return nil
}

// On reports whether a fault is switched on.
func (f *Faults) On(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.on[name]
}

// State returns every fault's state.
func (f *Faults) State() map[string]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := make(map[string]bool, len(FaultNames))
	for _, n := range FaultNames {
		m[n] = f.on[n]
	}
	return m
}

// Handler serves GET /faults (every fault's state as JSON) and
// POST /faults/{name}?on=true|false.
func (f *Faults) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(f.State())
	})
	mux.HandleFunc("POST /faults/{name}", func(w http.ResponseWriter, r *http.Request) {
		on := true
		switch r.URL.Query().Get("on") {
		case "", "true", "1":
		case "false", "0":
			on = false
		default:
			http.Error(w, "on must be true or false", http.StatusBadRequest)
			return
		}
		if err := f.Set(r.PathValue("name"), on); err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(f.State())
	})
	return mux
}

// Cycle switches each fault on for onFor, one after another with every
// gap between, until ctx ends; every fault is off when it returns.
func (f *Faults) Cycle(ctx context.Context, every, onFor time.Duration, logf func(name string, on bool)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		name := FaultNames[i%len(FaultNames)]
		_ = f.Set(name, true)
		logf(name, true)
		select {
		case <-ctx.Done():
			_ = f.Set(name, false)
			return
		case <-time.After(onFor):
		}
		_ = f.Set(name, false)
		logf(name, false)
	}
}

// SetRemote switches a fault of a running demo through its gateway's
// /faults endpoint (base is e.g. http://127.0.0.1:41234) and returns the
// new state of every fault.
func SetRemote(ctx context.Context, client *http.Client, base, name string, on bool) (map[string]bool, error) {
	u := strings.TrimRight(base, "/") + "/faults/" + url.PathEscape(name) + fmt.Sprintf("?on=%t", on)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return nil, fmt.Errorf("switch fault: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("switch fault: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("switch fault: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var st map[string]bool
	if err := json.Unmarshal(body, &st); err != nil {
		return nil, fmt.Errorf("switch fault: decode answer: %w", err)
	}
	return st, nil
}

// faultError is an error a fault caused; javaClass and cause shape its
// stack trace in Logback-style logs.
type faultError struct {
	msg       string
	javaClass string
	cause     string
}

func (e *faultError) Error() string { return e.msg }

func asFault(err error, target **faultError) bool { return errors.As(err, target) }
