package eventstore

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sightline/sightline/internal/model"
)

const nsPerDay = int64(24 * time.Hour)

// dayOf returns the day partition (days since the Unix epoch, UTC) of t.
func dayOf(t int64) int32 {
	d := t / nsPerDay
	if t < 0 && t%nsPerDay != 0 {
		d--
	}
	return int32(d)
}

func dayName(d int32) string {
	return time.Unix(0, int64(d)*nsPerDay).UTC().Format("20060102")
}

// head holds acknowledged rows not yet in parts. Rows are immutable once
// inserted; slices only grow, so a snapshot of a slice header stays valid.
type head struct {
	mu   sync.RWMutex // guards days
	days map[int32]*headDay

	bytes   atomic.Int64
	rows    atomic.Int64
	created time.Time
	// seq is the last WAL sequence number whose rows are in this head; set
	// when the head is frozen for flushing.
	seq uint64
}

type headDay struct {
	streams map[*stream]*headStream
}

type headStream struct {
	st         *stream
	rows       []*model.Event
	minT, maxT int64
}

func newHead(now time.Time) *head {
	return &head{days: map[int32]*headDay{}, created: now}
}

// insert adds decoded rows; payloadBytes is the size of the buffer they alias.
func (h *head) insert(events []model.Event, streams []*stream, payloadBytes int) {
	h.mu.Lock()
	var lastDay int32
	var hd *headDay
	var hs *headStream
	for i := range events {
		e := &events[i]
		d := dayOf(e.Time)
		if hd == nil || d != lastDay {
			hd = h.days[d]
			if hd == nil {
				hd = &headDay{streams: map[*stream]*headStream{}}
				h.days[d] = hd
			}
			lastDay, hs = d, nil
		}
		if hs == nil || hs.st != streams[i] {
			hs = hd.streams[streams[i]]
			if hs == nil {
				hs = &headStream{st: streams[i], minT: e.Time, maxT: e.Time}
				hd.streams[streams[i]] = hs
			}
		}
		hs.rows = append(hs.rows, e)
		hs.minT, hs.maxT = min(hs.minT, e.Time), max(hs.maxT, e.Time)
	}
	h.mu.Unlock()
	// Per row: the Event struct, its pointer, and its attributes.
	h.bytes.Add(int64(payloadBytes) + int64(len(events))*int64(eventOverhead))
	h.rows.Add(int64(len(events)))
}

const eventOverhead = 230

// headSnap is a stream's rows at snapshot time.
type headSnap struct {
	st         *stream
	rows       []*model.Event
	minT, maxT int64
}

// snapshot returns the head streams of days in [dmin, dmax] accepted by keep.
func (h *head) snapshot(dmin, dmax int32, keep func(*stream) bool) []headSnap {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []headSnap
	for d, hd := range h.days {
		if d < dmin || d > dmax {
			continue
		}
		for _, hs := range hd.streams {
			if keep(hs.st) {
				out = append(out, headSnap{hs.st, hs.rows[:len(hs.rows):len(hs.rows)], hs.minT, hs.maxT})
			}
		}
	}
	return out
}

// traceRows returns the head's rows of trace id. The head is bounded by
// the flush size, so a scan (comparing 16 bytes per row) costs about a
// millisecond and saves a map insert per ingested row.
func (h *head) traceRows(id model.TraceID) []*model.Event {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []*model.Event
	for _, hd := range h.days {
		for _, hs := range hd.streams {
			for _, e := range hs.rows {
				if e.TraceID == id {
					out = append(out, e)
				}
			}
		}
	}
	return out
}

// groupsByDay returns, per day, the streams sorted by key with rows sorted
// by time (stable, so equal timestamps keep arrival order). Call only on a
// frozen head.
func (h *head) groupsByDay() map[int32][]streamRows {
	out := map[int32][]streamRows{}
	for d, hd := range h.days {
		groups := make([]streamRows, 0, len(hd.streams))
		for _, hs := range hd.streams {
			rows := slices.Clone(hs.rows)
			slices.SortStableFunc(rows, func(a, b *model.Event) int { return cmpInt(a.Time, b.Time) })
			groups = append(groups, streamRows{st: hs.st, rows: rows})
		}
		slices.SortFunc(groups, func(a, b streamRows) int { return cmpStr(a.st.key, b.st.key) })
		out[d] = groups
	}
	return out
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
