package tail

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sightline/sightline/internal/agent/checkpoint"
)

// maxLagMarks bounds the growth marks kept per file. Past it the newest
// mark is extended instead, which can only make the lag look older.
const maxLagMarks = 1024

// ackLag measures, per file, the age of the oldest byte the server has not
// acknowledged: the tailer records when it saw the file reach a size (a
// mark), acknowledgements drop the marks they cover, and the lag is the time
// since the oldest remaining mark. It is safe for concurrent use; a nil
// *ackLag ignores every call.
type ackLag struct {
	mu    sync.Mutex // guards files
	files map[checkpoint.Key]*ackFile
}

type ackFile struct {
	path  string
	acked int64     // offset just past the last acknowledged byte
	marks []lagMark // ascending off; every off > acked
	live  bool      // a reader has the file open
}

// lagMark says the file held off bytes at time at.
type lagMark struct {
	off int64
	at  time.Time
}

func newAckLag() *ackLag { return &ackLag{files: map[checkpoint.Key]*ackFile{}} }

// open starts tracking a reader that begins at start (everything before it
// counts as acknowledged). A reader that replaces another for the same
// file (truncation) starts afresh.
func (l *ackLag) open(key checkpoint.Key, path string, start int64) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.files[key] = &ackFile{path: path, acked: start, live: true}
}

// seen records that the file held end bytes at time at.
func (l *ackLag) seen(key checkpoint.Key, end int64, at time.Time) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.files[key]
	if f == nil || end <= f.acked {
		return
	}
	n := len(f.marks)
	switch {
	case n > 0 && end <= f.marks[n-1].off:
	case n >= maxLagMarks:
		f.marks[n-1].off = end
	default:
		f.marks = append(f.marks, lagMark{off: end, at: at})
	}
}

// closed records that the reader is finished; the file stays tracked until
// what it read is acknowledged.
func (l *ackLag) closed(key checkpoint.Key) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if f := l.files[key]; f != nil {
		f.live = false
		if len(f.marks) == 0 {
			delete(l.files, key)
		}
	}
}

// ack applies acknowledged positions, in batch order.
func (l *ackLag) ack(ps []checkpoint.Position) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range ps {
		f := l.files[p.Key()]
		if f == nil {
			continue
		}
		if p.Closed {
			// A closed reader's last position. If a reader is live for
			// the same file it is a newer one (truncation): keep it.
			if !f.live {
				delete(l.files, p.Key())
			}
			continue
		}
		f.acked = max(f.acked, p.Offset)
		i := 0
		for i < len(f.marks) && f.marks[i].off <= f.acked {
			i++
		}
		f.marks = append(f.marks[:0], f.marks[i:]...)
		if !f.live && len(f.marks) == 0 {
			delete(l.files, p.Key())
		}
	}
}

// lag returns, per path, the age in seconds of the oldest byte not
// acknowledged (the largest when several files share a path), 0 when
// everything seen is acknowledged.
func (l *ackLag) lag(now time.Time) map[string]float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]float64, len(l.files))
	for _, f := range l.files {
		age := 0.0
		if len(f.marks) > 0 {
			age = max(0, now.Sub(f.marks[0].at).Seconds())
		}
		if prev, ok := out[f.path]; !ok || age > prev {
			out[f.path] = age
		}
	}
	return out
}

// lagCollector exports the tailer's ackLag at scrape time.
type lagCollector struct {
	desc *prometheus.Desc
	mu   sync.Mutex // guards src, now
	src  *ackLag
	now  func() time.Time
}

func newLagCollector() *lagCollector {
	return &lagCollector{desc: prometheus.NewDesc("sightline_agent_file_lag_seconds",
		"Age of the oldest data in a tailed file not yet acknowledged by the server (time since the agent first saw it), per path; 0 when everything seen is acknowledged.",
		[]string{"path"}, nil)}
}

func (c *lagCollector) attach(src *ackLag, now func() time.Time) {
	c.mu.Lock()
	c.src, c.now = src, now
	c.mu.Unlock()
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	src, now := c.src, c.now
	c.mu.Unlock()
	if src == nil {
		return
	}
	for path, v := range src.lag(now()) {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, path)
	}
}
