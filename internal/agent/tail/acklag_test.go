package tail

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/sightline/sightline/internal/agent/checkpoint"
)

func TestAckLagUnit(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	k1, k2 := checkpoint.Key{Ino: 1}, checkpoint.Key{Ino: 2}
	pos := func(k checkpoint.Key, off int64, closed bool) checkpoint.Position {
		return checkpoint.Position{Dev: k.Dev, Ino: k.Ino, Offset: off, Closed: closed}
	}
	tests := []struct {
		name string
		ops  func(l *ackLag)
		now  int
		want map[string]float64
	}{
		{"nothing seen", func(l *ackLag) { l.open(k1, "a", 0) }, 10, map[string]float64{"a": 0}},
		{"resumed offset counts as acknowledged", func(l *ackLag) {
			l.open(k1, "a", 100)
			l.seen(k1, 100, at(1))
		}, 10, map[string]float64{"a": 0}},
		{"oldest unacknowledged mark", func(l *ackLag) {
			l.open(k1, "a", 0)
			l.seen(k1, 10, at(1))
			l.seen(k1, 20, at(4))
			l.seen(k1, 20, at(6)) // no growth: no newer mark
		}, 10, map[string]float64{"a": 9}},
		{"partial ack keeps the mark holding the next byte", func(l *ackLag) {
			l.open(k1, "a", 0)
			l.seen(k1, 10, at(1))
			l.seen(k1, 20, at(4))
			l.ack([]checkpoint.Position{pos(k1, 15, false)})
		}, 10, map[string]float64{"a": 6}},
		{"full ack", func(l *ackLag) {
			l.open(k1, "a", 0)
			l.seen(k1, 10, at(1))
			l.seen(k1, 20, at(4))
			l.ack([]checkpoint.Position{pos(k1, 10, false), pos(k1, 20, false)})
		}, 10, map[string]float64{"a": 0}},
		{"stale ack does not move back", func(l *ackLag) {
			l.open(k1, "a", 0)
			l.seen(k1, 10, at(1))
			l.ack([]checkpoint.Position{pos(k1, 10, false), pos(k1, 5, false)})
			l.seen(k1, 8, at(2)) // already acknowledged
		}, 10, map[string]float64{"a": 0}},
		{"closed reader stays until acknowledged", func(l *ackLag) {
			l.open(k1, "a", 0)
			l.seen(k1, 10, at(3))
			l.closed(k1)
		}, 10, map[string]float64{"a": 7}},
		{"closed and acknowledged: gone", func(l *ackLag) {
			l.open(k1, "a", 0)
			l.seen(k1, 10, at(3))
			l.closed(k1)
			l.ack([]checkpoint.Position{pos(k1, 10, true)})
		}, 10, map[string]float64{}},
		{"closed position of a truncated reader keeps the new one", func(l *ackLag) {
			l.open(k1, "a", 0)
			l.seen(k1, 10, at(1))
			l.closed(k1)
			l.open(k1, "a", 0) // same inode, read again from 0
			l.seen(k1, 4, at(5))
			l.ack([]checkpoint.Position{pos(k1, 10, true)})
		}, 10, map[string]float64{"a": 5}},
		{"same path, two files: the older lag", func(l *ackLag) {
			l.open(k1, "a", 0)
			l.seen(k1, 10, at(8))
			l.open(k2, "a", 0) // a copy of a truncated file keeps its path
			l.seen(k2, 10, at(2))
		}, 10, map[string]float64{"a": 8}},
		{"unknown files and a nil tracker are ignored", func(l *ackLag) {
			l.ack([]checkpoint.Position{pos(k2, 10, false)})
			l.seen(k2, 10, at(1))
			var nl *ackLag
			nl.open(k1, "a", 0)
			nl.seen(k1, 1, at(1))
			nl.closed(k1)
			nl.ack([]checkpoint.Position{pos(k1, 1, false)})
		}, 10, map[string]float64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newAckLag()
			tc.ops(l)
			got := l.lag(at(tc.now))
			if len(got) != len(tc.want) {
				t.Fatalf("lag = %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if math.Abs(got[k]-v) > 1e-9 {
					t.Fatalf("lag = %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestAckLagMarksBounded(t *testing.T) {
	l := newAckLag()
	k := checkpoint.Key{Ino: 1}
	l.open(k, "a", 0)
	t0 := time.Unix(1000, 0)
	for i := range 3 * maxLagMarks {
		l.seen(k, int64(i+1), t0.Add(time.Duration(i)*time.Millisecond))
	}
	if n := len(l.files[k].marks); n != maxLagMarks {
		t.Fatalf("%d marks, want %d", n, maxLagMarks)
	}
	// Acknowledging everything written empties it.
	l.ack([]checkpoint.Position{{Ino: 1, Offset: 3 * maxLagMarks}})
	if got := l.lag(t0.Add(time.Hour))["a"]; got != 0 {
		t.Fatalf("lag after full ack = %v", got)
	}
}

// TestTailerLagSeconds drives a Tailer: lines read but not acknowledged
// age; acknowledging their positions brings the lag to zero; a file closed
// after rotation disappears once its closing position is acknowledged.
func TestTailerLagSeconds(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.log")
	appendFile(t, p, "one\ntwo\n")
	o := opts(dir)
	o.Include = []string{filepath.Join(dir, "*.log")}
	o.CloseInactive = time.Second
	o.ReportsAcks = true
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	tl, err := New(o, nil, nil, m)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, tl: tl, out: make(chan Chunk, 100), now: time.Unix(1000, 0), last: map[uint64]Chunk{}}
	tl.now = func() time.Time { return h.now }

	metric := func() string {
		t.Helper()
		b, err := testutil.CollectAndFormat(m.LagSeconds, expfmt.TypeTextPlain, "sightline_agent_file_lag_seconds")
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	lastPositions := func() []checkpoint.Position {
		var ps []checkpoint.Position
		for _, c := range h.last {
			ps = append(ps, checkpoint.Position{Path: c.Source.Path, Dev: c.Source.Dev, Ino: c.Source.Ino, Offset: c.Offset, Closed: c.Closed})
		}
		return ps
	}

	h.poll() // reads both lines at t=1000.25
	h.expect("a.log:one", "a.log:two")
	h.now = h.now.Add(3 * time.Second)
	if got := tl.LagSeconds()[p]; got != 3 {
		t.Fatalf("lag before ack = %v, want 3", got)
	}
	if want := `sightline_agent_file_lag_seconds{path="` + p + `"} 3`; !strings.Contains(metric(), want) {
		t.Fatalf("metrics:\n%s\nwant %s", metric(), want)
	}
	tl.Acknowledge(lastPositions())
	if got := tl.LagSeconds()[p]; got != 0 {
		t.Fatalf("lag after ack = %v, want 0", got)
	}

	// New lines, seen at the next poll; the server is away for 10 s.
	appendFile(t, p, "three\n")
	h.poll()
	h.expect("a.log:three")
	seenAt := h.now
	h.now = h.now.Add(10 * time.Second)
	h.poll() // nothing new: the lag keeps growing
	if got, want := tl.LagSeconds()[p], h.now.Sub(seenAt).Seconds(); got != want {
		t.Fatalf("lag during outage = %v, want %v", got, want)
	}
	tl.Acknowledge(lastPositions())
	if got := tl.LagSeconds()[p]; got != 0 {
		t.Fatalf("lag after second ack = %v, want 0", got)
	}

	// A last line, then rotated away and closed: the path goes once the
	// close is acknowledged.
	appendFile(t, p, "four\n")
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	for range 8 {
		h.poll()
	}
	if len(h.closed) != 1 {
		t.Fatalf("closed = %v", h.closed)
	}
	if _, ok := tl.LagSeconds()[p]; !ok {
		t.Fatal("closed file forgotten before its close was acknowledged")
	}
	tl.Acknowledge(lastPositions())
	if got := tl.LagSeconds(); len(got) != 0 {
		t.Fatalf("lag after the close was acknowledged = %v, want none", got)
	}
}

func TestLagSecondsOnlyWhenAcksReported(t *testing.T) {
	dir := t.TempDir()
	appendFile(t, filepath.Join(dir, "a.log"), "one\n")
	reg := prometheus.NewPedanticRegistry()
	tl, err := New(opts(dir), nil, nil, NewMetrics(reg))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, tl: tl, out: make(chan Chunk, 100), now: time.Unix(1000, 0), last: map[uint64]Chunk{}}
	h.poll()
	if got := tl.LagSeconds(); got != nil {
		t.Fatalf("LagSeconds = %v without ReportsAcks", got)
	}
	if n, err := testutil.GatherAndCount(reg, "sightline_agent_file_lag_seconds"); err != nil || n != 0 {
		t.Fatalf("%d lag series (err %v) without ReportsAcks", n, err)
	}
}
